package store_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/acme/billing"
	"github.com/acme/billing/store/storetest"
)

// A session works until its expiry, no longer; a login deletes the expired
// rows; revoking all counts only the live ones; ids are never reused.
func TestSessionsExpireAndAreCleanedUp(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := storetest.Open(t, slog.New(slog.DiscardHandler))
	t0 := time.Unix(1_800_000_000, 0)
	at := func(h time.Duration) time.Time { return t0.Add(h * time.Hour) }
	rows := func() int {
		t.Helper()
		var n int
		if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM admin_sessions`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	create := func(hash string, now time.Time) int64 {
		t.Helper()
		id, err := db.CreateSession(ctx, hash, "192.0.2.1", now, now.Add(12*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	a, b := create("hash-a", at(0)), create("hash-b", at(6))
	for _, c := range []struct {
		hash string
		now  time.Time
		want bool
	}{
		{"hash-a", at(12).Add(-time.Second), true},
		{"hash-a", at(12), false},
		{"hash-b", at(12), true},
		{"hash-none", at(0), false},
	} {
		id, ok, err := db.ActiveSession(ctx, c.hash, c.now)
		if err != nil || ok != c.want || (ok && id != map[string]int64{"hash-a": a, "hash-b": b}[c.hash]) {
			t.Errorf("ActiveSession(%s, %v) = %d %v %v, want %v", c.hash, c.now, id, ok, err, c.want)
		}
	}
	if live, err := db.Sessions(ctx, at(13)); err != nil || len(live) != 1 || live[0].ID != b ||
		live[0].RemoteAddr != "192.0.2.1" || !live[0].CreatedAt.Equal(at(6)) || !live[0].ExpiresAt.Equal(at(18)) {
		t.Errorf("Sessions at 13 h = %+v (%v), want b alone", live, err)
	}
	if n := rows(); n != 2 {
		t.Errorf("%d rows before the next login, want 2", n)
	}
	c := create("hash-c", at(13)) // deletes a, expired
	if n := rows(); n != 2 || c <= b {
		t.Errorf("after a login: %d rows, id %d after %d; want 2 rows and a new id", n, c, b)
	}
	if err := db.RevokeSession(ctx, a); billing.ErrorCode(err) != billing.ENOTFOUND {
		t.Errorf("RevokeSession of a deleted session: %v, want not found", err)
	}
	if err := db.EndSession(ctx, "hash-none"); err != nil {
		t.Errorf("EndSession of no session: %v", err)
	}
	if n, err := db.RevokeSessions(ctx, at(19)); err != nil || n != 1 || rows() != 0 {
		t.Errorf("RevokeSessions at 19 h = %d (%v), %d rows left; want 1 (c; b has expired), none left", n, err, rows())
	}
	if d := create("hash-d", at(20)); d <= c {
		t.Errorf("a new session got id %d, not after %d", d, c)
	}
}
