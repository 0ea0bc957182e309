package api

import (
	"net/http"

	"github.com/acme/billing"
)

// The changes of a subscription each answer {"subscription": <read model>}
// of the subscription as stored once Stripe's answer is applied. Stripe is
// called with the request's Idempotency-Key, so that an app retrying after
// a timeout changes the subscription once.

func (s *Server) swapHandler(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Plan      string      `json:"plan"`
		Price     string      `json:"price"`
		Quantity  wholeNumber `json:"quantity"`
		Proration string      `json:"proration"`
	}
	quantity, err := decodeWithCount(r, &req, &req.Quantity, "quantity")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sub, err := s.Service.SwapSubscription(r.Context(), r.PathValue("id"), r.Header.Get("Idempotency-Key"),
		billing.Swap{Plan: req.Plan, Price: req.Price, Quantity: quantity, Proration: req.Proration})
	s.writeSubscription(w, r, sub, err)
}

func (s *Server) cancelHandler(w http.ResponseWriter, r *http.Request) {
	req := struct {
		AtPeriodEnd bool `json:"at_period_end"`
	}{AtPeriodEnd: true}
	if err := decodeOptionalJSON(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	sub, err := s.Service.CancelSubscription(r.Context(), r.PathValue("id"), r.Header.Get("Idempotency-Key"), req.AtPeriodEnd)
	s.writeSubscription(w, r, sub, err)
}

func (s *Server) resumeHandler(w http.ResponseWriter, r *http.Request) {
	if err := decodeOptionalJSON(r, &struct{}{}); err != nil {
		s.writeError(w, r, err)
		return
	}
	sub, err := s.Service.ResumeSubscription(r.Context(), r.PathValue("id"), r.Header.Get("Idempotency-Key"))
	s.writeSubscription(w, r, sub, err)
}

func (s *Server) quantityHandler(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Quantity wholeNumber `json:"quantity"`
	}
	quantity, err := decodeWithCount(r, &req, &req.Quantity, "quantity")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var n int64 // left out: 0, which the domain refuses as it does any count out of range
	if quantity != nil {
		n = *quantity
	}
	sub, err := s.Service.SetSubscriptionQuantity(r.Context(), r.PathValue("id"), r.Header.Get("Idempotency-Key"), n)
	s.writeSubscription(w, r, sub, err)
}

// decodeWithCount reads an optional body into req, then the whole number
// count of it, named field: nil when left out.
func decodeWithCount(r *http.Request, req any, count *wholeNumber, field string) (*int64, error) {
	if err := decodeOptionalJSON(r, req); err != nil {
		return nil, err
	}
	return count.optional(field)
}

func (s *Server) writeSubscription(w http.ResponseWriter, r *http.Request, sub *billing.Subscription, err error) {
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]*billing.SubscriptionView{
		"subscription": s.toSubscriptionJSON(sub, s.Service.Entitle(sub).Entitled)})
}
