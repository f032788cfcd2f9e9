-- Download history (docs/history.md): the events pulled from each download server's feed, one
-- row per event (`id` is unique within its `source`, the feed URL), and each feed's cursor,
-- stored in the transaction that stores the events it was the answer's `next` to.
CREATE TABLE download_events (
    source      TEXT NOT NULL,
    id          TEXT NOT NULL,
    type        TEXT NOT NULL,
    at          BIGINT NOT NULL,
    jti         TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    object_path TEXT NOT NULL,
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
-- The sweep deletes by age.
CREATE INDEX download_events_by_at ON download_events (at);

CREATE TABLE event_cursors (
    source     TEXT PRIMARY KEY,
    cursor     TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
