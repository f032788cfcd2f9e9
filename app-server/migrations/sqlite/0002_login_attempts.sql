-- The login throttle, shared by every app server on the database: one row per throttle key
-- (`u:<name>` or `ip:<address or /64>`), its attempts in the current fixed window and when that
-- window ends (BIGINT Unix seconds). Rows whose window ended are swept; no index on
-- window_ends_at, so each counted attempt writes one B-tree, not two (the sweep is hourly).
CREATE TABLE login_attempts (
    key            TEXT PRIMARY KEY,
    attempts       BIGINT NOT NULL,
    window_ends_at BIGINT NOT NULL
);
