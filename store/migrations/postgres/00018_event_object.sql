-- +goose Up
-- What each event applied to, as the rules found them: its object and its
-- workspace, for the event log's links and the dashboard's search. Events
-- of earlier releases keep '' until replayed.
ALTER TABLE events ADD COLUMN object_id TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN workspace_id TEXT NOT NULL DEFAULT '';
CREATE INDEX events_object ON events (object_id);
CREATE INDEX events_workspace ON events (workspace_id, received_at);

-- +goose Down
DROP INDEX events_workspace;
DROP INDEX events_object;
ALTER TABLE events DROP COLUMN workspace_id;
ALTER TABLE events DROP COLUMN object_id;
