//! The [`Guard`]: authenticate, check scopes, and hand the [`Principal`] to the handler.
//!
//! Per route, with the tower layer:
//! ```ignore
//! .route("/rest/v2/item/items", get(list).route_layer(guard.require(["item_read"])))
//! ```
//! The layer answers refusals itself and puts the [`Principal`] in the request's extensions,
//! where the [`Principal`] extractor finds it. On a route without the layer, the extractor
//! authenticates by itself (no scope requirement) with the `Guard` taken from the router state,
//! so the state must provide one (`Guard: FromRef<S>`).

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use axum::{
    extract::{FromRef, FromRequestParts, Request},
    response::{IntoResponse, Response},
};
use http::{request::Parts, HeaderMap};
use tower::{Layer, Service};

use crate::{
    credential::{self, Credential},
    error::{GuardError, Rejection},
    verify::{Principal, SimpleKeyVerifier, TokenVerifier, VerifyError},
};

/// Checks credentials for a service. Cheap to clone; clones share the verifiers (and their
/// caches).
#[derive(Clone)]
pub struct Guard {
    inner: Arc<Inner>,
}

#[derive(Clone)]
struct Inner {
    bearer: Arc<dyn TokenVerifier>,
    simple_keys: Option<Arc<dyn SimpleKeyVerifier>>,
    realm: Arc<str>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("realm", &self.inner.realm)
            .field("simple_keys", &self.inner.simple_keys.is_some())
            .finish_non_exhaustive()
    }
}

impl Guard {
    /// A guard that checks bearer tokens with `verifier` and refuses simple keys.
    pub fn new(verifier: impl TokenVerifier) -> Self {
        Self {
            inner: Arc::new(Inner {
                bearer: Arc::new(verifier),
                simple_keys: None,
                realm: Arc::from("ultracart"),
            }),
        }
    }

    /// Also accept `x-ultracart-simple-key`, checked by `verifier`.
    pub fn with_simple_keys(mut self, verifier: impl SimpleKeyVerifier) -> Self {
        Arc::make_mut(&mut self.inner).simple_keys = Some(Arc::new(verifier));
        self
    }

    /// The `realm` of the `WWW-Authenticate` challenges (default `ultracart`).
    pub fn with_realm(mut self, realm: &str) -> Self {
        Arc::make_mut(&mut self.inner).realm = Arc::from(realm);
        self
    }

    fn reject(&self, error: GuardError) -> Rejection {
        Rejection {
            error,
            realm: self.inner.realm.clone(),
        }
    }

    /// Who the request's credential speaks for.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, Rejection> {
        let credential = credential::read(headers).map_err(|e| self.reject(e))?;
        let checked = match credential {
            Credential::Bearer(token) => self.inner.bearer.verify_bearer(token).await,
            Credential::SimpleKey(key) => match &self.inner.simple_keys {
                Some(verifier) => verifier.verify_simple_key(key).await,
                None => return Err(self.reject(GuardError::SimpleKeysNotAccepted)),
            },
            Credential::BrowserKey => return Err(self.reject(GuardError::BrowserKeyNotAccepted)),
        };
        match checked {
            Ok(Some(principal)) => Ok(principal),
            Ok(None) => Err(self.reject(GuardError::InvalidToken(match credential {
                Credential::SimpleKey(_) => "the simple key is invalid or revoked",
                _ => "the access token is invalid, expired or revoked",
            }))),
            Err(e) => {
                match &e {
                    VerifyError::Misconfigured(_) => {
                        tracing::error!(error = %e, "cannot check credentials")
                    }
                    VerifyError::Unavailable(_) => {
                        tracing::warn!(error = %e, "cannot check credentials")
                    }
                }
                Err(self.reject(GuardError::Unavailable))
            }
        }
    }

    /// [`Guard::authenticate`], then the scope check: every scope of `required` must be held.
    pub async fn check(
        &self,
        headers: &HeaderMap,
        required: &[String],
    ) -> Result<Principal, Rejection> {
        let principal = self.authenticate(headers).await?;
        let missing = principal.missing(required);
        if missing.is_empty() {
            Ok(principal)
        } else {
            Err(self.reject(GuardError::InsufficientScope {
                required: required.to_vec(),
                missing: missing.into_iter().map(str::to_owned).collect(),
            }))
        }
    }

    /// A layer that lets requests through only with a live credential holding every scope of
    /// `scopes`. Apply it per route with `route_layer`.
    pub fn require<I, S>(&self, scopes: I) -> RequireScopesLayer
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RequireScopesLayer {
            guard: self.clone(),
            scopes: scopes.into_iter().map(Into::into).collect(),
        }
    }
}

