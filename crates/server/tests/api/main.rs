//! Integration tests: the real server on a loopback port, a real SQLite file, real HTTP.
//! One test binary with a module per area (each test binary costs a link).

mod helpers;

mod authorize;
mod flow;
mod introspect;
mod me;
mod metadata;
mod official_sdk;
mod ops;
mod resource;
mod revoke;
mod rotation;
mod secrets;
mod token;
