package api

import (
	"net/http"

	"github.com/acme/billing"
)

type featureJSON struct {
	Feature string `json:"feature"`
	Allowed bool   `json:"allowed"`
	Limit   *int64 `json:"limit"`
	Reason  string `json:"reason"`
}

// entitlementsHandler answers what a workspace may use now.
func (s *Server) entitlementsHandler(w http.ResponseWriter, r *http.Request) {
	we, err := s.Service.Entitlements(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, billing.ViewEntitlement(we))
}

// featureHandler answers whether a workspace may use one feature now.
func (s *Server) featureHandler(w http.ResponseWriter, r *http.Request) {
	fa, err := s.Service.FeatureAccess(r.Context(), r.PathValue("id"), r.PathValue("feature"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := featureJSON{Feature: fa.Feature, Allowed: fa.Allowed, Reason: fa.Reason}
	if fa.Limited {
		out.Limit = &fa.Limit
	}
	writeJSON(w, http.StatusOK, out)
}
