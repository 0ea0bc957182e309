package api

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/acme/billing"
)

type feedJSON struct {
	Data    []json.RawMessage `json:"data"`
	Next    string            `json:"next"`
	HasMore bool              `json:"has_more"`
}

// feedHandler serves the app's messages in commit order, from the cursor
// after (see billing.Feed).
func (s *Server) feedHandler(w http.ResponseWriter, r *http.Request) {
	q, err := feedQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page, err := s.Service.Store.Feed(r.Context(), q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := feedJSON{Data: make([]json.RawMessage, 0, len(page.Messages)), Next: page.Next,
		HasMore: len(page.Messages) == q.Limit}
	for _, m := range page.Messages {
		out.Data = append(out.Data, m.Body)
	}
	writeJSON(w, http.StatusOK, out)
}

func feedQuery(r *http.Request) (billing.FeedQuery, error) {
	v := r.URL.Query()
	q := billing.FeedQuery{After: v.Get("after"), Limit: billing.DefaultFeedLimit, WorkspaceID: v.Get("workspace")}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > billing.MaxFeedLimit {
			return q, billing.Errorf(billing.EINVALID, "limit must be a whole number from 1 to %d", billing.MaxFeedLimit)
		}
		q.Limit = n
	}
	if q.WorkspaceID != "" {
		if err := billing.ValidateWorkspaceID(q.WorkspaceID); err != nil {
			return q, err
		}
	}
	var err error
	q.Types, err = billing.ParseMessageTypes("types", v.Get("types"))
	return q, err
}
