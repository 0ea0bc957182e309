// Command receiver is an example of the app's side of billing's app
// webhooks: it verifies each request with the Standard Webhooks library,
// drops a message it already has (by webhook-id) or a state older than the
// one it applied (by sequence), and logs the rest.
//
//	BILLING_APP_WEBHOOK_SECRET=whsec_… go run ./examples/receiver -addr :3000
//	billing app-webhooks listen --forward-to http://localhost:3000/webhooks/billing
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

func main() {
	addr := flag.String("addr", "localhost:3000", "listen address")
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	r, err := NewReceiver(os.Getenv("BILLING_APP_WEBHOOK_SECRET"), logger)
	if err != nil {
		logger.Error("BILLING_APP_WEBHOOK_SECRET: want the whsec_… secret billing signs with", "err", err)
		os.Exit(2)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/billing", r)
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second}
	logger.Info("Receiving app webhooks", "url", "http://"+*addr+"/webhooks/billing")
	logger.Error("server stopped", "err", srv.ListenAndServe())
	os.Exit(1)
}

// remembered is how many webhook-ids a Receiver keeps to recognise a
// redelivery. A real app keeps them in its database, in the transaction
// that applies the message.
const remembered = 10000

// maxBody is the largest request body read.
const maxBody = 1 << 20

// Receiver is the endpoint's handler.
type Receiver struct {
	wh     *standardwebhooks.Webhook
	logger *slog.Logger

	mu sync.Mutex
	// seen holds the last remembered ids, and order the same ids oldest
	// first, to forget the oldest.
	seen  map[string]bool
	order []string
	// last is, by workspace and state (see stateOf), the newest sequence
	// applied.
	last map[string]int64
}

// NewReceiver returns a receiver of messages signed with secret (whsec_…).
func NewReceiver(secret string, logger *slog.Logger) (*Receiver, error) {
	if secret == "" {
		return nil, errors.New("no secret")
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return nil, err
	}
	return &Receiver{wh: wh, logger: logger, seen: map[string]bool{}, last: map[string]int64{}}, nil
}

// message is the part of a message's body the receiver reads.
type message struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	WorkspaceID string          `json:"workspace_id"`
	Sequence    int64           `json:"sequence"`
	Data        json.RawMessage `json:"data"`
}

// ServeHTTP answers 400 to a request that does not verify, which billing
// retries and then reports as failed; 200 to any other, including a
// duplicate or an older message, so that they are not sent again.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxBody))
	if err != nil {
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	// Verify checks the signature over the exact bytes received, and that
	// webhook-timestamp is within 5 minutes of now (a replay defence).
	if err := r.wh.Verify(body, req.Header); err != nil {
		r.logger.Warn("Rejected a request that does not verify", "err", err)
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	var m message
	if err := json.Unmarshal(body, &m); err != nil || m.ID != req.Header.Get(standardwebhooks.HeaderWebhookID) {
		http.Error(w, "not a message", http.StatusBadRequest)
		return
	}
	r.logger.Info(r.accept(m), "id", m.ID, "type", m.Type, "workspace", m.WorkspaceID, "sequence", m.Sequence)
	w.WriteHeader(http.StatusOK)
}

// accept decides what to do with a verified message, records it, and
// returns what it did.
func (r *Receiver) accept(m message) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[m.ID] {
		return "Duplicate, ignored"
	}
	r.remember(m.ID)
	if state := stateOf(m); state != "" {
		// data is that state after the change: an older message than one
		// applied would only take it back.
		key := m.WorkspaceID + " " + state
		if m.Sequence <= r.last[key] {
			return "Older than the state applied, ignored"
		}
		r.last[key] = m.Sequence
	}
	// The app's work goes here: provision, lock, send a welcome mail…
	return "Received"
}

// stateOf names the state a message overwrites: a subscription, or the
// workspace's entitlement. Other messages are facts (a payment, credits
// granted), each applied once whatever its sequence: deliveries are not
// ordered, so an older fact may arrive after a newer one.
func stateOf(m message) string {
	switch {
	case strings.HasPrefix(m.Type, "subscription."):
		var sub struct {
			ID string `json:"stripe_subscription_id"`
		}
		_ = json.Unmarshal(m.Data, &sub)
		return "subscription " + sub.ID
	case m.Type == "entitlements.changed":
		return "entitlements"
	}
	return ""
}

func (r *Receiver) remember(id string) {
	if len(r.order) == remembered {
		delete(r.seen, r.order[0])
		r.order = r.order[1:]
	}
	r.seen[id] = true
	r.order = append(r.order, id)
}
