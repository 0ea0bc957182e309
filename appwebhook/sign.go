package appwebhook

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// MinSecretBytes is the least number of random bytes of a signing secret.
const MinSecretBytes = 24

// ErrSecret says what a signing secret must be, without showing it.
var ErrSecret = errors.New("want whsec_ and the base64 of at least 24 random bytes (echo whsec_$(openssl rand -base64 32))")

// CheckSecret checks a Standard Webhooks signing secret: whsec_ and the
// base64 of at least MinSecretBytes bytes.
func CheckSecret(secret string) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if !strings.HasPrefix(secret, "whsec_") || err != nil || len(key) < MinSecretBytes {
		return ErrSecret
	}
	return nil
}

// NewRequest is the POST of a message's body to endpoint, signed at t per
// the Standard Webhooks specification, webhook-id being the message's id.
func NewRequest(ctx context.Context, endpoint, secret, messageID string, body []byte, t time.Time) (*http.Request, error) {
	if err := CheckSecret(secret); err != nil {
		return nil, err
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return nil, ErrSecret
	}
	sig, err := wh.Sign(messageID, t, body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(standardwebhooks.HeaderWebhookID, messageID)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(t.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	return req, nil
}
