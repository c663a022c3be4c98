//! Integration tests: the real server on a loopback port, a real SQLite file, real HTTP.
//! One test binary with a module per area (each test binary costs a link).

mod helpers;
mod hostile;

mod audit;
mod authorize;
mod flow;
mod janitor;
mod me;
mod official_sdk;
mod rate_limits;
mod revoke;
mod secrets;
mod token;
