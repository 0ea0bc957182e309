// Package redact keeps secrets out of what the service logs, stores and
// shows. Mask is what may be shown of a secret; DSN hides the passwords of
// a database or SMTP URL in every form pgx accepts; a Redactor, built from
// the configured secret values, replaces each of them with its mask in any
// text and hides the passwords of the URLs and connection strings the text
// quotes; its Handler does that to every log line.
package redact

import (
	"cmp"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// MinLength is the shortest secret a Redactor replaces wherever it occurs.
// Replacing a shorter one (a six-letter password) would mangle unrelated
// words; below it only the structural hiding of Text applies.
const MinLength = 8

// hidden stands for what a mask or DSN hides.
const hidden = "****"

// prefixes are the type prefixes of the keys the service knows, which a
// mask shows.
var prefixes = []string{"sk_test_", "sk_live_", "rk_test_", "rk_live_", "pk_test_", "pk_live_", "whsec_", "bk_dev_"}

// Mask is what may be shown of a secret: its type prefix if it is a known
// one (sk_test_****), else a prefix ending in "_" of at most 4 characters
// (sk_****), else nothing (****).
func Mask(secret string) string {
	if secret == "" {
		return `""`
	}
	for _, p := range prefixes {
		if strings.HasPrefix(secret, p) {
			return p + hidden
		}
	}
	if i := strings.LastIndexByte(secret[:min(len(secret), 4)], '_'); i >= 0 {
		return secret[:i+1] + hidden
	}
	return hidden
}

// A span is where a password sits in a string, and how to decode it.
type span struct {
	start, end int
	decode     func(string) string
}

// DSN hides the passwords of a URL (postgres://, smtp://, any scheme) or of
// a PostgreSQL keyword/value connection string: the user info's password,
// taken to end at the last "@" so that an unescaped "@" or "/" in it is
// hidden too; the password and sslpassword query parameters; password=
// and sslpassword= values, quoted or not; and, in a URL without user info,
// a port that is not a number (postgres://user:secret/db lost its @host).
func DSN(s string) string {
	return hide(s, passwordSpans(s))
}

// Passwords returns the passwords DSN hides in s, as written and decoded,
// for New.
func Passwords(s string) []string {
	var out []string
	for _, sp := range passwordSpans(s) {
		raw := s[sp.start:sp.end]
		out = append(out, raw)
		if d := sp.decode(raw); d != raw {
			out = append(out, d)
		}
	}
	return out
}

var scheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)

func passwordSpans(s string) []span {
	if m := scheme.FindStringIndex(s); m != nil {
		return urlSpans(s, m[1])
	}
	return kvSpans(s)
}

// urlSpans finds the passwords of the URL s whose authority starts at start.
func urlSpans(s string, start int) []span {
	var spans []span
	host := start
	if at := strings.LastIndexByte(s[start:], '@'); at >= 0 {
		at += start
		if c := strings.IndexByte(s[start:at], ':'); c >= 0 && start+c+1 < at {
			spans = append(spans, span{start + c + 1, at, unescape})
		}
		host = at + 1
	} else if sp, ok := strayPort(s, start); ok {
		spans = append(spans, sp)
	}
	q := strings.IndexByte(s[host:], '?')
	if q < 0 {
		return spans
	}
	off := host + q + 1
	for pair := range strings.SplitSeq(s[off:], "&") {
		if key, val, ok := strings.Cut(pair, "="); ok && val != "" && passwordKey(unescape(key)) {
			spans = append(spans, span{off + len(key) + 1, off + len(pair), unescape})
		}
		off += len(pair) + 1
	}
	return spans
}

// strayPort finds a port that is not a number in an authority without user
// info: what pgx would quote as a port is then a password.
func strayPort(s string, start int) (span, bool) {
	end := len(s)
	if i := strings.IndexAny(s[start:], "/?"); i >= 0 {
		end = start + i
	}
	from := start
	if strings.HasPrefix(s[start:end], "[") { // an IPv6 address has colons of its own
		if i := strings.IndexByte(s[start:end], ']'); i >= 0 {
			from = start + i
		}
	}
	c := strings.LastIndexByte(s[from:end], ':')
	if c < 0 || from+c+1 == end || strings.Trim(s[from+c+1:end], "0123456789") == "" {
		return span{}, false
	}
	return span{from + c + 1, end, unescape}, true
}

