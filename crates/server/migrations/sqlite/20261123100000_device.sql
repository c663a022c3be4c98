-- The device authorization grant (RFC 8628) and the counters that protect it.
--
-- device_codes: one row per /oauth/device/authorize. The device code and the user code are
-- stored only as keyed hashes. A row is pending until the verification page approves it
-- (approved_at, with the grant the approval created) or denies it (denied_at); the token
-- endpoint then redeems an approved row once (redeemed_at). interval_ms starts at the server's
-- polling interval and grows by 5 s with each slow_down; last_polled_at paces the polls.
-- Times are epoch milliseconds.
CREATE TABLE device_codes (
    device_code_hash BLOB PRIMARY KEY NOT NULL,
    user_code_hash   BLOB NOT NULL UNIQUE,
    client_id        TEXT NOT NULL REFERENCES applications (client_id),
    scopes           TEXT NOT NULL, -- space-delimited, decided at /oauth/device/authorize
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    interval_ms      INTEGER NOT NULL,
    last_polled_at   INTEGER,
    user_id          TEXT REFERENCES users (user_id),         -- who approved or denied
    merchant_id      TEXT REFERENCES merchants (merchant_id), -- on whose behalf
    approved_at      INTEGER,
    denied_at        INTEGER,
    grant_id         TEXT REFERENCES grants (grant_id),       -- set on approval
    redeemed_at      INTEGER
);
CREATE INDEX device_codes_by_client ON device_codes (client_id);
CREATE INDEX device_codes_by_grant ON device_codes (grant_id);

-- rate_limits: fixed-window counters (domain::rate_limit), shared by every node. bucket names
-- what is counted and for whom (e.g. "device-verify-ip:203.0.113.9"); rows are deleted once
-- their window has passed.
CREATE TABLE rate_limits (
    bucket       TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    hits         INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    PRIMARY KEY (bucket, window_start)
);
CREATE INDEX rate_limits_by_expiry ON rate_limits (expires_at);
