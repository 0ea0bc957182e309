package billing

import (
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on the money and the text the service accepts; README's "Limits and
// security" lists them. Every amount of credits that enters the ledger is
// bounded by one of these, so no sum of them can overflow 64 bits.
const (
	// MaxBalance caps a workspace's credits, both buckets together: a grant
	// or adjustment that would take it higher is refused. Far above any real
	// balance, and far below 2^63, so sums of balances stay exact.
	MaxBalance = 1_000_000_000_000_000
	// MaxMetadataCredits caps metadata.credits of a purchase and a plan's
	// monthly_credits: what one Stripe object can grant.
	MaxMetadataCredits = 1_000_000_000
	// MaxWorkspaceID is the longest workspace id, in bytes.
	MaxWorkspaceID = 255
	// MaxName is the longest workspace name or email, in bytes.
	MaxName = 500
)

// ValidateWorkspaceID reports what is wrong with a workspace id. An id is 1
// to 255 ASCII letters, digits and the marks _ - . ~ : @ + =, and not "." or
// "..": what app ids (slugs, UUIDs, "org:42", emails, base64url) use, each
// safe in a URL path segment and a log line, and never the % that escapes a
// key's parts.
func ValidateWorkspaceID(id string) error {
	switch {
	case id == "":
		return Errorf(EINVALID, "workspace id is required")
	case len(id) > MaxWorkspaceID:
		return Errorf(EINVALID, "workspace id is longer than %d bytes", MaxWorkspaceID)
	case id == "." || id == ".." || strings.IndexFunc(id, notIDChar) >= 0:
		return Errorf(EINVALID, "workspace id %s may only have ASCII letters, digits and _ - . ~ : @ + =", strconv.QuoteToASCII(id))
	}
	return nil
}

func notIDChar(r rune) bool {
	return !(r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("_-.~:@+=", r)))
}

// ValidText reports whether s is text the service stores: valid UTF-8 with
// no control characters (NUL, C0, DEL, C1). PostgreSQL refuses NUL in text
// and SQLite would keep it, so checking first makes both answer alike.
func ValidText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// checkText returns an EINVALID error naming field when s is not ValidText
// or longer than max bytes.
func checkText(field, s string, max int) error {
	switch {
	case !ValidText(s):
		return Errorf(EINVALID, "%s must be UTF-8 text without control characters", field)
	case len(s) > max:
		return Errorf(EINVALID, "%s is longer than %d bytes", field, max)
	}
	return nil
}

// parseCredits reads a metadata.credits value: a whole number from 1 to
// MaxMetadataCredits written plainly, digits only, with no sign, no leading
// zero and no spaces. Anything else is 0 and false, so that no caller can
// grant what it refused.
func parseCredits(s string) (int64, bool) {
	if s == "" || s[0] == '0' || len(s) > len(strconv.Itoa(MaxMetadataCredits)) ||
		strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > MaxMetadataCredits {
		return 0, false
	}
	return n, true
}

// addSaturating adds without wrapping around: a stored balance the service
// did not write (corrupted by hand or by an old release) still reads as a
// large number rather than a negative one.
func addSaturating(a, b int64) int64 {
	switch {
	case b > 0 && a > math.MaxInt64-b:
		return math.MaxInt64
	case b < 0 && a < math.MinInt64-b:
		return math.MinInt64
	}
	return a + b
}
