-- +goose Up
-- Checkout sessions as their events tell them: a completed one, one whose
-- delayed payment (a bank debit) succeeded or failed, one that expired
-- unpaid, so that the app can see an abandoned or failed checkout.
CREATE TABLE checkout_sessions (
    id                TEXT PRIMARY KEY,
    workspace_id      TEXT REFERENCES workspaces (id),
    customer_id       TEXT NOT NULL DEFAULT '',
    mode              TEXT NOT NULL DEFAULT '',
    status            TEXT NOT NULL DEFAULT '',
    payment_status    TEXT NOT NULL DEFAULT '',
    subscription_id   TEXT NOT NULL DEFAULT '',
    payment_intent_id TEXT NOT NULL DEFAULT '',
    amount_total      BIGINT NOT NULL DEFAULT 0,
    currency          TEXT NOT NULL DEFAULT '',
    purpose           TEXT NOT NULL DEFAULT '',
    created_at        BIGINT NOT NULL DEFAULT 0,
    expires_at        BIGINT NOT NULL DEFAULT 0,
    payment_failed_at BIGINT NOT NULL DEFAULT 0,
    last_event_at     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX checkout_sessions_workspace ON checkout_sessions (workspace_id, created_at);
CREATE INDEX checkout_sessions_customer ON checkout_sessions (customer_id);

-- +goose Down
DROP TABLE checkout_sessions;
