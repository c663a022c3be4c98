//! The server's side of `ucoauth-guard`: checking credentials straight against the store.
//!
//! A Rust service that runs in the same process as the authorization server, or shares its
//! database and pepper, can skip HTTP introspection and hand a [`StoreVerifier`] to
//! `ucoauth_guard::Guard::new`. A revocation made through the same store is then seen at once
//! (elsewhere: within the store's `access_cache_ttl`, see `Store::find_access`), and pepper
//! rotation is handled exactly as the API handlers handle it.
//!
//! EXTENSION POINT (simple keys): when merchant simple API keys land (`store/keys.rs`),
//! implement `ucoauth_guard::SimpleKeyVerifier` for `StoreVerifier` here (look the key up by its
//! keyed hash, return its merchant and permissions with `Scheme::SimpleKey`), and services get
//! `x-ultracart-simple-key` support through `Guard::with_simple_keys`.

use std::sync::Arc;

use ucoauth_guard::{Principal, Scheme, TokenVerifier, VerifyError, VerifyFuture};

use crate::{
    clock::Clock, config::ServerConfig, http::AppState, store::credentials::HashedCredential,
    store::Store, store::StoreError,
};

/// Checks bearer tokens with a direct store lookup.
#[derive(Clone)]
pub struct StoreVerifier {
    store: Store,
    config: Arc<ServerConfig>,
    clock: Arc<dyn Clock>,
}

impl StoreVerifier {
    /// A verifier over the same store, peppers and clock as `state`.
    pub fn new(state: &AppState) -> Self {
        Self {
            store: state.store.clone(),
            config: state.config.clone(),
            clock: state.clock.clone(),
        }
    }

    async fn lookup(&self, token: &str) -> Result<Option<Principal>, StoreError> {
        let hash = self
            .store
            .resolve_digest(self.config.peppers(), HashedCredential::AccessToken, token)
            .await?;
        let grant = self.store.find_access(&hash, self.clock.now()).await?;
        Ok(grant.map(|g| Principal {
            merchant_id: g.merchant_id,
            client_id: Some(g.client_id),
            scopes: g.scopes.names().to_vec(),
            expires_at: Some(g.expires_at.div_euclid(1000)),
            scheme: Scheme::Bearer,
        }))
    }
}

impl TokenVerifier for StoreVerifier {
    fn verify_bearer<'a>(&'a self, token: &'a str) -> VerifyFuture<'a> {
        Box::pin(async move {
            self.lookup(token).await.map_err(|e| match e {
                StoreError::Unavailable(m) => VerifyError::Unavailable(m),
                other => VerifyError::Unavailable(other.to_string()),
            })
        })
    }
}
