-- Revocation (docs/revocation.md): download generations on people and files, the revocation
-- records the state document is made of, and the links a person has minted.
ALTER TABLE users ADD COLUMN dl_gen BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
ALTER TABLE files ADD COLUMN dl_gen BIGINT NOT NULL DEFAULT 0;

-- One row per revocation: `kind` is 'sub', 'obj', 'sid' or 'jti', `key` what it names, `gen` the
-- lowest generation still valid (sub, obj; 0 otherwise). AUTOINCREMENT: a seq is never reused,
-- and the sweep never deletes the newest row, so MAX(seq) never goes down.
CREATE TABLE dl_revocations (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT NOT NULL,
    key        TEXT NOT NULL,
    gen        BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    until_at   BIGINT NOT NULL
);
CREATE INDEX dl_revocations_by_until ON dl_revocations (until_at);

-- Every link minted, kept while it may be in use, so its owner can see and revoke it.
CREATE TABLE links (
    jti        TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    file_id    TEXT NOT NULL,
    sid        TEXT NOT NULL,
    minted_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX links_by_user ON links (user_id, minted_at);
