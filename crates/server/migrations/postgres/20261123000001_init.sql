-- The first schema: merchants and their users, developer applications, grants and the
-- credentials that belong to a grant, and browser sessions for the login and consent pages.
-- Times are epoch milliseconds. Credentials are stored only as keyed hashes (32-byte BYTEA values).

CREATE TABLE merchants (
    merchant_id TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    user_id       TEXT PRIMARY KEY NOT NULL,
    merchant_id   TEXT NOT NULL REFERENCES merchants (merchant_id),
    login         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX users_by_merchant ON users (merchant_id);

CREATE TABLE applications (
    client_id         TEXT PRIMARY KEY NOT NULL,
    owner_merchant_id TEXT REFERENCES merchants (merchant_id),
    name              TEXT NOT NULL,
    description       TEXT NOT NULL,
    developer_name    TEXT NOT NULL,
    developer_email   TEXT NOT NULL,
    developer_url     TEXT NOT NULL,
    redirect_uris     TEXT NOT NULL, -- JSON array of strings
    scopes            TEXT NOT NULL, -- space-delimited
    require_secret    BIGINT NOT NULL,
    require_pkce      BIGINT NOT NULL,
    profile           TEXT,          -- NULL: the server's profile
    secret_hash       BYTEA NOT NULL,
    secret_hint       TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    deleted_at        BIGINT
);

CREATE TABLE grants (
    grant_id       TEXT PRIMARY KEY NOT NULL,
    merchant_id    TEXT NOT NULL REFERENCES merchants (merchant_id),
    client_id      TEXT NOT NULL REFERENCES applications (client_id),
    user_id        TEXT,
    scopes         TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    last_used_at   BIGINT,
    revoked_at     BIGINT,
    revoked_reason TEXT
);
CREATE INDEX grants_by_merchant ON grants (merchant_id);
CREATE INDEX grants_by_client ON grants (client_id);

CREATE TABLE authorization_codes (
    code_hash             BYTEA PRIMARY KEY NOT NULL,
    grant_id              TEXT NOT NULL REFERENCES grants (grant_id),
    redirect_uri          TEXT NOT NULL, -- the redirect URI the code was sent to
    redirect_uri_explicit BIGINT NOT NULL, -- 1 when the authorize request named it
    code_challenge        TEXT,
    code_challenge_method TEXT,
    created_at            BIGINT NOT NULL,
    expires_at            BIGINT NOT NULL,
    consumed_at           BIGINT
);
CREATE INDEX authorization_codes_by_grant ON authorization_codes (grant_id);

CREATE TABLE access_tokens (
    token_hash BYTEA PRIMARY KEY NOT NULL,
    grant_id   TEXT NOT NULL REFERENCES grants (grant_id),
    scopes     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX access_tokens_by_grant ON access_tokens (grant_id);

CREATE TABLE refresh_tokens (
    token_hash     BYTEA PRIMARY KEY NOT NULL,
    grant_id       TEXT NOT NULL REFERENCES grants (grant_id),
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    consumed_at    BIGINT,
    retired_at     BIGINT,
    successor_hash BYTEA
);
CREATE INDEX refresh_tokens_by_grant ON refresh_tokens (grant_id);

CREATE TABLE browser_sessions (
    session_hash BYTEA PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (user_id),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX browser_sessions_by_user ON browser_sessions (user_id);
