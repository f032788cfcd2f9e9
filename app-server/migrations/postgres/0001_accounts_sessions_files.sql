-- The schema of migrations/sqlite/0001_accounts_sessions_files.sql, statement for statement: ids
-- and hashes as TEXT, times as BIGINT Unix seconds. TEXT is COLLATE "C": it compares and sorts
-- by bytes as SQLite's BINARY does, whatever the database's locale. User names are stored
-- lower-case by the app on both backends, so the plain UNIQUE holds whatever their case.
CREATE TABLE users (
    id            TEXT COLLATE "C" PRIMARY KEY,
    username      TEXT COLLATE "C" NOT NULL UNIQUE,
    password_hash TEXT COLLATE "C" NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE sessions (
    id              TEXT COLLATE "C" PRIMARY KEY,
    token_hash      TEXT COLLATE "C" NOT NULL UNIQUE,
    user_id         TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at      BIGINT NOT NULL,
    last_seen_at    BIGINT NOT NULL,
    idle_expires_at BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    user_agent      TEXT COLLATE "C" NOT NULL,
    ip              TEXT COLLATE "C" NOT NULL,
    csrf_token      TEXT COLLATE "C" NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE files (
    id           TEXT COLLATE "C" PRIMARY KEY,
    user_id      TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT COLLATE "C" NOT NULL,
    object_path  TEXT COLLATE "C" NOT NULL,
    size         BIGINT NOT NULL,
    content_type TEXT COLLATE "C" NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX files_by_user ON files (user_id, created_at);
