-- "Last used" of a grant is now the time it last received a credential, to the minute: its
-- authorization code at approval (written with the grant row), then each token pair, but the
-- grant row is rewritten only when the time it holds is a minute old or more.
--
-- Why: rewriting the grant row on every token issue made every code exchange dirty one more
-- page (each exchange is a different grant, so their rows are spread over the table) and
-- write it to the WAL. Without that write, the code exchange took about a fifth less server
-- CPU in the benchmark (docs/performance.md). "Last used" is shown to the minute and never
-- decides anything.
DROP TRIGGER access_tokens_touch_grant;
CREATE TRIGGER access_tokens_touch_grant AFTER INSERT ON access_tokens
BEGIN
    UPDATE grants SET last_used_at = NEW.created_at
    WHERE grant_id = NEW.grant_id
      AND (last_used_at IS NULL OR last_used_at <= NEW.created_at - 60000);
END;
