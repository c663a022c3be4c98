-- Token rows keep their grant_id but no longer have an index by grant, nor a foreign key to
-- grants (SQLite checks a foreign key on a parent's delete through an index on the child).
--
-- Why: keys by grant do not arrive in order, so every token issued dirtied one more random
-- B-tree page per table, written to the WAL and again at checkpoint: two of the four or five
-- pages a refresh writes. Measured without these indexes: about 25 % more refreshes per second
-- (docs/performance.md).
--
-- What replaces them: nothing needs tokens by grant. Every token lookup joins its grant and
-- checks it, so a token whose grant is revoked or deleted is refused; the janitor removes
-- token rows when they expire, including those of grants it has deleted.
CREATE TABLE access_tokens_new (
    token_hash BLOB PRIMARY KEY NOT NULL,
    grant_id   TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
INSERT INTO access_tokens_new (token_hash, grant_id, scopes, created_at, expires_at)
    SELECT token_hash, grant_id, scopes, created_at, expires_at FROM access_tokens;
DROP TABLE access_tokens;
ALTER TABLE access_tokens_new RENAME TO access_tokens;
CREATE INDEX access_tokens_by_expiry ON access_tokens (expires_at);
-- Dropping the table dropped its trigger (see grant_last_used).
CREATE TRIGGER access_tokens_touch_grant AFTER INSERT ON access_tokens
BEGIN
    UPDATE grants SET last_used_at = NEW.created_at WHERE grant_id = NEW.grant_id;
END;

CREATE TABLE refresh_tokens_new (
    token_hash     BLOB PRIMARY KEY NOT NULL,
    grant_id       TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    consumed_at    INTEGER,
    retired_at     INTEGER,
    successor_hash BLOB
);
INSERT INTO refresh_tokens_new
    (token_hash, grant_id, created_at, expires_at, consumed_at, retired_at, successor_hash)
    SELECT token_hash, grant_id, created_at, expires_at, consumed_at, retired_at, successor_hash
    FROM refresh_tokens;
DROP TABLE refresh_tokens;
ALTER TABLE refresh_tokens_new RENAME TO refresh_tokens;
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);
