package api

import (
	"net/http"

	"github.com/acme/billing"
)

type ledgerEntryJSON struct {
	Amount         int64   `json:"amount"`
	Bucket         string  `json:"bucket"`
	Reason         string  `json:"reason"`
	IdempotencyKey string  `json:"idempotency_key"`
	EventID        *string `json:"event_id"`
	CreatedAt      *string `json:"created_at"`
}

func (s *Server) listLedgerHandler(w http.ResponseWriter, r *http.Request) {
	workspaceList(s, w, r, func(r *http.Request, id string) ([]billing.LedgerEntry, error) {
		return s.Service.Store.Ledger(r.Context(), id)
	}, func(e billing.LedgerEntry) ledgerEntryJSON {
		return ledgerEntryJSON{
			Amount: e.Amount, Bucket: string(e.Bucket), Reason: e.Reason, IdempotencyKey: e.IdempotencyKey,
			EventID: orNull(e.EventID), CreatedAt: rfc3339(e.CreatedAt),
		}
	})
}
