-- +goose Up
-- Times are Unix seconds (0 for none), as Stripe sends them; amounts are in
-- the currency's minor unit, as Stripe sends them.

CREATE TABLE workspaces (
    id                   TEXT PRIMARY KEY,
    name                 TEXT NOT NULL DEFAULT '',
    email                TEXT NOT NULL DEFAULT '',
    stripe_customer_id   TEXT,
    -- Cached balance, changed only together with a ledger entry (see
    -- credit_ledger); always equal to the ledger's sums per bucket.
    credits_subscription BIGINT NOT NULL DEFAULT 0,
    credits_purchased    BIGINT NOT NULL DEFAULT 0,
    -- The grant the subscription credits come from, and its period's start.
    sub_lot_key          TEXT NOT NULL DEFAULT '',
    sub_lot_start        BIGINT NOT NULL DEFAULT 0,
    created_at           BIGINT NOT NULL
);

CREATE TABLE customers (
    id            TEXT PRIMARY KEY,
    workspace_id  TEXT REFERENCES workspaces (id),
    email         TEXT NOT NULL DEFAULT '',
    name          TEXT NOT NULL DEFAULT '',
    deleted       BOOLEAN NOT NULL DEFAULT FALSE,
    last_event_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX customers_workspace ON customers (workspace_id);

CREATE TABLE subscriptions (
    id                   TEXT PRIMARY KEY,
    customer_id          TEXT NOT NULL DEFAULT '',
    workspace_id         TEXT REFERENCES workspaces (id),
    status               TEXT NOT NULL DEFAULT '',
    price_id             TEXT NOT NULL DEFAULT '',
    plan_id              TEXT NOT NULL DEFAULT '',
    current_period_start BIGINT NOT NULL DEFAULT 0,
    current_period_end   BIGINT NOT NULL DEFAULT 0,
    cancel_at_period_end BOOLEAN NOT NULL DEFAULT FALSE,
    canceled_at          BIGINT NOT NULL DEFAULT 0,
    ended_at             BIGINT NOT NULL DEFAULT 0,
    trial_end            BIGINT NOT NULL DEFAULT 0,
    start_date           BIGINT NOT NULL DEFAULT 0,
    first_period_paid    BOOLEAN NOT NULL DEFAULT FALSE,
    last_event_at        BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX subscriptions_workspace ON subscriptions (workspace_id, current_period_end);
CREATE INDEX subscriptions_customer ON subscriptions (customer_id);

CREATE TABLE invoices (
    id                   TEXT PRIMARY KEY,
    customer_id          TEXT NOT NULL DEFAULT '',
    subscription_id      TEXT NOT NULL DEFAULT '',
    workspace_id         TEXT REFERENCES workspaces (id),
    status               TEXT NOT NULL DEFAULT '',
    billing_reason       TEXT NOT NULL DEFAULT '',
    amount_due           BIGINT NOT NULL DEFAULT 0,
    amount_paid          BIGINT NOT NULL DEFAULT 0,
    amount_remaining     BIGINT NOT NULL DEFAULT 0,
    currency             TEXT NOT NULL DEFAULT '',
    attempt_count        BIGINT NOT NULL DEFAULT 0,
    next_payment_attempt BIGINT NOT NULL DEFAULT 0,
    number               TEXT NOT NULL DEFAULT '',
    hosted_invoice_url   TEXT NOT NULL DEFAULT '',
    invoice_pdf          TEXT NOT NULL DEFAULT '',
    due_date             BIGINT NOT NULL DEFAULT 0,
    period_start         BIGINT NOT NULL DEFAULT 0,
    period_end           BIGINT NOT NULL DEFAULT 0,
    paid_at              BIGINT NOT NULL DEFAULT 0,
    created_at           BIGINT NOT NULL DEFAULT 0,
    last_event_at        BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX invoices_workspace ON invoices (workspace_id, created_at);
CREATE INDEX invoices_customer ON invoices (customer_id);

CREATE TABLE payments (
    id               TEXT PRIMARY KEY,
    customer_id      TEXT NOT NULL DEFAULT '',
    workspace_id     TEXT REFERENCES workspaces (id),
    invoice_id       TEXT NOT NULL DEFAULT '',
    status           TEXT NOT NULL DEFAULT '',
    amount           BIGINT NOT NULL DEFAULT 0,
    amount_refunded  BIGINT NOT NULL DEFAULT 0,
    currency         TEXT NOT NULL DEFAULT '',
    purpose          TEXT NOT NULL DEFAULT '',
    credits          BIGINT NOT NULL DEFAULT 0,
    credits_refunded BIGINT NOT NULL DEFAULT 0,
    error_message    TEXT NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL DEFAULT 0,
    last_event_at    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX payments_workspace ON payments (workspace_id, created_at);
CREATE INDEX payments_customer ON payments (customer_id);

CREATE TABLE credit_ledger (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id    TEXT NOT NULL REFERENCES workspaces (id),
    amount          BIGINT NOT NULL,
    bucket          TEXT NOT NULL CHECK (bucket IN ('subscription', 'purchased')),
    reason          TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    event_id        TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL
);
CREATE INDEX credit_ledger_workspace ON credit_ledger (workspace_id, id);

-- +goose StatementBegin
CREATE FUNCTION credit_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'credit_ledger is append-only';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER credit_ledger_no_update BEFORE UPDATE OR DELETE ON credit_ledger
    FOR EACH ROW EXECUTE FUNCTION credit_ledger_append_only();
CREATE TRIGGER credit_ledger_no_truncate BEFORE TRUNCATE ON credit_ledger
    FOR EACH STATEMENT EXECUTE FUNCTION credit_ledger_append_only();

-- Grants whose workspace is not known yet, applied when their customer is linked.
CREATE TABLE pending_grants (
    key             TEXT PRIMARY KEY,
    customer_id     TEXT NOT NULL,
    subscription_id TEXT NOT NULL DEFAULT '',
    kind            TEXT NOT NULL,
    bucket          TEXT NOT NULL DEFAULT '',
    amount          BIGINT NOT NULL DEFAULT 0,
    reason          TEXT NOT NULL DEFAULT '',
    event_id        TEXT NOT NULL DEFAULT '',
    seq             BIGINT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX pending_grants_customer ON pending_grants (customer_id, seq);

CREATE TABLE notifications (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key          TEXT NOT NULL UNIQUE,
    workspace_id TEXT REFERENCES workspaces (id),
    customer_id  TEXT NOT NULL DEFAULT '',
    kind         TEXT NOT NULL,
    object_id    TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL DEFAULT 'pending',
    created_at   BIGINT NOT NULL
);
CREATE INDEX notifications_customer ON notifications (customer_id);

CREATE TABLE events (
    id           TEXT PRIMARY KEY,
    type         TEXT NOT NULL,
    api_version  TEXT NOT NULL DEFAULT '',
    livemode     BOOLEAN NOT NULL DEFAULT FALSE,
    created      BIGINT NOT NULL DEFAULT 0,
    account      TEXT NOT NULL DEFAULT '',
    payload      BYTEA NOT NULL,
    status       TEXT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    last_error   TEXT NOT NULL DEFAULT '',
    received_at  BIGINT NOT NULL,
    processed_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX events_status ON events (status, received_at);
CREATE INDEX events_type ON events (type, received_at);
CREATE INDEX events_received ON events (received_at);

-- Values the service keeps for itself, e.g. the generated development webhook secret.
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- +goose Down
DROP TABLE settings;
DROP TABLE events;
DROP TABLE notifications;
DROP TABLE pending_grants;
DROP TABLE credit_ledger;
DROP FUNCTION credit_ledger_append_only;
DROP TABLE payments;
DROP TABLE invoices;
DROP TABLE subscriptions;
DROP TABLE customers;
DROP TABLE workspaces;
