-- +goose Up
-- app_messages are the messages to the app (outgoing webhooks and the
-- feed), each written in the transaction of the change it tells. SQLite
-- has one writer, so position is also the order of commits.
CREATE TABLE app_messages (
    position     INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL,
    key          TEXT,
    type         TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    sequence     BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    body         TEXT NOT NULL
);
-- Few indexes, since every message pays for each: the id is 130 random
-- bits (nothing looks a message up by it), a key is unique only where one
-- is set, and the feed's workspace filter reads in feed order.
CREATE UNIQUE INDEX app_messages_key ON app_messages (key) WHERE key IS NOT NULL;
CREATE INDEX app_messages_created ON app_messages (created_at);
-- What the app was last told of each workspace, kept on its row so that
-- the row lock a transaction takes to change its credits also orders its
-- messages: the last sequence number given, the entitlement announced and
-- until when it holds, and whether its credits were low.
ALTER TABLE workspaces ADD COLUMN message_sequence BIGINT NOT NULL DEFAULT 0;
ALTER TABLE workspaces ADD COLUMN announced_entitlement TEXT NOT NULL DEFAULT '';
ALTER TABLE workspaces ADD COLUMN announced_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE workspaces ADD COLUMN credits_low INTEGER NOT NULL DEFAULT 0;
CREATE INDEX workspaces_announced_until ON workspaces (announced_until) WHERE announced_until > 0;

-- +goose Down
DROP INDEX workspaces_announced_until;
ALTER TABLE workspaces DROP COLUMN credits_low;
ALTER TABLE workspaces DROP COLUMN announced_until;
ALTER TABLE workspaces DROP COLUMN announced_entitlement;
ALTER TABLE workspaces DROP COLUMN message_sequence;
DROP TABLE app_messages;
