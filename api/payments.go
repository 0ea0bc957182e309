package api

import (
	"net/http"

	"github.com/acme/billing"
)

type sessionJSON struct {
	URL       string `json:"url"`
	SessionID string `json:"session_id,omitempty"`
}

// checkoutHandler starts a subscription Checkout for a plan.
func (s *Server) checkoutHandler(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Plan                string      `json:"plan"`
		Price               string      `json:"price"`
		Quantity            wholeNumber `json:"quantity"`
		TrialDays           wholeNumber `json:"trial_days"`
		Coupon              string      `json:"coupon"`
		PromotionCode       string      `json:"promotion_code"`
		AllowPromotionCodes bool        `json:"allow_promotion_codes"`
		SuccessURL          string      `json:"success_url"`
		CancelURL           string      `json:"cancel_url"`
	}
	if err := decodeJSON(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	c := billing.Checkout{Plan: req.Plan, Price: req.Price, Coupon: req.Coupon, PromotionCode: req.PromotionCode,
		AllowPromotionCodes: req.AllowPromotionCodes, SuccessURL: req.SuccessURL, CancelURL: req.CancelURL}
	var err error
	if c.Quantity, err = req.Quantity.optional("quantity"); err != nil {
		s.writeError(w, r, err)
		return
	}
	if c.TrialDays, err = req.TrialDays.optional("trial_days"); err != nil {
		s.writeError(w, r, err)
		return
	}
	link, err := s.Service.StartCheckout(r.Context(), r.PathValue("id"), c)
	s.writeSession(w, r, link, err)
}

// purchaseHandler starts a payment Checkout for credits.
func (s *Server) purchaseHandler(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Credits    wholeNumber `json:"credits"`
		SuccessURL string      `json:"success_url"`
		CancelURL  string      `json:"cancel_url"`
	}
	if err := decodeJSON(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	credits, err := req.Credits.value("credits", billing.MaxCreditsPurchase)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	link, err := s.Service.BuyCredits(r.Context(), r.PathValue("id"), credits, req.SuccessURL, req.CancelURL)
	s.writeSession(w, r, link, err)
}

// portalHandler opens the Customer Portal.
func (s *Server) portalHandler(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ReturnURL string `json:"return_url"`
	}
	if err := decodeJSON(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	link, err := s.Service.OpenPortal(r.Context(), r.PathValue("id"), req.ReturnURL)
	if link != nil {
		link.ID = "" // the portal's URL is what the app needs
	}
	s.writeSession(w, r, link, err)
}

func (s *Server) writeSession(w http.ResponseWriter, r *http.Request, link *billing.SessionLink, err error) {
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sessionJSON{URL: link.URL, SessionID: link.ID})
}
