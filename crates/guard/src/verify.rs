//! Who a credential speaks for, and the traits that find out.

use std::{future::Future, pin::Pin};

/// The scheme a request authenticated with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Bearer <access token>`.
    Bearer,
    /// `x-ultracart-simple-key: <key>`.
    SimpleKey,
}

/// The caller of a protected route: the merchant whose data it may touch, and with which
/// permissions. Handlers take it as an extractor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The merchant the credential speaks for. Key your records on it.
    pub merchant_id: String,
    /// The application the token was issued to; `None` for simple keys.
    pub client_id: Option<String>,
    /// The permissions the credential carries.
    pub scopes: Vec<String>,
    /// When the credential stops working (seconds since the Unix epoch), if it expires.
    pub expires_at: Option<i64>,
    pub scheme: Scheme,
}

impl Principal {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// The scopes of `required` this principal lacks.
    pub fn missing<'r>(&self, required: &'r [String]) -> Vec<&'r str> {
        required
            .iter()
            .filter(|s| !self.has_scope(s))
            .map(String::as_str)
            .collect()
    }
}

/// Why a credential could not be checked (as opposed to: it was checked and is not valid).
#[derive(Debug, Clone, thiserror::Error)]
pub enum VerifyError {
    /// The authorization server or the store could not be reached; worth retrying.
    #[error("credential check unavailable: {0}")]
    Unavailable(String),
    /// The check itself is set up wrongly (e.g. the authorization server refused this
    /// resource server's own credentials).
    #[error("credential check misconfigured: {0}")]
    Misconfigured(String),
}

/// What a verifier returns: `Ok(Some(_))` for a live credential, `Ok(None)` for one that is
/// unknown, expired or revoked.
pub type VerifyFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<Principal>, VerifyError>> + Send + 'a>>;

/// Checks OAuth access tokens.
pub trait TokenVerifier: Send + Sync + 'static {
    fn verify_bearer<'a>(&'a self, token: &'a str) -> VerifyFuture<'a>;
}

/// Checks UltraCart simple API keys (`x-ultracart-simple-key`). Give one to
/// [`Guard::with_simple_keys`](crate::Guard::with_simple_keys); without one, routes refuse simple
/// keys with a 401 that says so.
pub trait SimpleKeyVerifier: Send + Sync + 'static {
    fn verify_simple_key<'a>(&'a self, key: &'a str) -> VerifyFuture<'a>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_lists_only_the_scopes_not_held() {
        let p = Principal {
            merchant_id: "DEMO".into(),
            client_id: None,
            scopes: vec!["item_read".into()],
            expires_at: None,
            scheme: Scheme::SimpleKey,
        };
        let required = vec!["item_read".to_owned(), "item_write".to_owned()];
        assert_eq!(p.missing(&required), ["item_write"]);
        assert!(p.missing(&required[..1]).is_empty());
    }
}
