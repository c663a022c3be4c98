-- The back office: merchants' simple API keys (the `x-ultracart-simple-key` header), kept only
-- as keyed hashes like every other credential, and an index for "the applications a merchant
-- owns" (the Developer Applications page lists only those).

CREATE TABLE simple_keys (
    key_id      TEXT PRIMARY KEY NOT NULL,
    merchant_id TEXT NOT NULL REFERENCES merchants (merchant_id),
    name        TEXT NOT NULL,
    key_hash    BLOB NOT NULL UNIQUE,
    key_hint    TEXT NOT NULL,
    scopes      TEXT NOT NULL, -- space-delimited
    created_by  TEXT,          -- user_id of the creator; NULL when made from the command line
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX simple_keys_by_merchant ON simple_keys (merchant_id);

CREATE INDEX applications_by_owner ON applications (owner_merchant_id);
