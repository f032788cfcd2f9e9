-- The schema of migrations/sqlite/0002_login_attempts.sql: the login throttle, shared by every
-- app server on the database, one row per throttle key with its attempts in the current fixed
-- window and when that window ends (BIGINT Unix seconds). TEXT is COLLATE "C" as in 0001.
CREATE TABLE login_attempts (
    key            TEXT COLLATE "C" PRIMARY KEY,
    attempts       BIGINT NOT NULL,
    window_ends_at BIGINT NOT NULL
);
