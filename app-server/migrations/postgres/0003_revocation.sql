-- The schema of migrations/sqlite/0003_revocation.sql, statement for statement. `seq` is an
-- identity (a sequence shared by every app server on the database: never reused, never down).
ALTER TABLE users ADD COLUMN dl_gen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
ALTER TABLE files ADD COLUMN dl_gen BIGINT NOT NULL DEFAULT 0;

CREATE TABLE dl_revocations (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind       TEXT COLLATE "C" NOT NULL,
    key        TEXT COLLATE "C" NOT NULL,
    gen        BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    until_at   BIGINT NOT NULL
);
CREATE INDEX dl_revocations_by_until ON dl_revocations (until_at);

CREATE TABLE links (
    jti        TEXT COLLATE "C" PRIMARY KEY,
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    file_id    TEXT COLLATE "C" NOT NULL,
    sid        TEXT COLLATE "C" NOT NULL,
    minted_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX links_by_user ON links (user_id, minted_at);
