package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/webhook"
)

// applyTimeout bounds one event's transaction, so that a database that
// hangs is answered 503 within 10 s. It is detached from the request: once
// verified, an event is applied even if Stripe hangs up, and Stripe's retry
// then finds it a duplicate.
const applyTimeout = 9 * time.Second

// stripeWebhookHandler verifies, stores and applies one Stripe event and
// answers 200 only once that is committed.
func (s *Server) stripeWebhookHandler(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.writeError(w, r, billing.Errorf(EMETHOD, "use POST"))
		return
	}
	body, err := readBody(r)
	if err != nil {
		s.Logger.Warn("Refused Stripe webhook: "+billing.ErrorMessage(err), "remote", r.RemoteAddr)
		s.writeError(w, r, err)
		return
	}
	e, err := s.Verifier.Verify(body, r.Header.Get("Stripe-Signature"))
	if err != nil {
		s.Logger.Warn("Refused Stripe webhook: "+billing.ErrorMessage(err), "remote", r.RemoteAddr)
		s.observer().WebhookRefused(refusal(err))
		s.writeError(w, r, err)
		return
	}
	s.Logger.Info("Received Stripe webhook: "+e.Type, "event_id", e.ID, "api_version", e.APIVersion)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), applyTimeout)
	defer cancel()
	start := time.Now()
	status, err := s.Service.Process(ctx, e, false)
	outcome := string(status)
	if err != nil {
		outcome = billing.ErrorCode(err)
	}
	s.observer().WebhookHandled(e.Type, outcome, time.Since(start))
	if billing.ErrorCode(err) == billing.EUNAVAILABLE {
		// The database, or Stripe when STRIPE_REFETCH is on, is busy or down.
		why := billing.ErrorMessage(err)
		s.Logger.Error("Error handling webhook event: "+why, "event_id", e.ID, "event_type", e.Type, "error", err)
		w.Header().Set("Retry-After", "5")
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"event": e.ID, "error": map[string]string{
			"code": billing.EUNAVAILABLE, "message": why + "; Stripe will retry"}})
		return
	}
	if err != nil {
		s.Logger.Error("Error handling webhook event", "event_id", e.ID, "event_type", e.Type, "error", err)
		writeJSON(w, http.StatusInternalServerError, map[string]any{"event": e.ID, "error": map[string]string{
			"code": billing.EINTERNAL, "message": "event not applied; Stripe will retry"}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"received": true, "event": e.ID, "status": status})
}

// Observer is told what the webhook endpoint did; package metrics counts it.
type Observer interface {
	// WebhookHandled reports a verified event: its type, its status
	// (processed, duplicate, ignored, stale) or error code, and how long
	// storing and applying it took.
	WebhookHandled(eventType, outcome string, took time.Duration)
	// WebhookRefused reports a delivery refused before any storing.
	WebhookRefused(reason string)
}

type noObserver struct{}

func (noObserver) WebhookHandled(string, string, time.Duration) {}
func (noObserver) WebhookRefused(string)                        {}

func (s *Server) observer() Observer {
	if s.Observer == nil {
		return noObserver{}
	}
	return s.Observer
}

// refusal names why a delivery was refused, for a metric label.
func refusal(err error) string {
	for _, r := range []struct {
		err    error
		reason string
	}{
		{webhook.ErrNoSignature, "no_signature"}, {webhook.ErrBadHeader, "bad_header"},
		{webhook.ErrBadSignature, "bad_signature"}, {webhook.ErrTooOld, "too_old"},
		{webhook.ErrFromFuture, "from_future"}, {webhook.ErrNotEvent, "not_event"},
		{webhook.ErrLiveToTestMode, "wrong_mode"}, {webhook.ErrTestToLiveMode, "wrong_mode"},
	} {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	return "other"
}
