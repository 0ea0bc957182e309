-- +goose Up
-- When the subscription period a grant pays for began, shown beside the
-- grant (0: no period grant, or one stored before this column).
ALTER TABLE credit_ledger ADD COLUMN period_start INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE credit_ledger DROP COLUMN period_start;
