-- Indexes the janitor uses to find expired rows in bounded batches without scanning tables.
CREATE INDEX authorization_codes_by_expiry ON authorization_codes (expires_at);
CREATE INDEX access_tokens_by_expiry ON access_tokens (expires_at);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);
CREATE INDEX browser_sessions_by_expiry ON browser_sessions (expires_at);
CREATE INDEX grants_by_revocation ON grants (revoked_at);
