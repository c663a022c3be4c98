//! Prometheus metrics, served at `GET /metrics` in the OpenMetrics text format.
//!
//! Two groups, each owned by the part that knows the facts:
//! - [`StoreMetrics`] lives in the [`Store`](crate::store::Store): protocol events counted
//!   *after* their transaction committed (grants, tokens, refreshes, revocations, reuse), and
//!   the latency of store operations.
//! - [`HttpMetrics`] lives in the [`AppState`](crate::http::AppState): requests by route and
//!   status, request latency, introspections, rate-limit hits.
//!
//! Every metric is per server instance (no global registry), so tests that run several servers
//! in one process see only their own numbers. The hot path costs a read lock and a hash lookup
//! per labelled metric; counters are atomics.
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `ucoauth_http_requests_total` | method, route, status | requests answered |
//! | `ucoauth_http_request_duration_seconds` | method, route | time to the response head |
//! | `ucoauth_grants_issued_total` | | merchant approvals (new grants) |
//! | `ucoauth_tokens_issued_total` | grant_type | access/refresh pairs issued |
//! | `ucoauth_refreshes_total` | | refresh-token rotations |
//! | `ucoauth_revocations_total` | reason | grants revoked |
//! | `ucoauth_reuse_detections_total` | credential | replayed codes, reused refresh tokens |
//! | `ucoauth_introspections_total` | active | RFC 7662 answers |
//! | `ucoauth_rate_limit_hits_total` | | requests answered 429 (only rate limits answer 429) |
//! | `ucoauth_store_operation_duration_seconds` | operation | store reads and durable writes |
//! | `ucoauth_access_checks_from_memory_total` | | access-token checks served from memory |
//! | `ucoauth_db_pool_connections` | state (idle, in_use) | pool usage at scrape time |
//! | `ucoauth_db_pool_max_connections` | | pool size limit |

use std::time::Duration;

use prometheus_client::{
    encoding::{text, EncodeLabelSet},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{exponential_buckets, Histogram},
    },
    registry::Registry,
};

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Latency buckets from 0.5 ms to about 16 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrantTypeLabels {
    grant_type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CredentialLabels {
    credential: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActiveLabels {
    active: bool,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

/// Protocol events and store latency. Clones share the same counters.
#[derive(Clone, Debug)]
pub struct StoreMetrics {
    operation_seconds: HistogramFamily<OperationLabels>,
    grants_issued: Counter,
    tokens_issued: Family<GrantTypeLabels, Counter>,
    refreshes: Counter,
    revocations: Family<ReasonLabels, Counter>,
    reuse_detections: Family<CredentialLabels, Counter>,
    access_checks_from_memory: Counter,
}

impl Default for StoreMetrics {
    fn default() -> Self {
        Self {
            operation_seconds: Family::new_with_constructor(latency_histogram),
            grants_issued: Counter::default(),
            tokens_issued: Family::default(),
            refreshes: Counter::default(),
            revocations: Family::default(),
            reuse_detections: Family::default(),
            access_checks_from_memory: Counter::default(),
        }
    }
}

impl StoreMetrics {
    /// A store operation named `operation` took `elapsed`.
    pub fn observe(&self, operation: &'static str, elapsed: Duration) {
        self.operation_seconds
            .get_or_create(&OperationLabels { operation })
            .observe(elapsed.as_secs_f64());
    }

    pub fn grant_issued(&self) {
        self.grants_issued.inc();
    }

    /// A token pair was issued under `grant_type` (`authorization_code`, `refresh_token`, ...).
    pub fn tokens_issued(&self, grant_type: &'static str) {
        self.tokens_issued
            .get_or_create(&GrantTypeLabels { grant_type })
            .inc();
    }

    pub fn refreshed(&self) {
        self.refreshes.inc();
    }

    /// A grant was revoked for `reason` (see `RevokeReason::as_str`).
    pub fn revoked(&self, reason: &'static str) {
        self.revocations
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// A single-use credential was presented again (`authorization_code`, `refresh_token`).
    pub fn reuse_detected(&self, credential: &'static str) {
        self.reuse_detections
            .get_or_create(&CredentialLabels { credential })
            .inc();
    }

    /// An access token's check was answered from memory, without reading the store.
    pub fn access_check_from_memory(&self) {
        self.access_checks_from_memory.inc();
    }

    fn register(&self, registry: &mut Registry) {
        registry.register(
            "store_operation_duration_seconds",
            "Time taken by store operations; writes include the wait for a durable commit",
            self.operation_seconds.clone(),
        );
        registry.register(
            "grants_issued",
            "Merchant approvals that created a grant",
            self.grants_issued.clone(),
        );
        registry.register(
            "tokens_issued",
            "Access/refresh token pairs issued, by grant type",
            self.tokens_issued.clone(),
        );
        registry.register(
            "refreshes",
            "Refresh-token rotations",
            self.refreshes.clone(),
        );
        registry.register(
            "revocations",
            "Grants revoked, by reason",
            self.revocations.clone(),
        );
        registry.register(
            "reuse_detections",
            "Single-use credentials presented again (each revokes its grant)",
            self.reuse_detections.clone(),
        );
        registry.register(
            "access_checks_from_memory",
            "Valid access-token checks answered from memory instead of the database",
            self.access_checks_from_memory.clone(),
        );
    }
}

/// Request-level metrics. Clones share the same counters.
#[derive(Clone, Debug)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: HistogramFamily<RouteLabels>,
    introspections: Family<ActiveLabels, Counter>,
    rate_limit_hits: Counter,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(latency_histogram),
            introspections: Family::default(),
            rate_limit_hits: Counter::default(),
        }
    }
}

impl HttpMetrics {
    /// A request to `route` (the matched route pattern, never the raw path) was answered.
    /// A 429 is counted as a rate-limit hit too: 429 is only ever a rate limit's answer.
    pub fn request(&self, method: &'static str, route: &str, status: u16, elapsed: Duration) {
        if status == 429 {
            self.rate_limit_hits.inc();
        }
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route: route.to_owned(),
                status,
            })
            .inc();
        self.duration
            .get_or_create(&RouteLabels {
                method,
                route: route.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    pub fn introspection(&self, active: bool) {
        self.introspections
            .get_or_create(&ActiveLabels { active })
            .inc();
    }

    fn register(&self, registry: &mut Registry) {
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route pattern and status",
            self.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from request to response head, by method and route pattern",
            self.duration.clone(),
        );
        registry.register(
            "introspections",
            "Token introspection answers (RFC 7662), by whether the token was active",
            self.introspections.clone(),
        );
        // Exported from the start (at 0), so alerts can be written against it.
        registry.register(
            "rate_limit_hits",
            "Requests refused with 429 by a rate limit",
            self.rate_limit_hits.clone(),
        );
    }
}

/// The registry behind `/metrics`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub http: HttpMetrics,
    pool_connections: Family<PoolLabels, Gauge>,
    pool_max: Gauge,
}

