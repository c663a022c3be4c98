-- Tokens and authorization codes stored in their key's B-tree (WITHOUT ROWID).
--
-- A table with a BLOB primary key is two B-trees in SQLite: the rows, by a hidden rowid, and an
-- index from the key to the rowid. Every credential issued was inserted into both, and every
-- lookup or update by key walked both. Keyed by the credential key, a row is one B-tree entry:
-- one insert, one search, and one page fewer written per table and commit. The rows are small
-- (100 to 300 bytes), which is what WITHOUT ROWID is for. Measured in docs/performance.md.
CREATE TABLE access_tokens_new (
    token_hash BLOB PRIMARY KEY NOT NULL,
    grant_id   TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
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
) WITHOUT ROWID;
INSERT INTO refresh_tokens_new
    (token_hash, grant_id, created_at, expires_at, consumed_at, retired_at, successor_hash)
    SELECT token_hash, grant_id, created_at, expires_at, consumed_at, retired_at, successor_hash
    FROM refresh_tokens;
DROP TABLE refresh_tokens;
ALTER TABLE refresh_tokens_new RENAME TO refresh_tokens;
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);

CREATE TABLE authorization_codes_new (
    code_hash             BLOB PRIMARY KEY NOT NULL,
    grant_id              TEXT NOT NULL REFERENCES grants (grant_id),
    redirect_uri          TEXT NOT NULL, -- the redirect URI the code was sent to
    redirect_uri_explicit INTEGER NOT NULL, -- 1 when the authorize request named it
    code_challenge        TEXT,
    code_challenge_method TEXT,
    created_at            INTEGER NOT NULL,
    expires_at            INTEGER NOT NULL,
    consumed_at           INTEGER
) WITHOUT ROWID;
INSERT INTO authorization_codes_new
    (code_hash, grant_id, redirect_uri, redirect_uri_explicit, code_challenge,
     code_challenge_method, created_at, expires_at, consumed_at)
    SELECT code_hash, grant_id, redirect_uri, redirect_uri_explicit, code_challenge,
           code_challenge_method, created_at, expires_at, consumed_at
    FROM authorization_codes;
DROP TABLE authorization_codes;
ALTER TABLE authorization_codes_new RENAME TO authorization_codes;
-- The grant's foreign key is checked through this index when a grant is deleted.
CREATE INDEX authorization_codes_by_grant ON authorization_codes (grant_id);
CREATE INDEX authorization_codes_by_expiry ON authorization_codes (expires_at);
