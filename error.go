package billing

import (
	"errors"
	"fmt"
)

// Error codes. Adapters translate them: api maps each to one HTTP status.
const (
	ECONFLICT     = "conflict"
	EINTERNAL     = "internal"
	EINVALID      = "invalid"
	ENOTFOUND     = "not_found"
	EUNAUTHORIZED = "unauthorized"
	ETOOLARGE     = "too_large"
	EUNAVAILABLE  = "unavailable"
	// EINSUFFICIENT: the workspace has fewer credits than asked for.
	EINSUFFICIENT = "insufficient_credits"
	// ENOTENTITLED: what was asked needs an entitled workspace (Entitle).
	ENOTENTITLED = "not_entitled"
	// ENOSTRIPE: the request needs Stripe settings the service lacks.
	ENOSTRIPE = "stripe_not_configured"
	// ESTRIPE: Stripe refused the request (invalid_request_error).
	ESTRIPE = "stripe_error"
	// ECARD: Stripe declined a card or payment (card_error).
	ECARD = "card_error"
	// EUPSTREAM: Stripe could not be reached or failed on its side.
	EUPSTREAM = "stripe_unavailable"
	// EALREADYSUBSCRIBED: a checkout for a workspace whose subscription is
	// live; a swap changes it instead.
	EALREADYSUBSCRIBED = "already_subscribed"
	// ENOSUBSCRIPTION: a change of a workspace that has no subscription.
	ENOSUBSCRIPTION = "no_subscription"
	// EINVALIDSTATE: a change the subscription's state does not allow, such
	// as resuming one that has ended.
	EINVALIDSTATE = "invalid_state"
)

// Error is the domain's error: a code the adapters can act on and a message
// safe to show to the caller.
type Error struct {
	Code    string
	Message string
	// Fields, when set, are details a caller can act on without parsing
	// the message (already_subscribed names the subscription, its status
	// and where to pay); the API writes them into its error object, beside
	// code and message, which they never replace. A nil value is null.
	Fields map[string]any
}

func (e *Error) Error() string { return fmt.Sprintf("billing: %s: %s", e.Code, e.Message) }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EINTERNAL
	}
}

// ErrorFields returns the Fields of the first *Error in err's chain, nil
// for none.
func ErrorFields(err error) map[string]any {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// ErrorMessage returns the message of the first *Error in err's chain, or
// "internal error" so that unexpected details never reach a caller.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
