-- "Last used" of a grant is now the time it last received a credential, to the minute: its
-- authorization code at approval (written with the grant row), then each token pair, but the
-- grant row is rewritten only when the time it holds is a minute old or more. See the SQLite
-- migration of the same name for why.
CREATE OR REPLACE FUNCTION access_tokens_touch_grant() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE grants SET last_used_at = NEW.created_at
    WHERE grant_id = NEW.grant_id
      AND (last_used_at IS NULL OR last_used_at <= NEW.created_at - 60000);
    RETURN NULL;
END;
$$;
