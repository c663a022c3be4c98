-- Resource servers: applications allowed to call the introspection endpoint (RFC 7662 §4 says
-- the endpoint must require authorization, not just authentication, against token scanning).
-- A row is the permission; deleting it withdraws it.
CREATE TABLE resource_servers (
    client_id  TEXT PRIMARY KEY NOT NULL REFERENCES applications (client_id),
    created_at INTEGER NOT NULL
);
