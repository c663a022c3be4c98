-- Token rows keep their grant_id but no longer have an index by grant, nor a foreign key to
-- grants: every token issued paid for one more index entry per table at a place that does not
-- follow insertion order. Nothing needs tokens by grant: every token lookup joins its grant
-- and checks it, and the janitor removes token rows when they expire, including those of
-- grants it has deleted. Same change as on SQLite (see its migration and docs/performance.md).
ALTER TABLE access_tokens DROP CONSTRAINT access_tokens_grant_id_fkey;
ALTER TABLE refresh_tokens DROP CONSTRAINT refresh_tokens_grant_id_fkey;
DROP INDEX access_tokens_by_grant;
DROP INDEX refresh_tokens_by_grant;
