package api

import (
	"net/http"

	"github.com/acme/billing"
)

// EventJSON is a stored event as the API and the CLI show it.
type EventJSON struct {
	ID          string  `json:"id"`
	Type        string  `json:"type"`
	APIVersion  string  `json:"api_version"`
	Livemode    bool    `json:"livemode"`
	Account     *string `json:"account"`
	Created     *string `json:"created"`
	Status      string  `json:"status"`
	Attempts    int     `json:"attempts"`
	LastError   *string `json:"last_error"`
	Note        *string `json:"note"`
	ObjectID    *string `json:"object_id"`
	WorkspaceID *string `json:"workspace_id"`
	ReceivedAt  *string `json:"received_at"`
	ProcessedAt *string `json:"processed_at"`
}

// ToEventJSON converts a stored event.
func ToEventJSON(e *billing.Event) EventJSON {
	return EventJSON{
		ID: e.ID, Type: e.Type, APIVersion: e.APIVersion, Livemode: e.Livemode, Account: orNull(e.Account),
		Created: billing.RFC3339(e.Created), Status: string(e.Status), Attempts: e.Attempts, LastError: orNull(e.LastError), Note: orNull(e.Note),
		ObjectID: orNull(e.ObjectID), WorkspaceID: orNull(e.WorkspaceID),
		ReceivedAt: billing.RFC3339(e.ReceivedAt), ProcessedAt: billing.RFC3339(e.ProcessedAt),
	}
}

func (s *Server) getEventHandler(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !billing.ValidText(id) || len(id) > 255 {
		s.writeError(w, r, billing.Errorf(billing.EINVALID, "event id must be UTF-8 text without control characters, up to 255 bytes"))
		return
	}
	e, err := s.Service.Store.Event(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ToEventJSON(e))
}
