//! The HTTP layer: the UltraCart-compatible API under `/rest/v2`, the login and consent pages,
//! and the cross-cutting layers (security headers, panic guard, request tracing).

pub mod api;
pub mod client_auth;
pub mod error;
pub mod form;
pub mod observe;
pub mod pages;
pub mod session;

use std::{future::Future, net::SocketAddr, sync::Arc};

use axum::{
    extract::{MatchedPath, Request},
    http::{header, HeaderValue},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
    Router,
};
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};
use ucoauth_wire::paths;

use crate::{
    clock::{Clock, Millis},
    config::ServerConfig,
    metrics::{self, Metrics},
    store::Store,
};
use error::ApiError;
use form::BodyLimit;

/// Everything a handler may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<ServerConfig>,
    pub clock: Arc<dyn Clock>,
    /// What `/metrics` reports; includes the store's own counters.
    pub metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(store: Store, config: ServerConfig, clock: Arc<dyn Clock>) -> Self {
        Self {
            metrics: Arc::new(Metrics::new(store.metrics())),
            store,
            config: Arc::new(config),
            clock,
        }
    }

    pub fn now(&self) -> Millis {
        self.clock.now()
    }
}

/// The full application router.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route(
            paths::AUTHORIZE,
            get(api::authorize::get).post(api::authorize::post),
        )
        .route(paths::TOKEN, post(api::token::post))
        .route(paths::REVOKE, post(api::revoke::post))
        .route(paths::INTROSPECT, post(api::introspect::post))
        .route(paths::ME, get(api::me::get));

    let limit = BodyLimit(state.config.max_body_bytes);
    let metrics = state.metrics.clone();
    Router::new()
        .nest(paths::API_BASE, api)
        .route(paths::METADATA, get(api::metadata::get))
        .route(paths::ADMIN_AUTHORIZE, get(api::authorize::admin_alias))
        .route("/login", get(pages::login::get).post(pages::login::post))
        .route("/logout", post(pages::login::logout))
        .route("/", get(pages::home::get))
        .route("/static/ucoauth.css", get(pages::stylesheet))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .fallback(|| async {
            ApiError::not_found("no such endpoint; the API lives under /rest/v2")
        })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(middleware::from_fn(move |mut req: Request, next: Next| {
            req.extensions_mut().insert(limit);
            next.run(req)
        }))
        .layer(middleware::from_fn(security_headers))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal(&"a request handler panicked").into_response()
        }))
        .layer(middleware::from_fn_with_state(metrics, observe::record))
        .layer(
            // Paths only: query strings can carry codes and states, so they are never logged.
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                let route = req
                    .extensions()
                    .get::<MatchedPath>()
                    .map_or("-", MatchedPath::as_str);
                let request_id = req
                    .headers()
                    .get(observe::REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", method = %req.method(), route = %route, request_id = %request_id)
            }),
        )
        // Outermost first on the way in: sanitize an incoming id, mint one if absent, and
        // copy it to the response.
        .layer(PropagateRequestIdLayer::new(observe::REQUEST_ID))
        .layer(SetRequestIdLayer::new(observe::REQUEST_ID, MakeRequestUuid))
        .layer(middleware::from_fn(observe::sanitize_request_id))
        .with_state(state)
}

/// `/readyz`: 200 when the database answers, 503 otherwise.
async fn readyz(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => "ready".into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// `/metrics`: Prometheus metrics in the OpenMetrics text format.
async fn metrics_text(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    let body = state.metrics.render(state.store.pool_usage());
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(metrics::CONTENT_TYPE),
        )],
        body,
    )
        .into_response()
}

/// Headers every response carries: no framing, no sniffing, no referrer leaks of codes or
/// states, and no caching unless a handler says otherwise.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name, value: &'static str| {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::CACHE_CONTROL, "no-store");
    response
}

/// Serves `state` on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
