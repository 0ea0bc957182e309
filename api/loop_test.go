package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/acme/billing/appwebhook"
)

// The service's own app webhooks, sent back to it, are refused on every
// route with 508, and nothing else is.
func TestAppWebhookLoopIsRefused(t *testing.T) {
	h := setup(t)
	for _, path := range []string{"/healthz", "/api/billing/plans", "/api/billing/webhooks/stripe/"} {
		for _, ua := range []string{appwebhook.UserAgent, "Stripe/1.0 (+https://stripe.com/docs/webhooks)"} {
			req, err := http.NewRequest(http.MethodPost, h.srv.URL+path, strings.NewReader(`{"id":"msg_1"}`))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("User-Agent", ua)
			req.Header.Set("Authorization", "Bearer "+testAPIKey)
			// A plain client: 508 answers any route, so no operation of
			// api/openapi.json lists it (its description does).
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body struct{ Error struct{ Code string } }
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if looped := ua == appwebhook.UserAgent; looped != (resp.StatusCode == http.StatusLoopDetected) ||
				looped != (body.Error.Code == "loop_detected") {
				t.Errorf("POST %s as %q answered %d %q", path, ua, resp.StatusCode, body.Error.Code)
			}
		}
	}
	if !strings.Contains(h.logs.String(), "Refused an app webhook sent to this service") {
		t.Errorf("the refusal was not logged: %s", h.logs.String())
	}
}
