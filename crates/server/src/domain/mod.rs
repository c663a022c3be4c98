//! The rules of the authorization server, free of I/O.
//!
//! Each module holds one rule: the HTTP layer parses requests into these types, asks the rule for
//! a decision, and the store carries the decision out atomically.

pub mod audit;
pub mod code;
pub mod device;
pub mod error;
pub mod model;
pub mod password;
pub mod pkce;
pub mod profile;
pub mod rate_limit;
pub mod redirect;
pub mod refresh;
pub mod scope;
pub mod secret;

pub use error::{OauthError, OauthErrorKind};
