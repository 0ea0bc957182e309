package api

import (
	"net/http"

	"github.com/acme/billing"
)

type entitlementJSON struct {
	Entitled bool                       `json:"entitled"`
	Reason   string                     `json:"reason"`
	Plan     *string                    `json:"plan"`
	Features map[string]billing.Feature `json:"features"`
	Credits  entitlementCreditsJSON     `json:"credits"`
	Until    *string                    `json:"until"`
}

type entitlementCreditsJSON struct {
	creditsJSON
	Spendable int64 `json:"spendable"`
}

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
	writeJSON(w, http.StatusOK, entitlementJSON{
		Entitled: we.Entitled, Reason: we.Reason, Plan: orNull(we.PlanID), Features: we.Features,
		Credits: entitlementCreditsJSON{creditsJSON: creditsOf(we.Credits), Spendable: we.Spendable},
		Until:   rfc3339(we.Until),
	})
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
