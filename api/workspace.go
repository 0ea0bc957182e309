package api

import (
	"net/http"

	"github.com/acme/billing"
)

type workspaceJSON struct {
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	Email            string            `json:"email"`
	StripeCustomerID *string           `json:"stripe_customer_id"`
	Subscription     *subscriptionJSON `json:"subscription"`
	Credits          creditsJSON       `json:"credits"`
}

type subscriptionJSON struct {
	StripeSubscriptionID string  `json:"stripe_subscription_id"`
	Status               string  `json:"status"`
	Plan                 *string `json:"plan"`
	CurrentPeriodStart   *string `json:"current_period_start"`
	CurrentPeriodEnd     *string `json:"current_period_end"`
	CancelAtPeriodEnd    bool    `json:"cancel_at_period_end"`
}

type creditsJSON struct {
	Balance      int64 `json:"balance"`
	Subscription int64 `json:"subscription"`
	Purchased    int64 `json:"purchased"`
}

func creditsOf(b billing.Balance) creditsJSON {
	return creditsJSON{Balance: b.Total(), Subscription: b.Subscription, Purchased: b.Purchased}
}

func orNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func toWorkspaceJSON(st *billing.WorkspaceState) workspaceJSON {
	out := workspaceJSON{
		ID: st.ID, Name: st.Name, Email: st.Email, StripeCustomerID: orNull(st.StripeCustomerID),
		Credits: creditsOf(st.Credits),
	}
	if sub := st.Subscription; sub != nil {
		out.Subscription = &subscriptionJSON{
			StripeSubscriptionID: sub.ID, Status: sub.Status, Plan: orNull(sub.PlanID),
			CurrentPeriodStart: rfc3339(sub.CurrentPeriodStart), CurrentPeriodEnd: rfc3339(sub.CurrentPeriodEnd),
			CancelAtPeriodEnd: sub.CancelAtPeriodEnd,
		}
	}
	return out
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
	writeJSON(w, status, toWorkspaceJSON(st))
}

func (s *Server) getWorkspaceHandler(w http.ResponseWriter, r *http.Request) {
	st, err := s.Service.Store.WorkspaceState(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toWorkspaceJSON(st))
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
