-- +goose Up
-- app_messages are the messages to the app (outgoing webhooks and the
-- feed), each written in the transaction of the change it tells. txid is
-- that transaction's id: the feed serves a message only once every
-- transaction older than the oldest still running has ended, in (txid,
-- position) order, so that a message committed late is never passed over.
CREATE TABLE app_messages (
    position     BIGSERIAL PRIMARY KEY,
    txid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
    id           TEXT NOT NULL UNIQUE,
    key          TEXT UNIQUE,
    type         TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    sequence     BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    body         TEXT NOT NULL
);
CREATE INDEX app_messages_feed ON app_messages (txid, position);
CREATE INDEX app_messages_workspace ON app_messages (workspace_id, sequence);
CREATE INDEX app_messages_created ON app_messages (created_at);
-- app_marks is what the app was last told of each workspace: its last
-- sequence number, the entitlement announced and until when it holds, and
-- whether its credits were low.
CREATE TABLE app_marks (
    workspace_id TEXT PRIMARY KEY,
    sequence     BIGINT NOT NULL DEFAULT 0,
    entitlement  TEXT NOT NULL DEFAULT '',
    until        BIGINT NOT NULL DEFAULT 0,
    credits_low  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX app_marks_until ON app_marks (until) WHERE until > 0;

-- +goose Down
DROP TABLE app_marks;
DROP TABLE app_messages;
