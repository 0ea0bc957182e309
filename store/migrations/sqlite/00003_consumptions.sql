-- +goose Up
-- Credits the app spent, by its idempotency key: a retried request finds
-- its first answer here and spends nothing. The spending itself is in
-- credit_ledger, under keys consume:<workspace>:<key>:<bucket>.
CREATE TABLE consumptions (
    workspace_id         TEXT NOT NULL REFERENCES workspaces (id),
    idempotency_key      TEXT NOT NULL,
    amount               INTEGER NOT NULL CHECK (amount > 0),
    reason               TEXT NOT NULL,
    from_subscription    INTEGER NOT NULL,
    from_purchased       INTEGER NOT NULL,
    balance_subscription INTEGER NOT NULL,
    balance_purchased    INTEGER NOT NULL,
    created_at           INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, idempotency_key)
);

-- +goose Down
DROP TABLE consumptions;
