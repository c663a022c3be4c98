-- "Last used" of a grant is the time its latest token pair was issued. A trigger keeps it, so
-- issuing tokens (code exchange, refresh, device code) costs one statement fewer per grant:
-- on SQLite every statement of the writer is a round trip to the database thread.
CREATE TRIGGER access_tokens_touch_grant AFTER INSERT ON access_tokens
BEGIN
    UPDATE grants SET last_used_at = NEW.created_at WHERE grant_id = NEW.grant_id;
END;
