//! UltraCart REST API v2 OAuth wire models.
//!
//! These types are the JSON bodies exactly as UltraCart's documentation and official SDKs define
//! them. They are shared by the ucoauth server and the Rust SDK so the two cannot drift apart.
//!
//! Rules every model follows (see `shared/spec/ultracart-oauth.md` §2 and §6):
//! - every field is optional and an absent field is **omitted**, never `null` (the official Python
//!   SDK rejects `null` for any typed field);
//! - unknown fields are ignored when reading, because UltraCart keeps adding fields;
//! - `OauthTokenResponse::expires_in` is a JSON *string* on the wire (`"3600"`), but the reader
//!   also accepts a number, because generic OAuth servers send one.
//!
//! # Layout
//! - [`models`]: the response bodies (`OauthTokenResponse`, `ErrorResponse`, ...).
//! - [`paths`]: the URL paths clients depend on.
//! - [`scopes`]: UltraCart's permission catalogue.
//! - [`params`]: request parameter names and fixed values (grant types, headers).
//! - [`standard`]: RFC documents served beside UltraCart's API: token introspection (RFC 7662)
//!   and authorization server metadata (RFC 8414).

pub mod models;
pub mod params;
pub mod paths;
pub mod scopes;
pub mod standard;

pub use models::*;