/// See [`Guard::require`].
#[derive(Clone, Debug)]
pub struct RequireScopesLayer {
    guard: Guard,
    scopes: Arc<[String]>,
}

impl<S> Layer<S> for RequireScopesLayer {
    type Service = RequireScopes<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireScopes {
            inner,
            guard: self.guard.clone(),
            scopes: self.scopes.clone(),
        }
    }
}

/// The service [`RequireScopesLayer`] wraps around a route.
#[derive(Clone, Debug)]
pub struct RequireScopes<S> {
    inner: S,
    guard: Guard,
    scopes: Arc<[String]>,
}

impl<S> Service<Request> for RequireScopes<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        // The clone is not ready yet; keep the one that is (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let guard = self.guard.clone();
        let scopes = self.scopes.clone();
        Box::pin(async move {
            match guard.check(req.headers(), &scopes).await {
                Ok(principal) => {
                    req.extensions_mut().insert(principal);
                    inner.call(req).await
                }
                Err(rejection) => Ok(rejection.into_response()),
            }
        })
    }
}

impl<S> FromRequestParts<S> for Principal
where
    Guard: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(principal) = parts.extensions.get::<Principal>() {
            return Ok(principal.clone());
        }
        let guard = Guard::from_ref(state);
        let principal = guard.authenticate(&parts.headers).await?;
        parts.extensions.insert(principal.clone());
        Ok(principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::{Scheme, VerifyFuture};
    use axum::{body::Body, routing::get, Router};
    use http::{header, StatusCode};
    use tower::ServiceExt;

    /// Accepts the token "good" (item_read) and "down" fails as unavailable.
    struct Fixed;

    impl TokenVerifier for Fixed {
        fn verify_bearer<'a>(&'a self, token: &'a str) -> VerifyFuture<'a> {
            Box::pin(async move {
                match token {
                    "good" => Ok(Some(Principal {
                        merchant_id: "DEMO".into(),
                        client_id: Some("c".into()),
                        scopes: vec!["item_read".into()],
                        expires_at: None,
                        scheme: Scheme::Bearer,
                    })),
                    "down" => Err(VerifyError::Unavailable("test".into())),
                    _ => Ok(None),
                }
            })
        }
    }

    async fn whoami(p: Principal) -> String {
        p.merchant_id
    }

    fn app() -> Router {
        let guard = Guard::new(Fixed).with_realm("test");
        Router::new()
            .route(
                "/read",
                get(whoami).route_layer(guard.require(["item_read"])),
            )
            .route(
                "/write",
                get(whoami).route_layer(guard.require(["item_write"])),
            )
            .route("/open", get(whoami))
            .with_state(guard)
    }

    async fn call(path: &str, auth: Option<&str>) -> Response {
        let mut req = Request::builder().uri(path);
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        app()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_live_token_with_the_scope_reaches_the_handler() {
        let r = call("/read", Some("Bearer good")).await;
        assert_eq!(r.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn each_refusal_has_its_status_and_challenge() {
        let r = call("/write", Some("Bearer good")).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let c = r.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(c.contains("insufficient_scope") && c.contains("scope=\"item_write\""));

        let r = call("/read", Some("Bearer bad")).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("invalid_token"));

        let r = call("/read", None).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"test\""
        );

        let r = call("/read", Some("Bearer down")).await;
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn the_extractor_authenticates_on_a_route_without_the_layer() {
        assert_eq!(
            call("/open", Some("Bearer good")).await.status(),
            StatusCode::OK
        );
        assert_eq!(
            call("/open", Some("Bearer bad")).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }

    #[tokio::test]
    async fn simple_keys_are_refused_without_a_verifier() {
        let req = Request::builder()
            .uri("/read")
            .header("x-ultracart-simple-key", "k")
            .body(Body::empty())
            .unwrap();
        let r = app().oneshot(req).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers()["uc-rest-error"]
            .to_str()
            .unwrap()
            .contains("simple keys"));
    }
}
