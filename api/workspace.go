package api

import (
	"net/http"

	"github.com/acme/billing"
)

type workspaceJSON struct {
	ID               string                    `json:"id"`
	Name             string                    `json:"name"`
	Email            string                    `json:"email"`
	StripeCustomerID *string                   `json:"stripe_customer_id"`
	Subscription     *billing.SubscriptionView `json:"subscription"`
	Credits          billing.CreditsView       `json:"credits"`
	CustomerDiscount *billing.DiscountView     `json:"customer_discount"`
}

func (s *Server) toWorkspaceJSON(st *billing.WorkspaceState) workspaceJSON {
	out := workspaceJSON{
		ID: st.ID, Name: st.Name, Email: st.Email, StripeCustomerID: orNull(st.StripeCustomerID),
		Credits: billing.ViewCredits(st.Credits), CustomerDiscount: billing.ViewDiscount(st.CustomerDiscount),
	}
	if st.Subscription != nil {
		out.Subscription = s.toSubscriptionJSON(st.Subscription, s.Service.Entitle(st.Subscription).Entitled)
	}
	return out
}

func (s *Server) toSubscriptionJSON(sub *billing.Subscription, entitled bool) *billing.SubscriptionView {
	return billing.ViewSubscription(sub, entitled)
}

func (s *Server) createWorkspaceHandler(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		Email string `json:"email"`
	}
	if err := decodeJSON(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	ws, created, err := s.Service.CreateWorkspace(r.Context(), billing.Workspace{ID: req.ID, Name: req.Name, Email: req.Email})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	st, err := s.Service.Store.WorkspaceState(r.Context(), ws.ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, s.toWorkspaceJSON(st))
}

func (s *Server) getWorkspaceHandler(w http.ResponseWriter, r *http.Request) {
	st, err := s.Service.Store.WorkspaceState(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.toWorkspaceJSON(st))
}

// workspaceList answers a workspace's rows, or 404 for an unknown workspace.
func workspaceList[T, J any](s *Server, w http.ResponseWriter, r *http.Request,
	list func(*http.Request, string) ([]T, error), toJSON func(T) J) {
	id := r.PathValue("id")
	if _, err := s.Service.Store.Workspace(r.Context(), id); err != nil {
		s.writeError(w, r, err)
		return
	}
	rows, err := list(r, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]J, 0, len(rows))
	for _, row := range rows {
		out = append(out, toJSON(row))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listSubscriptionsHandler(w http.ResponseWriter, r *http.Request) {
	workspaceList(s, w, r, func(r *http.Request, id string) ([]billing.Subscription, error) {
		return s.Service.Store.Subscriptions(r.Context(), id)
	}, func(sub billing.Subscription) *billing.SubscriptionView {
		return s.toSubscriptionJSON(&sub, s.Service.Entitle(&sub).Entitled)
	})
}
