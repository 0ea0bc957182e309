package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

const (
	secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	forged = "whsec_QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQQ=="
)

// request is a message as billing sends it, signed with key at ts.
type request struct {
	key      string
	id, ws   string
	sequence int64
	// typ is the message's type, subscription.updated of sub_1 when "".
	typ string
	ts  time.Time
	// tamper changes the body after signing.
	tamper bool
}

func (q request) send(t *testing.T, url string) int {
	t.Helper()
	typ, data := q.typ, `{"stripe_subscription_id":"sub_1"}`
	if typ == "" {
		typ = "subscription.updated"
	}
	body := fmt.Appendf(nil, `{"id":%q,"type":%q,"created_at":"2026-12-01T00:00:00Z","workspace_id":%q,"sequence":%d,"data":%s}`,
		q.id, typ, q.ws, q.sequence, data)
	wh, err := standardwebhooks.NewWebhook(q.key)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign(q.id, q.ts, body)
	if err != nil {
		t.Fatal(err)
	}
	if q.tamper {
		body = bytes.Replace(body, []byte(`"sub_1"`), []byte(`"sub_2"`), 1)
	}
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set(standardwebhooks.HeaderWebhookID, q.id)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(q.ts.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// newServer serves a Receiver on loopback and returns it with its log.
func newServer(t *testing.T) (*Receiver, string, *bytes.Buffer) {
	t.Helper()
	var log bytes.Buffer
	r, err := NewReceiver(secret, slog.New(slog.NewJSONHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv.URL, &log
}

// lastLog is the message of the receiver's last log line.
func lastLog(t *testing.T, log *bytes.Buffer) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	var line struct {
		Msg string `json:"msg"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &line); err != nil {
		t.Fatalf("log %q: %v", log, err)
	}
	return line.Msg
}

func TestReceiver(t *testing.T) {
	_, url, log := newServer(t)
	now := time.Now()
	for _, tt := range []struct {
		name   string
		req    request
		status int
		log    string
	}{
		{"signed", request{key: secret, id: "msg_1", ws: "ws_1", sequence: 2, ts: now}, 200, "Received"},
		{"forged", request{key: forged, id: "msg_2", ws: "ws_1", sequence: 3, ts: now}, 400, "Rejected a request that does not verify"},
		{"tampered", request{key: secret, id: "msg_2", ws: "ws_1", sequence: 3, ts: now, tamper: true}, 400, "Rejected a request that does not verify"},
		{"too old", request{key: secret, id: "msg_2", ws: "ws_1", sequence: 3, ts: now.Add(-6 * time.Minute)}, 400, "Rejected a request that does not verify"},
		{"duplicate", request{key: secret, id: "msg_1", ws: "ws_1", sequence: 2, ts: now.Add(time.Minute)}, 200, "Duplicate, ignored"},
		{"older sequence", request{key: secret, id: "msg_3", ws: "ws_1", sequence: 1, ts: now}, 200, "Older than the state applied, ignored"},
		{"same sequence, another id", request{key: secret, id: "msg_4", ws: "ws_1", sequence: 2, ts: now}, 200, "Older than the state applied, ignored"},
		{"another workspace", request{key: secret, id: "msg_5", ws: "ws_2", sequence: 1, ts: now}, 200, "Received"},
		{"newer, after a gap", request{key: secret, id: "msg_6", ws: "ws_1", sequence: 5, ts: now}, 200, "Received"},
		{"the one the gap skipped", request{key: secret, id: "msg_7", ws: "ws_1", sequence: 4, ts: now}, 200, "Older than the state applied, ignored"},
		{"an older fact", request{key: secret, id: "msg_9", ws: "ws_1", sequence: 3, ts: now, typ: "credits.granted"}, 200, "Received"},
		{"an older entitlement, the first", request{key: secret, id: "msg_10", ws: "ws_1", sequence: 3, ts: now, typ: "entitlements.changed"}, 200, "Received"},
		{"an entitlement older still", request{key: secret, id: "msg_11", ws: "ws_1", sequence: 2, ts: now, typ: "entitlements.changed"}, 200, "Older than the state applied, ignored"},
	} {
		if status := tt.req.send(t, url); status != tt.status || lastLog(t, log) != tt.log {
			t.Errorf("%s: %d %q, want %d %q", tt.name, status, lastLog(t, log), tt.status, tt.log)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"id":"msg_8"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("unsigned: %d, want 400", resp.StatusCode)
	}
}

// The ids kept for de-duplication are bounded: the oldest is forgotten.
func TestReceiverForgetsTheOldestID(t *testing.T) {
	r, _, _ := newServer(t)
	for i := range remembered + 1 {
		r.accept(message{ID: "msg_" + strconv.Itoa(i), WorkspaceID: "ws_1", Sequence: int64(i + 1)})
	}
	if len(r.seen) != remembered || r.seen["msg_0"] || !r.seen["msg_"+strconv.Itoa(remembered)] {
		t.Errorf("%d ids kept, msg_0 kept %v; want %d without the oldest", len(r.seen), r.seen["msg_0"], remembered)
	}
}
