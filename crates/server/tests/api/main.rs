//! Integration tests: the real server on a loopback port, a real database, real HTTP.
//! One test binary with a module per area (each test binary costs a link). The database is a
//! fresh SQLite file per test, or with `UCOAUTH_TEST_BACKEND=postgres` a fresh PostgreSQL
//! database per test on `UCOAUTH_TEST_POSTGRES`; `scripts/test.sh` runs the binary both ways.

mod helpers;
mod webdriver;

mod access_cache;
mod admin_api;
mod audit;
mod authorize;
mod backoffice;
mod browser;
mod device;
mod flow;
mod hostile;
mod introspect;
mod janitor;
mod me;
mod metadata;
mod official_sdk;
mod ops;
mod rate_limits;
mod resource;
mod revoke;
mod rotation;
mod sdk;
mod secrets;
mod token;
