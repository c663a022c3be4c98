-- Nothing to change on PostgreSQL. On SQLite this version stores tokens and authorization
-- codes in their key's B-tree (WITHOUT ROWID) instead of a rowid table plus an index on the
-- key. A PostgreSQL table is always a heap with its primary key in a separate index, and
-- there is no other layout to choose. The version exists here so that both engines share one
-- list of migrations.
SELECT 1;
