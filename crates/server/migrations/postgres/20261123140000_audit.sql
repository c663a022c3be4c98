-- The audit trail: one row per security-relevant event, written in the same transaction as the
-- change it records. Never holds a credential; `detail` is a short JSON object.
CREATE TABLE audit_events (
    event_id    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    merchant_id TEXT,
    client_id   TEXT,
    grant_id    TEXT,
    user_id     TEXT,
    client_ip   TEXT,
    detail      TEXT
);
CREATE INDEX audit_events_by_time ON audit_events (at);
CREATE INDEX audit_events_by_merchant ON audit_events (merchant_id, at);
