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
	StripeSubscriptionID string        `json:"stripe_subscription_id"`
	Status               string        `json:"status"`
	Plan                 *string       `json:"plan"`
	Price                *string       `json:"price"`
	Interval             *string       `json:"interval"`
	IntervalCount        *int64        `json:"interval_count"`
	Quantity             *int64        `json:"quantity"`
	CurrentPeriodStart   *string       `json:"current_period_start"`
	CurrentPeriodEnd     *string       `json:"current_period_end"`
	CancelAtPeriodEnd    bool          `json:"cancel_at_period_end"`
	CancelAt             *string       `json:"cancel_at"`
	CanceledAt           *string       `json:"canceled_at"`
	EndedAt              *string       `json:"ended_at"`
	TrialStart           *string       `json:"trial_start"`
	TrialEnd             *string       `json:"trial_end"`
	Discount             *discountJSON `json:"discount"`
	Entitled             bool          `json:"entitled"`
}

// discountJSON is a coupon applied: percent_off or amount_off (with its
// currency), whichever the coupon has; coupon is null when a payload named
// the discount by id only and nothing told its coupon yet.
type discountJSON struct {
	Coupon     *string  `json:"coupon"`
	PercentOff *float64 `json:"percent_off"`
	AmountOff  *int64   `json:"amount_off"`
	Currency   *string  `json:"currency"`
	EndsAt     *string  `json:"ends_at"`
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

// positive is n, or null for 0: a count no event has told yet.
func positive[T int64 | float64](n T) *T {
	if n <= 0 {
		return nil
	}
	return &n
}

func (s *Server) toWorkspaceJSON(st *billing.WorkspaceState) workspaceJSON {
	out := workspaceJSON{
		ID: st.ID, Name: st.Name, Email: st.Email, StripeCustomerID: orNull(st.StripeCustomerID),
		Credits: creditsOf(st.Credits),
	}
	if st.Subscription != nil {
		out.Subscription = s.toSubscriptionJSON(st.Subscription, s.Service.Entitle(st.Subscription).Entitled)
	}
	return out
}

func (s *Server) toSubscriptionJSON(sub *billing.Subscription, entitled bool) *subscriptionJSON {
	out := &subscriptionJSON{
		StripeSubscriptionID: sub.ID, Status: sub.Status, Plan: orNull(sub.PlanID), Price: orNull(sub.PriceID),
		Interval: orNull(sub.Interval), IntervalCount: positive(sub.IntervalCount), Quantity: positive(sub.Quantity),
		CurrentPeriodStart: rfc3339(sub.CurrentPeriodStart), CurrentPeriodEnd: rfc3339(sub.CurrentPeriodEnd),
		CancelAtPeriodEnd: sub.CancelAtPeriodEnd, CancelAt: rfc3339(sub.CancelAt), CanceledAt: rfc3339(sub.CanceledAt),
		EndedAt: rfc3339(sub.EndedAt), TrialStart: rfc3339(sub.TrialStart), TrialEnd: rfc3339(sub.TrialEnd),
		Entitled: entitled,
	}
	if d := sub.Discount; d != nil {
		out.Discount = &discountJSON{Coupon: orNull(d.Coupon), PercentOff: positive(d.PercentOff),
			AmountOff: positive(d.AmountOff), EndsAt: rfc3339(d.EndsAt)}
		if d.AmountOff > 0 {
			out.Discount.Currency = orNull(d.Currency)
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
	}, func(sub billing.Subscription) *subscriptionJSON {
		return s.toSubscriptionJSON(&sub, s.Service.Entitle(&sub).Entitled)
	})
}
