package api

import (
	"net/http"

	"github.com/acme/billing"
)

func (s *Server) listInvoicesHandler(w http.ResponseWriter, r *http.Request) {
	workspaceList(s, w, r, func(r *http.Request, id string) ([]billing.Invoice, error) {
		return s.Service.Store.Invoices(r.Context(), id)
	}, func(i billing.Invoice) billing.InvoiceView { return billing.ViewInvoice(&i) })
}
