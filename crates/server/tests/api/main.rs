//! Integration tests: the real server on a loopback port, a real SQLite file, real HTTP.
//! One test binary with a module per area (each test binary costs a link).

mod helpers;

mod admin_api;
mod authorize;
mod backoffice;
mod browser;
mod flow;
mod me;
mod official_sdk;
mod revoke;
mod secrets;
mod token;
mod webdriver;
