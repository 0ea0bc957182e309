-- +goose Up
-- billing_lock takes the transaction-level advisory locks of keys in sorted
-- order, in one round trip: transactions that lock overlapping keys then
-- wait for each other instead of deadlocking.
-- +goose StatementBegin
CREATE FUNCTION billing_lock(keys TEXT[]) RETURNS VOID LANGUAGE plpgsql AS $$
DECLARE
    k TEXT;
BEGIN
    FOR k IN SELECT DISTINCT u FROM unnest(keys) AS u WHERE u <> '' ORDER BY u LOOP
        PERFORM pg_advisory_xact_lock(hashtextextended(k, 0));
    END LOOP;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION billing_lock(TEXT[]);