func passwordKey(k string) bool {
	return strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword")
}

func unescape(s string) string {
	if d, err := url.PathUnescape(s); err == nil {
		return d
	}
	return s
}

// kvPassword matches a keyword/value password the way libpq reads one: a
// quoted value with backslash escapes (to the end if unterminated), or a
// run of characters up to a space.
var kvPassword = regexp.MustCompile(`(?i)\b(?:ssl)?password\s*=\s*('(?:\\.|[^'\\])*'?|(?:\\.|[^\s'\\])+)`)

func kvSpans(s string) []span {
	var spans []span
	for _, m := range kvPassword.FindAllStringSubmatchIndex(s, -1) {
		spans = append(spans, span{m[2], m[3], unquote})
	}
	return spans
}

// backslash matches a keyword/value escape.
var backslash = regexp.MustCompile(`\\(.)`)

func unquote(v string) string {
	if strings.HasPrefix(v, "'") {
		v = strings.TrimSuffix(v[1:], "'")
	}
	return backslash.ReplaceAllString(v, "$1")
}

// hide replaces the spans, in order and apart, with hidden.
func hide(s string, spans []span) string {
	if len(spans) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		b.WriteString(s[last:sp.start])
		b.WriteString(hidden)
		last = sp.end
	}
	b.WriteString(s[last:])
	return b.String()
}

// keyShape matches what may be a Stripe key (or a development API key),
// which an error message may quote; maskKey tells.
var keyShape = regexp.MustCompile(`\b(?:[sprw]k|whsec|bk)_[A-Za-z0-9_*]*`)

// maskKey masks a keyShape match, but not a bare type prefix ("starting
// sk_test_") nor a bk_ word that is no development key.
func maskKey(k string) string {
	if strings.HasSuffix(k, "_") || (strings.HasPrefix(k, "bk_") && !strings.HasPrefix(k, "bk_dev_")) {
		return k
	}
	return Mask(k)
}

// urlToken matches a URL in running text, up to a space or a quote.
var urlToken = regexp.MustCompile("[A-Za-z][A-Za-z0-9+.-]*://[^\\s\"'<>`]+")

// Text hides what can be recognised as secret in any text, knowing no
// configured value: keys of Stripe's shapes are masked, and DSN is applied
// to every URL in it and to the password= values between them.
func Text(s string) string {
	if strings.Contains(s, "k_") || strings.Contains(s, "whsec_") {
		s = keyShape.ReplaceAllStringFunc(s, maskKey)
	}
	if !strings.Contains(s, "://") && !strings.Contains(s, "assword") && !strings.Contains(s, "ASSWORD") {
		return s
	}
	var b strings.Builder
	last := 0
	for _, m := range urlToken.FindAllStringIndex(s, -1) {
		b.WriteString(hide(s[last:m[0]], kvSpans(s[last:m[0]])))
		b.WriteString(DSN(s[m[0]:m[1]]))
		last = m[1]
	}
	b.WriteString(hide(s[last:], kvSpans(s[last:])))
	return b.String()
}

// A Redactor replaces configured secret values with their masks in any
// text. The zero value and nil know no secret and apply Text alone.
type Redactor struct {
	secrets *strings.Replacer
}

// New returns a Redactor of the secrets at least MinLength long; shorter
// and empty ones are left to Text.
func New(secrets ...string) *Redactor {
	var long []string
	for _, s := range secrets {
		if len(s) >= MinLength && !slices.Contains(long, s) {
			long = append(long, s)
		}
	}
	if len(long) == 0 {
		return &Redactor{}
	}
	// Longest first: a secret that contains another is masked whole.
	slices.SortFunc(long, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	pairs := make([]string, 0, 2*len(long))
	for _, s := range long {
		pairs = append(pairs, s, Mask(s))
	}
	return &Redactor{secrets: strings.NewReplacer(pairs...)}
}

// String returns s with every secret masked, then passed through Text.
func (r *Redactor) String(s string) string {
	if r != nil && r.secrets != nil {
		s = r.secrets.Replace(s)
	}
	return Text(s)
}
