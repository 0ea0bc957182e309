-- +goose Up
-- app_messages_pruned counts, by type, the messages pruned after
-- BILLING_FEED_RETENTION, so that the messages ever written (those kept
-- plus these) only grow: billing_app_messages_total is a counter.
CREATE TABLE app_messages_pruned (
    type   TEXT PRIMARY KEY,
    pruned BIGINT NOT NULL
);
CREATE INDEX app_messages_type ON app_messages (type);

-- +goose Down
DROP INDEX app_messages_type;
DROP TABLE app_messages_pruned;
