package api

import (
	"net/http"

	"github.com/acme/billing"
)

type invoiceJSON struct {
	StripeInvoiceID      string  `json:"stripe_invoice_id"`
	StripeSubscriptionID *string `json:"stripe_subscription_id"`
	Status               string  `json:"status"`
	BillingReason        string  `json:"billing_reason"`
	AmountDue            int64   `json:"amount_due"`
	AmountPaid           int64   `json:"amount_paid"`
	AmountRemaining      int64   `json:"amount_remaining"`
	Currency             string  `json:"currency"`
	AttemptCount         int64   `json:"attempt_count"`
	NextPaymentAttempt   *string `json:"next_payment_attempt"`
	Number               string  `json:"number"`
	HostedInvoiceURL     string  `json:"hosted_invoice_url"`
	InvoicePDF           string  `json:"invoice_pdf"`
	DueDate              *string `json:"due_date"`
	PeriodStart          *string `json:"period_start"`
	PeriodEnd            *string `json:"period_end"`
	PaidAt               *string `json:"paid_at"`
	CreatedAt            *string `json:"created_at"`
}

func (s *Server) listInvoicesHandler(w http.ResponseWriter, r *http.Request) {
	workspaceList(s, w, r, func(r *http.Request, id string) ([]billing.Invoice, error) {
		return s.Service.Store.Invoices(r.Context(), id)
	}, func(i billing.Invoice) invoiceJSON {
		return invoiceJSON{
			StripeInvoiceID: i.ID, StripeSubscriptionID: orNull(i.SubscriptionID), Status: i.Status,
			BillingReason: i.BillingReason, AmountDue: i.AmountDue, AmountPaid: i.AmountPaid,
			AmountRemaining: i.AmountRemaining, Currency: i.Currency, AttemptCount: i.AttemptCount,
			NextPaymentAttempt: rfc3339(i.NextPaymentAttempt), Number: i.Number, HostedInvoiceURL: i.HostedInvoiceURL,
			InvoicePDF: i.InvoicePDF, DueDate: rfc3339(i.DueDate), PeriodStart: rfc3339(i.PeriodStart),
			PeriodEnd: rfc3339(i.PeriodEnd), PaidAt: rfc3339(i.PaidAt), CreatedAt: rfc3339(i.CreatedAt),
		}
	})
}
