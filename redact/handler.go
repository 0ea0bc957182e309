package redact

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
)

// Handler returns a slog.Handler that passes every record on to next
// redacted: its message and each attribute, whatever its kind (strings,
// errors, Stringers, groups, LogValuers), including those of WithAttrs.
func (r *Redactor) Handler(next slog.Handler) slog.Handler {
	return &handler{next: next, r: r}
}

type handler struct {
	next slog.Handler
	r    *Redactor
}

func (h *handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.r.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &handler{next: h.next.WithAttrs(h.r.attrs(attrs)), r: h.r}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{next: h.next.WithGroup(name), r: h.r}
}

func (r *Redactor) attrs(attrs []slog.Attr) []slog.Attr {
	out := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		out[i] = r.attr(a)
	}
	return out
}

// attr redacts one attribute. A value of another kind than a string or a
// group becomes its redacted text only when that text held a secret, so
// that numbers, times and structures keep their kind in the output.
func (r *Redactor) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, r.String(v.String()))
	case slog.KindGroup:
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(r.attrs(v.Group())...)}
	case slog.KindAny:
		// The text handler prints a value, the JSON handler marshals it:
		// either rendering may hold a secret the other does not.
		for _, s := range []string{text(v.Any()), jsonText(v.Any())} {
			if red := r.String(s); red != s {
				return slog.String(a.Key, red)
			}
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// jsonText is how the JSON handler would write x; "" when it cannot.
func jsonText(x any) string {
	b, err := json.Marshal(x)
	if err != nil {
		return ""
	}
	return string(b)
}

// text is how a handler would print x; "" when that panics (a nil pointer
// with an Error method), which the handler then reports its own way.
func text(x any) (s string) {
	defer func() {
		if recover() != nil {
			s = ""
		}
	}()
	switch x := x.(type) {
	case error:
		return x.Error()
	case fmt.Stringer:
		return x.String()
	}
	if b := reflect.ValueOf(x); b.Kind() == reflect.Slice && b.Type().Elem().Kind() == reflect.Uint8 {
		return string(b.Bytes()) // []byte and its named kinds, as slog's text handler prints them
	}
	return fmt.Sprintf("%+v", x)
}