impl Metrics {
    /// Registers the store's metrics and a fresh set of HTTP metrics.
    pub fn new(store: &StoreMetrics) -> Self {
        let mut registry = Registry::with_prefix("ucoauth");
        let http = HttpMetrics::default();
        http.register(&mut registry);
        store.register(&mut registry);
        let pool_connections = Family::<PoolLabels, Gauge>::default();
        let pool_max = Gauge::default();
        registry.register(
            "db_pool_connections",
            "Database pool connections at scrape time, by state",
            pool_connections.clone(),
        );
        registry.register(
            "db_pool_max_connections",
            "Most connections the database pool opens",
            pool_max.clone(),
        );
        Self {
            registry,
            http,
            pool_connections,
            pool_max,
        }
    }

    /// The exposition text, with the pool gauges read now.
    pub fn render(&self, pool: PoolUsage) -> String {
        let idle = i64::from(pool.idle);
        self.pool_connections
            .get_or_create(&PoolLabels { state: "idle" })
            .set(idle);
        self.pool_connections
            .get_or_create(&PoolLabels { state: "in_use" })
            .set(i64::from(pool.size) - idle);
        self.pool_max.set(i64::from(pool.max));
        let mut out = String::with_capacity(8 * 1024);
        // Writing into a String cannot fail.
        let _ = text::encode(&mut out, &self.registry);
        out
    }
}

/// How busy the database pool is.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolUsage {
    /// Open connections.
    pub size: u32,
    /// Open connections not in use.
    pub idle: u32,
    /// The pool's limit.
    pub max: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_pool_gauges_are_rendered_with_their_labels() {
        let store = StoreMetrics::default();
        let metrics = Metrics::new(&store);
        metrics
            .http
            .request("GET", "/rest/v2/oauth/me", 200, Duration::from_millis(3));
        let before = metrics.render(PoolUsage::default());
        store.revoked("refresh_reuse");
        store.reuse_detected("refresh_token");
        let text = metrics.render(PoolUsage {
            size: 3,
            idle: 1,
            max: 8,
        });
        assert!(text.contains(
            r#"ucoauth_http_requests_total{method="GET",route="/rest/v2/oauth/me",status="200"} 1"#
        ), "{text}");
        assert!(text.contains(r#"ucoauth_revocations_total{reason="refresh_reuse"} 1"#));
        assert!(text.contains(r#"ucoauth_reuse_detections_total{credential="refresh_token"} 1"#));
        assert!(text.contains(r#"ucoauth_db_pool_connections{state="in_use"} 2"#));
        assert!(text.contains("ucoauth_db_pool_max_connections 8"));
        // Exported before the first hit, so alerts can be written against it.
        assert!(
            before.contains("ucoauth_rate_limit_hits_total 0"),
            "{before}"
        );
        metrics.http.request(
            "POST",
            "/rest/v2/oauth/token",
            429,
            Duration::from_millis(1),
        );
        let after = metrics.render(PoolUsage::default());
        assert!(after.contains("ucoauth_rate_limit_hits_total 1"), "{after}");
        assert!(text.contains("ucoauth_http_request_duration_seconds_bucket{"));
        assert!(text.ends_with("# EOF\n"));
    }
}
