//! The HTTP layer: the UltraCart-compatible API under `/rest/v2`, the login, consent and device
//! verification pages, the back office (`pages::backoffice`) and its JSON twin under
//! `/admin/api/v1` (`admin_api`), and the cross-cutting layers (security headers, panic guard, request
//! tracing).

pub mod admin_api;
pub mod api;
pub mod client_auth;
pub mod client_ip;
pub mod error;
pub mod form;
pub mod observe;
pub mod pages;
pub mod rate_limit;
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
    request_id::{PropagateRequestIdLayer, SetRequestIdLayer},
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

/// Everything a handler may need. Cloned for every request (axum's `State`), so it is one
/// `Arc`: one counter to bump instead of one per field.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The fields of [`AppState`].
pub struct Shared {
    pub store: Store,
    pub config: Arc<ServerConfig>,
    pub clock: Arc<dyn Clock>,
    /// This node's rate-limit counters.
    pub limiters: rate_limit::Limiters,
    /// What `/metrics` reports; includes the store's own counters.
    pub metrics: Arc<Metrics>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(store: Store, config: ServerConfig, clock: Arc<dyn Clock>) -> Self {
        Self(Arc::new(Shared {
            limiters: rate_limit::Limiters::new(config.rate_limits),
            metrics: Arc::new(Metrics::new(store.metrics())),
            store,
            config: Arc::new(config),
            clock,
        }))
    }

    pub fn now(&self) -> Millis {
        self.clock.now()
    }
}

/// The full application router.
pub fn router(state: AppState) -> Router {
    // The API's routes under their full paths: nested under `API_BASE` they paid a second
    // router's dispatch and a prefix strip on every request (docs/performance.md, change 20).
    let under_api = |path: &str| format!("{}{path}", paths::API_BASE);
    let limit = BodyLimit(state.config.max_body_bytes);
    let metrics = state.metrics.clone();
    // HSTS only when browsers reach us over TLS (a header on plain http is ignored anyway,
    // and would pin a development host).
    let hsts = state.config.public_url.scheme() == "https";
    Router::new()
        .route(
            &under_api(paths::AUTHORIZE),
            get(api::authorize::get).post(api::authorize::post),
        )
        .route(&under_api(paths::TOKEN), post(api::token::post))
        .route(&under_api(paths::REVOKE), post(api::revoke::post))
        .route(
            &under_api(paths::DEVICE_AUTHORIZE),
            post(api::device::post),
        )
        .route(&under_api(paths::INTROSPECT), post(api::introspect::post))
        .route(&under_api(paths::ME), get(api::me::get))
        .route(paths::METADATA, get(api::metadata::get))
        .route(paths::ADMIN_AUTHORIZE, get(api::authorize::admin_alias))
        .route("/login", get(pages::login::get).post(pages::login::post))
        .route("/logout", post(pages::login::logout))
        .route(
            pages::device::DEVICE_PAGE,
            get(pages::device::get).post(pages::device::post),
        )
        .route(pages::device::DEVICE_DECISION, post(pages::device::decide))
        .route(pages::device::DEVICE_APPROVED, get(pages::device::approved))
        .route(pages::device::DEVICE_DENIED, get(pages::device::denied))
        .route("/", get(pages::home::get))
        .merge(backoffice_routes())
        .nest(admin_api::BASE, admin_api::router())
        .route("/static/ucoauth.css", get(pages::stylesheet))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .fallback(not_found)
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(middleware::from_fn(move |mut req: Request, next: Next| {
            req.extensions_mut().insert(limit);
            next.run(req)
        }))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            security_headers(req, next, hsts)
        }))
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
        .layer(SetRequestIdLayer::new(
            observe::REQUEST_ID,
            observe::MakeRequestId,
        ))
        .layer(middleware::from_fn(observe::sanitize_request_id))
        .with_state(state)
}

/// `/healthz`: the process is up. A small JSON body that touches nothing else, which also
/// makes it the benchmark's baseline for the cost of the HTTP stack alone.
async fn healthz() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"status": "ok"}))
}

/// The back-office pages (see `pages::backoffice`).
fn backoffice_routes() -> Router<AppState> {
    use pages::backoffice::{applications, authorized, keys, users};
    Router::new()
        .route("/applications", get(applications::list))
        .route(
            "/applications/new",
            get(applications::new_form).post(applications::create),
        )
        .route(
            "/applications/{client_id}",
            get(applications::show).post(applications::update),
        )
        .route(
            "/applications/{client_id}/rotate-secret",
            post(applications::rotate_secret),
        )
        .route(
            "/applications/{client_id}/delete",
            get(applications::confirm_delete).post(applications::delete),
        )
        .route("/authorized", get(authorized::list))
        .route("/authorized/{grant_id}/revoke", post(authorized::revoke))
        .route("/keys", get(keys::list).post(keys::create))
        .route("/keys/{key_id}/revoke", post(keys::revoke))
        .route("/users", get(users::list).post(users::add))
        .route("/users/{user_id}/remove", post(users::remove))
        .route(
            "/users/{user_id}/password",
            get(users::password_form).post(users::change_password),
        )
}

/// Unknown paths: an error page for browsers, an `ErrorResponse` for everyone else.
async fn not_found(headers: axum::http::HeaderMap) -> Response {
    if pages::wants_html(&headers) {
        pages::error_page(
            axum::http::StatusCode::NOT_FOUND,
            "Page not found",
            "There is no page at this address.",
            "Go to the back office home page.",
        )
    } else {
        ApiError::not_found("no such endpoint; the API lives under /rest/v2").into_response()
    }
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
/// states, no caching unless a handler says otherwise, and HSTS when served over TLS.
async fn security_headers(req: Request, next: Next, hsts: bool) -> Response {
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
    if hsts {
        set(
            headers,
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=31536000; includeSubDomains",
        );
    }
    response
}

/// Serves `state` on `listener` until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Idle rate-limit keys are forgotten every minute so memory stays bounded.
    let limiters = state.limiters.clone();
    let pruner = tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            limiters.prune();
        }
    });
    let app = router(state);
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    pruner.abort();
    served
}
