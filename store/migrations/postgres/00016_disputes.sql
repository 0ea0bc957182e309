-- +goose Up
-- Disputes as charge.dispute.* tell them; on each payment whether it lost
-- one (its purchase's credits are then all taken back); and the address of
-- an email that is not the workspace's (the operator's, of a dispute).
CREATE TABLE disputes (
    id                TEXT PRIMARY KEY,
    payment_intent_id TEXT NOT NULL DEFAULT '',
    charge_id         TEXT NOT NULL DEFAULT '',
    amount            BIGINT NOT NULL DEFAULT 0,
    currency          TEXT NOT NULL DEFAULT '',
    status            TEXT NOT NULL DEFAULT '',
    reason            TEXT NOT NULL DEFAULT '',
    evidence_due_by   BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL DEFAULT 0,
    last_event_at     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX disputes_payment ON disputes (payment_intent_id);
CREATE INDEX disputes_charge ON disputes (charge_id);
CREATE INDEX disputes_status ON disputes (status);
ALTER TABLE payments ADD COLUMN dispute_lost BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE notifications ADD COLUMN recipient TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE notifications DROP COLUMN recipient;
ALTER TABLE payments DROP COLUMN dispute_lost;
DROP TABLE disputes;
