-- +goose Up
-- A subscription's paused collection (pause_collection): its behavior, when
-- Stripe resumes it, and when a void pause stops the service (the end of the
-- period paid when it was first seen). Rows of earlier releases take them
-- from the subscription's next event.
ALTER TABLE subscriptions ADD COLUMN pause_behavior TEXT NOT NULL DEFAULT '';
ALTER TABLE subscriptions ADD COLUMN pause_resumes_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN pause_starts_at INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE subscriptions DROP COLUMN pause_starts_at;
ALTER TABLE subscriptions DROP COLUMN pause_resumes_at;
ALTER TABLE subscriptions DROP COLUMN pause_behavior;
