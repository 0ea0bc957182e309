package api

import (
	"net/http"

	"github.com/acme/billing"
)

func (s *Server) listPaymentsHandler(w http.ResponseWriter, r *http.Request) {
	workspaceList(s, w, r, func(r *http.Request, id string) ([]billing.Payment, error) {
		return s.Service.Store.Payments(r.Context(), id)
	}, func(p billing.Payment) billing.PaymentView { return billing.ViewPayment(&p) })
}

func (s *Server) listRefundsHandler(w http.ResponseWriter, r *http.Request) {
	workspaceList(s, w, r, func(r *http.Request, id string) ([]billing.Refund, error) {
		return s.Service.Store.Refunds(r.Context(), id)
	}, func(rf billing.Refund) billing.RefundView { return billing.ViewRefund(&rf) })
}

func (s *Server) listDisputesHandler(w http.ResponseWriter, r *http.Request) {
	workspaceList(s, w, r, func(r *http.Request, id string) ([]billing.Dispute, error) {
		return s.Service.Store.Disputes(r.Context(), id)
	}, func(d billing.Dispute) billing.DisputeView { return billing.ViewDispute(&d) })
}

func (s *Server) listCheckoutSessionsHandler(w http.ResponseWriter, r *http.Request) {
	workspaceList(s, w, r, func(r *http.Request, id string) ([]billing.CheckoutSession, error) {
		return s.Service.Store.CheckoutSessions(r.Context(), id)
	}, func(cs billing.CheckoutSession) billing.CheckoutSessionView { return billing.ViewCheckoutSession(&cs) })
}
