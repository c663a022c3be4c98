-- "Last used" of a grant is the time its latest token pair was issued. A trigger keeps it, so
-- issuing tokens (code exchange, refresh, device code) costs one round trip fewer per grant.
CREATE FUNCTION access_tokens_touch_grant() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE grants SET last_used_at = NEW.created_at WHERE grant_id = NEW.grant_id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER access_tokens_touch_grant AFTER INSERT ON access_tokens
    FOR EACH ROW EXECUTE FUNCTION access_tokens_touch_grant();
