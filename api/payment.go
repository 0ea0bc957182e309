package api

import (
	"net/http"

	"github.com/acme/billing"
)

type paymentJSON struct {
	StripePaymentIntentID string  `json:"stripe_payment_intent_id"`
	Status                string  `json:"status"`
	Amount                int64   `json:"amount"`
	AmountRefunded        int64   `json:"amount_refunded"`
	Currency              string  `json:"currency"`
	Purpose               string  `json:"purpose"`
	Credits               int64   `json:"credits"`
	ErrorMessage          *string `json:"error_message"`
	CreatedAt             *string `json:"created_at"`
}

func (s *Server) listPaymentsHandler(w http.ResponseWriter, r *http.Request) {
	workspaceList(s, w, r, func(r *http.Request, id string) ([]billing.Payment, error) {
		return s.Service.Store.Payments(r.Context(), id)
	}, func(p billing.Payment) paymentJSON {
		return paymentJSON{
			StripePaymentIntentID: p.ID, Status: p.Status, Amount: p.Amount, AmountRefunded: p.AmountRefunded,
			Currency: p.Currency, Purpose: p.Purpose, Credits: p.Credits, ErrorMessage: orNull(p.ErrorMessage),
			CreatedAt: rfc3339(p.CreatedAt),
		}
	})
}
