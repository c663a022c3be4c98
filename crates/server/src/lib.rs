//! The ucoauth authorization server as a library: everything `ucoauth serve` runs.
//!
//! # Layout
//! - [`domain`]: the OAuth rules (codes, refresh rotation, PKCE, scopes, redirect URIs,
//!   profiles, credential hashing), free of I/O.
//! - [`store`]: SQLite and PostgreSQL storage through one [`store::Store`], with group commit.
//! - [`http`]: the axum router: the UltraCart `/rest/v2/oauth/*` API, the login and consent
//!   pages, the back office (pages and the `/admin/api/v1` JSON API), and the mapping of every
//!   error to UltraCart's wire shapes.
//! - [`config`]: server settings and the pepper (the key for credential hashes).
//! - [`clock`]: time as a dependency, so tests can move it.
//! - [`admin`]: operations shared by the CLI, the back-office pages and the admin API
//!   (applications, grants, simple keys, merchants and users).
//! - [`metrics`]: the Prometheus metrics behind `/metrics`.
//! - [`resource`]: the server's side of the resource-server guard (`ucoauth-guard`): token
//!   checks straight against the store, for Rust services that share the database.

pub mod admin;
pub mod clock;
pub mod config;
pub mod domain;
pub mod http;
pub mod maintenance;
pub mod metrics;
pub mod resource;
pub mod store;

pub use config::ServerConfig;
pub use http::{router, serve, AppState};
