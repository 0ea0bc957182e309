-- +goose Up
-- notifications is the email outbox: each row is queued with its text in the
-- transaction of the event that caused it, then sent by the outbox sender.
ALTER TABLE notifications ADD COLUMN subject TEXT NOT NULL DEFAULT '';
ALTER TABLE notifications ADD COLUMN body TEXT NOT NULL DEFAULT '';
ALTER TABLE notifications ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE notifications ADD COLUMN last_error TEXT NOT NULL DEFAULT '';
ALTER TABLE notifications ADD COLUMN next_attempt_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE notifications ADD COLUMN sent_at BIGINT NOT NULL DEFAULT 0;
-- claim counts the claims, so that only the sender holding the latest one
-- settles the row; claimed_at tells an interrupted send from one under way.
ALTER TABLE notifications ADD COLUMN claim INTEGER NOT NULL DEFAULT 0;
ALTER TABLE notifications ADD COLUMN claimed_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX notifications_due ON notifications (status, next_attempt_at, id);
-- A paid invoice discards its pending emails on the webhook's path.
CREATE INDEX notifications_object ON notifications (object_id, status);
-- Rows queued before this version have no text to send.
UPDATE notifications SET status = 'discarded', last_error = 'queued before email could be sent; no text'
    WHERE status = 'pending';

-- +goose Down
DROP INDEX notifications_object;
DROP INDEX notifications_due;
ALTER TABLE notifications DROP COLUMN claimed_at;
ALTER TABLE notifications DROP COLUMN claim;
ALTER TABLE notifications DROP COLUMN sent_at;
ALTER TABLE notifications DROP COLUMN next_attempt_at;
ALTER TABLE notifications DROP COLUMN last_error;
ALTER TABLE notifications DROP COLUMN attempts;
ALTER TABLE notifications DROP COLUMN body;
ALTER TABLE notifications DROP COLUMN subject;
