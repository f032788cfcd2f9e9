-- The schema of migrations/sqlite/0004_download_history.sql, statement for statement.
CREATE TABLE download_events (
    source      TEXT COLLATE "C" NOT NULL,
    id          TEXT COLLATE "C" NOT NULL,
    type        TEXT COLLATE "C" NOT NULL,
    at          BIGINT NOT NULL,
    jti         TEXT COLLATE "C" NOT NULL,
    user_id     TEXT COLLATE "C" NOT NULL,
    object_path TEXT COLLATE "C" NOT NULL,
    size        BIGINT,
    started_at  BIGINT,
    start_byte  BIGINT,
    sent        BIGINT,
    ip          TEXT,
    ua          TEXT,
    reason      TEXT,
    status      BIGINT,
    PRIMARY KEY (source, id)
);
CREATE INDEX download_events_by_object ON download_events (object_path, at);
CREATE INDEX download_events_by_at ON download_events (at);

CREATE TABLE event_cursors (
    source     TEXT COLLATE "C" PRIMARY KEY,
    cursor     TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
