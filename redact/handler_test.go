package redact_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/acme/billing/redact"
)

const secret = "api-key-0123456789"

type stringer struct{}

func (stringer) String() string { return "stringer " + secret }

type valuer struct{}

func (valuer) LogValue() slog.Value {
	return slog.GroupValue(slog.String("inner", secret), slog.Any("deeper", valuer2{}))
}

type valuer2 struct{}

func (valuer2) LogValue() slog.Value { return slog.StringValue("deeper " + secret) }

type record struct{ Token string }

type nilError struct{ msg string }

func (e *nilError) Error() string { return e.msg }

// Whatever carries a secret into a log line, the line shows its mask.
func TestHandlerRedactsEveryAttribute(t *testing.T) {
	tests := []struct {
		name string
		log  func(l *slog.Logger)
	}{
		{"message", func(l *slog.Logger) { l.Info("refused " + secret) }},
		{"string", func(l *slog.Logger) { l.Info("m", "key", secret) }},
		{"error", func(l *slog.Logger) { l.Error("m", "error", fmt.Errorf("wrapped: %w", errors.New(secret))) }},
		{"Stringer", func(l *slog.Logger) { l.Info("m", "s", stringer{}) }},
		{"bytes", func(l *slog.Logger) { l.Info("m", "body", []byte("body "+secret)) }},
		{"struct", func(l *slog.Logger) { l.Info("m", "record", record{Token: secret}) }},
		// fmt prints a pointer's address where JSON follows it.
		{"struct of pointers", func(l *slog.Logger) { s := secret; l.Info("m", "record", struct{ Token *string }{&s}) }},
		{"map of pointers", func(l *slog.Logger) { s := secret; l.Info("m", "m", map[string]*string{"token": &s}) }},
		{"raw JSON", func(l *slog.Logger) { l.Info("m", "body", json.RawMessage(`{"token":"`+secret+`"}`)) }},
		{"group", func(l *slog.Logger) { l.Info("m", slog.Group("g", slog.String("k", secret))) }},
		{"LogValuer", func(l *slog.Logger) { l.Info("m", "v", valuer{}) }},
		{"WithAttrs", func(l *slog.Logger) { l.With("k", secret).Info("m") }},
		{"WithGroup", func(l *slog.Logger) { l.WithGroup("g").With("k", secret).Info("m", "k2", secret) }},
		{"URL password", func(l *slog.Logger) { l.Info("m", "url", "postgres://u:pw@db/x?password=api-key-0123456789") }},
	}
	for _, format := range []string{"json", "text"} {
		for _, tt := range tests {
			t.Run(format+"/"+tt.name, func(t *testing.T) {
				var buf bytes.Buffer
				var h slog.Handler = slog.NewJSONHandler(&buf, nil)
				if format == "text" {
					h = slog.NewTextHandler(&buf, nil)
				}
				tt.log(slog.New(redact.New(secret).Handler(h)))
				if out := buf.String(); strings.Contains(out, "0123456789") || !strings.Contains(out, "****") {
					t.Errorf("log line = %s, want the secret masked", out)
				}
			})
		}
	}
}

// What holds no secret is logged as it would be without the Handler.
func TestHandlerKeepsTheRest(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var nilErr *nilError
	log := func(redacted bool) string {
		var buf bytes.Buffer
		var h slog.Handler = slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}})
		if redacted {
			h = redact.New(secret).Handler(h)
		}
		slog.New(h).WithGroup("g").With("n", 1).Info("hello", "when", at, "d", time.Second, "ok", true, "err", errors.New("plain"),
			"list", []string{"a", "b"}, "nil", nil, "nil error", nilErr, "record", record{Token: "t"}, "email", "owner@acme.example")
		return buf.String()
	}
	if plain, redacted := log(false), log(true); plain != redacted {
		t.Errorf("redacted line\n%s differs from\n%s", redacted, plain)
	}
}
