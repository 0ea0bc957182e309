-- +goose Up
-- admin_sessions are the dashboard's logged-in sessions. The cookie carries a
-- random token; only its HMAC under a key derived from BILLING_API_KEY is
-- stored, so reading this table hands out no live session, and a new API key
-- finds none of the old rows. id is the handle operators revoke a session by;
-- AUTOINCREMENT so that a revoked id is never given to a later login.
CREATE TABLE admin_sessions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash  TEXT NOT NULL UNIQUE,
    remote_addr TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
-- Each login deletes the expired rows.
CREATE INDEX admin_sessions_expiry ON admin_sessions (expires_at);

-- +goose Down
DROP TABLE admin_sessions;
