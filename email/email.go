// Package email sends the outbox: the notifications that billing events
// queue (failed payments, trials ending) go out over SMTP, each at most once,
// with retries and backoff for the failures a later attempt may fix.
package email

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/acme/billing"
)

// Mailer sends one notification over SMTP.
type Mailer struct {
	client *gomail.Client
	from   *mail.Address
	// server names the server in errors and logs, without credentials.
	server string
}

// NewMailer returns a Mailer for an SMTP_URL and a BILLING_EMAIL_FROM:
//
//	smtp://user:password@host:587   STARTTLS required (the default port is 587)
//	smtps://user:password@host:465  TLS from the start (the default port is 465)
//	smtp://host:25?tls=none         no TLS: a relay on loopback or a private network
//	smtp://host:25?tls=opportunistic STARTTLS when the server offers it
//
// Credentials, when present, are sent with the best mechanism the server
// offers, or the one ?auth= names (plain, login, cram-md5, scram-sha-256, …).
// PLAIN and LOGIN are refused on a connection without TLS, but to loopback.
func NewMailer(smtpURL, from string, timeout time.Duration) (*Mailer, error) {
	u, err := url.Parse(smtpURL)
	if err != nil || u.Host == "" || (u.Scheme != "smtp" && u.Scheme != "smtps") {
		return nil, fmt.Errorf("SMTP_URL: want smtp://[user:password@]host[:port] or smtps://…")
	}
	addr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("BILLING_EMAIL_FROM %q: %w", from, err)
	}
	opts := []gomail.Option{gomail.WithTimeout(timeout)}
	port := 587
	if u.Scheme == "smtps" {
		port = 465
		opts = append(opts, gomail.WithSSL())
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("SMTP_URL: bad port %q", p)
		}
	}
	opts = append(opts, gomail.WithPort(port))
	if u.Scheme == "smtp" {
		policy, err := tlsPolicy(u.Query().Get("tls"))
		if err != nil {
			return nil, err
		}
		opts = append(opts, gomail.WithTLSPolicy(policy))
	}
	if u.User != nil {
		password, _ := u.User.Password()
		auth := gomail.SMTPAuthAutoDiscover
		if v := u.Query().Get("auth"); v != "" {
			if err := auth.UnmarshalString(v); err != nil {
				return nil, fmt.Errorf("SMTP_URL: auth=%q: %w", v, err)
			}
		}
		opts = append(opts, gomail.WithSMTPAuth(auth),
			gomail.WithUsername(u.User.Username()), gomail.WithPassword(password))
	}
	client, err := gomail.NewClient(u.Hostname(), opts...)
	if err != nil {
		return nil, fmt.Errorf("SMTP_URL: %w", err)
	}
	return &Mailer{client: client, from: addr, server: net.JoinHostPort(u.Hostname(), strconv.Itoa(port))}, nil
}

func tlsPolicy(v string) (gomail.TLSPolicy, error) {
	switch v {
	case "", "required":
		return gomail.TLSMandatory, nil
	case "opportunistic":
		return gomail.TLSOpportunistic, nil
	case "none":
		return gomail.NoTLS, nil
	}
	return 0, fmt.Errorf("SMTP_URL: tls=%q: want required, opportunistic or none", v)
}

// Server is the SMTP server's address, for logs.
func (m *Mailer) Server() string { return m.server }

// Error is a failed delivery. Permanent ones (the server refused the
// recipient or the message with a 5xx) are not tried again; Unknown ones
// (the message was sent but the server's answer never came) may have been
// delivered, so they are not tried again either without an operator.
type Error struct {
	Permanent bool
	Unknown   bool
	Err       error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Send delivers n to n.Recipient. It returns nil once the server has
// accepted the message, whatever fails after that (RSET, QUIT).
func (m *Mailer) Send(ctx context.Context, n *billing.Notification) error {
	msg, err := m.message(n)
	if err != nil {
		return &Error{Permanent: true, Err: err}
	}
	conn, err := m.client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return &Error{Err: fmt.Errorf("connect to %s: %w", m.server, err)}
	}
	err = m.client.SendWithSMTPClient(conn, msg)
	_ = m.client.CloseWithSMTPClient(conn) // the message's fate is known by now
	if err == nil || msg.IsDelivered() {
		return nil
	}
	return classify(fmt.Errorf("send to %s: %w", m.server, err))
}

// classify tells what a failed send means for the next attempt.
func classify(err error) *Error {
	var se *gomail.SendError
	if !errors.As(err, &se) {
		return &Error{Err: err}
	}
	code := se.ErrorCode()
	switch {
	case se.Reason == gomail.ErrSMTPDataClose && code == 0:
		// The final "." went out and no answer came back.
		return &Error{Unknown: true, Err: err}
	case code >= 500 && code < 600 && (se.Reason == gomail.ErrSMTPRcptTo || se.Reason == gomail.ErrSMTPData || se.Reason == gomail.ErrSMTPDataClose) &&
		!strings.HasPrefix(se.EnhancedStatusCode(), "5.7."):
		// The recipient or the message refused for good. A refusal of the
		// sender (a 5xx to MAIL FROM, or 5.7.x, security or policy, such as
		// "relaying denied" to a client that did not log in) is this
		// service's configuration: an operator fixes it, then it is retried.
		return &Error{Permanent: true, Err: err}
	}
	return &Error{Err: err}
}

func (m *Mailer) message(n *billing.Notification) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(m.from)
	if err := msg.To(n.Recipient); err != nil {
		return nil, fmt.Errorf("recipient %q: %w", n.Recipient, err)
	}
	msg.Subject(n.Subject)
	msg.SetMessageIDWithValue(MessageID(n.Key, m.from.Address))
	msg.SetDateWithValue(time.Now())
	// RFC 3834: auto-responders must not answer it.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, n.Body)
	return msg, nil
}

// MessageID is the Message-ID of a notification: the same for every attempt,
// so that a receiver can recognise a message it already has.
func MessageID(key, from string) string {
	sum := sha256.Sum256([]byte(key))
	_, domain, _ := strings.Cut(from, "@")
	return hex.EncodeToString(sum[:16]) + ".billing@" + domain
}
