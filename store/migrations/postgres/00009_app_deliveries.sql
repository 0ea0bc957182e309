-- +goose Up
-- app_endpoints are the app's webhook endpoints (BILLING_APP_WEBHOOK_URL).
-- cursor is the place in the feed up to which the endpoint's deliveries
-- were made; disabled_at is set when the endpoint answered 410 Gone (or was
-- removed from the configuration), until an operator enables it again.
CREATE TABLE app_endpoints (
    url             TEXT PRIMARY KEY,
    cursor          TEXT NOT NULL DEFAULT '',
    disabled_at     BIGINT NOT NULL DEFAULT 0,
    disabled_reason TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL
);
-- app_deliveries is one message owed to one endpoint. claim counts the
-- claims so that only the latest settles; claimed_until is the lease of the
-- sender attempting it, after which another may (it crashed).
CREATE TABLE app_deliveries (
    id               BIGSERIAL PRIMARY KEY,
    message          BIGINT NOT NULL REFERENCES app_messages (position) ON DELETE CASCADE,
    endpoint         TEXT NOT NULL REFERENCES app_endpoints (url) ON DELETE CASCADE,
    status           TEXT NOT NULL DEFAULT 'pending',
    attempts         INTEGER NOT NULL DEFAULT 0,
    first_attempt_at BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    claim            BIGINT NOT NULL DEFAULT 0,
    claimed_until    BIGINT NOT NULL DEFAULT 0,
    delivered_at     BIGINT NOT NULL DEFAULT 0,
    last_status      INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT '',
    created_at       BIGINT NOT NULL,
    UNIQUE (message, endpoint)
);
CREATE INDEX app_deliveries_due ON app_deliveries (status, next_attempt_at, id);
CREATE INDEX app_deliveries_lease ON app_deliveries (claimed_until) WHERE status = 'sending';
CREATE INDEX app_deliveries_endpoint ON app_deliveries (endpoint, status);
-- app_attempts is each HTTP request of a delivery, for the dashboard.
CREATE TABLE app_attempts (
    id          BIGSERIAL PRIMARY KEY,
    delivery    BIGINT NOT NULL REFERENCES app_deliveries (id) ON DELETE CASCADE,
    at          BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    status      INTEGER NOT NULL,
    response    TEXT NOT NULL,
    error       TEXT NOT NULL
);
CREATE INDEX app_attempts_delivery ON app_attempts (delivery, id);

-- +goose Down
DROP TABLE app_attempts;
DROP TABLE app_deliveries;
DROP TABLE app_endpoints;
