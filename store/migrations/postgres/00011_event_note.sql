-- +goose Up
-- note says why an event was not applied when a rule decided so (an event
-- of a connected account not configured, say); '' for the others.
ALTER TABLE events ADD COLUMN note TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE events DROP COLUMN note;
