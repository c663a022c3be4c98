//! `ucoauth-guard`: protect a Rust API service with credentials issued by a ucoauth
//! (UltraCart-compatible) authorization server.
//!
//! A request to a protected route may carry one of UltraCart's three credential schemes:
//! `Authorization: Bearer <access token>` (OAuth), `x-ultracart-simple-key: <key>` (a merchant's
//! simple API key), or `x-ultracart-browser-key: <key>` (a browser key, which server-to-server
//! routes refuse). The [`Guard`] reads them, asks a [`TokenVerifier`] (or a
//! [`SimpleKeyVerifier`]) who the caller is, checks the route's required scopes, and either
//! lets the request through with a [`Principal`] in its extensions or answers in UltraCart's
//! error shape: an `ErrorResponse` body, a `UC-REST-ERROR` header and an RFC 6750
//! `WWW-Authenticate` challenge (401 `invalid_token`, 403 `insufficient_scope`, 400
//! `invalid_request`).
//!
//! # Example
//! ```no_run
//! # #[cfg(feature = "introspection")]
//! # fn demo() {
//! use axum::{routing::get, Router};
//! use ucoauth_guard::{Guard, IntrospectionVerifier, Principal};
//!
//! async fn items(principal: Principal) -> String {
//!     format!("items of {}", principal.merchant_id)
//! }
//!
//! let verifier = IntrospectionVerifier::new(
//!     "http://127.0.0.1:8080/rest/v2/oauth/introspect",
//!     "RESOURCE_SERVER_CLIENT_ID",
//!     "RESOURCE_SERVER_CLIENT_SECRET",
//! );
//! let guard = Guard::new(verifier);
//! let app: Router = Router::new()
//!     .route("/rest/v2/item/items", get(items).route_layer(guard.require(["item_read"])))
//!     .with_state(guard);
//! # }
//! ```
//!
//! # Layout
//! - [`credential`]: reading the three schemes from request headers.
//! - [`verify`]: the [`TokenVerifier`] and [`SimpleKeyVerifier`] traits and the [`Principal`]
//!   they produce. Implement them to check credentials your own way; the ucoauth server crate
//!   implements [`TokenVerifier`] with a direct store lookup.
//! - [`introspection`] (feature `introspection`, on by default): [`IntrospectionVerifier`],
//!   which asks the authorization server (RFC 7662) and caches answers briefly.
//! - [`guard`]: the [`Guard`], its tower layer ([`RequireScopesLayer`]) and the [`Principal`]
//!   extractor.
//! - [`error`]: [`Rejection`], the 400/401/403/503 answers.

pub mod credential;
pub mod error;
pub mod guard;
#[cfg(feature = "introspection")]
pub mod introspection;
pub mod verify;

pub use error::{GuardError, Rejection};
pub use guard::{Guard, RequireScopes, RequireScopesLayer};
#[cfg(feature = "introspection")]
pub use introspection::IntrospectionVerifier;
pub use verify::{Principal, Scheme, SimpleKeyVerifier, TokenVerifier, VerifyError, VerifyFuture};
