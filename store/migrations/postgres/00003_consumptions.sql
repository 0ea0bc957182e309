-- +goose Up
-- Credits the app spent, by its idempotency key: a retried request finds
-- its first answer here and spends nothing. The spending itself is in
-- credit_ledger, under keys consume:<workspace>:<key>:<bucket>.
CREATE TABLE consumptions (
    workspace_id         TEXT NOT NULL REFERENCES workspaces (id),
    idempotency_key      TEXT NOT NULL,
    amount               BIGINT NOT NULL CHECK (amount > 0),
    reason               TEXT NOT NULL,
    from_subscription    BIGINT NOT NULL,
    from_purchased       BIGINT NOT NULL,
    balance_subscription BIGINT NOT NULL,
    balance_purchased    BIGINT NOT NULL,
    created_at           BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, idempotency_key)
);

-- +goose Down
DROP TABLE consumptions;
