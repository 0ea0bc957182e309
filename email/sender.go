package email

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/acme/billing"
)

// Retry policy: the first retry after a minute, doubling up to six hours,
// for about a day in all; then the notification is failed for good and the
// dashboard shows it.
const (
	MaxAttempts  = 12
	firstBackoff = time.Minute
	maxBackoff   = 6 * time.Hour
)

// Backoff is the wait after the attempt-th failed attempt.
func Backoff(attempt int) time.Duration {
	d := firstBackoff
	for i := 1; i < attempt && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// Sender delivers the outbox. Any number of senders, in one process or
// many, may share an outbox: each notification is claimed by one.
type Sender struct {
	Outbox billing.Outbox
	Mailer *Mailer
	Logger *slog.Logger
	// Interval is how often the outbox is polled; default 10s.
	Interval time.Duration
	// Now is the clock; tests inject one.
	Now func() time.Time
}

// Run sends what is due every Interval until ctx ends.
func (s *Sender) Run(ctx context.Context) {
	t := time.NewTicker(cmp.Or(s.Interval, 10*time.Second))
	defer t.Stop()
	for {
		if _, err := s.SendDue(ctx); err != nil && ctx.Err() == nil {
			s.Logger.Error("Email outbox: could not read the outbox", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SendDue sends every notification due now, one at a time, and returns how
// many were sent. It stops at the first error of the outbox itself.
func (s *Sender) SendDue(ctx context.Context) (sent int, err error) {
	for ctx.Err() == nil {
		n, err := s.Outbox.ClaimNotification(ctx, s.now())
		if err != nil || n == nil {
			return sent, err
		}
		if s.deliver(ctx, n) {
			sent++
		}
		// The outcome is stored even when ctx ended during the attempt: a
		// notification left claimed would never be sent.
		if err := s.Outbox.SettleNotification(context.WithoutCancel(ctx), n); err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// deliver makes one attempt and sets n's outcome.
func (s *Sender) deliver(ctx context.Context, n *billing.Notification) bool {
	log := s.Logger.With("notification", n.Key, "attempt", n.Attempts)
	var err error
	if n.Recipient == "" {
		// The workspace may get an address, or be linked, later.
		err = errors.New("no email address: neither the workspace nor its Stripe customer has one")
	} else {
		err = s.Mailer.Send(ctx, n)
	}
	now := s.now()
	if err == nil {
		n.Status, n.SentAt, n.LastError = billing.NotifySent, now, ""
		log.Info("Email sent", "kind", n.Kind, "to", n.Recipient)
		return true
	}
	n.LastError = err.Error()
	var me *Error
	if errors.As(err, &me) && me.Unknown {
		// Left claimed: the dashboard offers it to an operator.
		n.LastError = "delivery unknown: " + n.LastError
		log.Error("Email may or may not have been delivered; not sending it again", "kind", n.Kind, "error", err)
		return false
	}
	if (errors.As(err, &me) && me.Permanent) || n.Attempts >= MaxAttempts {
		n.Status = billing.NotifyFailed
		log.Error("Email failed for good", "kind", n.Kind, "error", err)
		return false
	}
	n.Status, n.NextAttemptAt = billing.NotifyPending, now.Add(Backoff(n.Attempts))
	log.Warn("Email not sent; will retry", "kind", n.Kind, "error", err, "retry_at", n.NextAttemptAt)
	return false
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
