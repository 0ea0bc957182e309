package billing

import (
	"strconv"
	"strings"
)

// Keys. Every ledger entry, pending grant and notification has a unique key
// naming its cause, so that the cause acts once however often it is
// reported. A key is a kind and its parts joined by ':', each part with '%'
// and ':' escaped, so no part can run into the next: workspace "W" with app
// key "x:1" and workspace "W:x" with app key "1" get different keys. Stripe
// ids and most app keys have neither character, so their keys read, and
// match, exactly as the ones stored before escaping existed.
func joinKey(kind string, parts ...string) string {
	var b strings.Builder
	b.WriteString(kind)
	for _, p := range parts {
		b.WriteByte(':')
		keyPart.WriteString(&b, p)
	}
	return b.String()
}

var keyPart = strings.NewReplacer("%", "%25", ":", "%3A")

// Ledger keys, each tied to what pays for or spends the credits.
func firstPeriodKey(subID string) string     { return joinKey("sub", subID, "first_period") }
func subscriptionEndKey(subID string) string { return joinKey("sub", subID, "ended") }
func renewalKey(invoiceID string) string     { return joinKey("invoice", invoiceID) }
func purchaseKey(ref string) string          { return joinKey("purchase", ref) }

// disputeKey takes back what a lost dispute leaves of a purchase; a payment
// loses a dispute once.
func disputeKey(paymentID string) string { return joinKey("dispute", paymentID) }

func refundKey(paymentID string, refunded int64) string {
	return joinKey("refund", paymentID, strconv.FormatInt(refunded, 10))
}

// consumeKey is a spending's entry in one bucket. Releases before escaping
// wrote consume:<workspace>:<key>:<bucket> unescaped, which an escaped key
// could equal (key "a:b" escapes to the "a%3Ab" an old key may hold), so
// spendings have a kind of their own; a retry of an old spending is still
// found by its consumption row.
func consumeKey(c *Consumption, b Bucket) string {
	return joinKey(kindSpend, c.WorkspaceID, c.IdempotencyKey, string(b))
}
func adjustKey(workspaceID, key string) string { return joinKey(kindAdjust, workspaceID, key) }

// Kinds of the keys the app's and operators' requests cause.
const (
	kindSpend  = "spend"
	kindAdjust = "adjust"
)

// expireKey is the key of the entry that expires what remains of a lot. A
// lot's key has a fixed number of parts for its kind, so one more part makes
// it a key no grant has.
func expireKey(lot string) string { return lot + ":expire" }
