//! Observability layers: request ids and request metrics.
//!
//! Every request gets an `x-request-id`: the one the client (or a proxy in front) sent, if it
//! looks like an id, else a fresh UUID. It is in the request span, so every log line written
//! while handling the request carries it, and it is echoed on the response so a user's report
//! can be matched to the logs.

use std::{sync::Arc, time::Instant};

use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderName, HeaderValue, Method},
    middleware::Next,
    response::Response,
};
use tower_http::request_id::RequestId;

use crate::metrics::Metrics;

/// The request id header.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest incoming request id kept.
const MAX_REQUEST_ID: usize = 64;

/// Whether an incoming id is safe to log and echo: 1–64 characters of `[A-Za-z0-9._:-]`.
pub fn is_acceptable_request_id(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Mints the ids of requests that came without one: random (version 4) UUIDs drawn from the
/// thread's CSPRNG (`rand`'s, seeded from the operating system), where tower-http's
/// `MakeRequestUuid` made a `getrandom` system call for every request.
#[derive(Clone, Copy, Debug, Default)]
pub struct MakeRequestId;

impl tower_http::request_id::MakeRequestId for MakeRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&random_uuid())
            .ok()
            .map(RequestId::new)
    }
}

/// A random UUID (RFC 9562, version 4) in its hyphenated form.
fn random_uuid() -> String {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// Drops an incoming `x-request-id` that is not an acceptable id (or is sent twice), so the
/// next layer mints one. Log lines then never carry client-chosen text of arbitrary shape.
pub async fn sanitize_request_id(mut req: Request, next: Next) -> Response {
    let headers = req.headers();
    let mut values = headers.get_all(&REQUEST_ID).iter();
    let keep = match (values.next(), values.next()) {
        (Some(v), None) => is_acceptable_request_id(v.as_bytes()),
        (None, _) => true,
        (Some(_), Some(_)) => false,
    };
    if !keep {
        req.headers_mut().remove(&REQUEST_ID);
    }
    next.run(req).await
}

/// Counts and times each request under its route pattern (never the raw path, whose variety
/// is unbounded), or `unmatched` for requests no route took.
pub async fn record(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(req).await;
    metrics.http.request(
        method,
        route.as_deref().unwrap_or("unmatched"),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_request_ids_are_kept() {
        assert!(is_acceptable_request_id(b"3f2c9a-01.x:y_z"));
        assert!(!is_acceptable_request_id(b""));
        assert!(!is_acceptable_request_id(b"has space"));
        assert!(!is_acceptable_request_id(b"line\nbreak"));
        assert!(!is_acceptable_request_id(&[b'a'; 65]));
    }

    #[test]
    fn minted_ids_are_distinct_version_4_uuids() {
        let ids: Vec<String> = (0..64).map(|_| random_uuid()).collect();
        for id in &ids {
            let groups: Vec<usize> = id.split('-').map(str::len).collect();
            assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
            assert!(
                id.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit()),
                "{id}"
            );
            assert_eq!(&id[14..15], "4", "version: {id}");
            assert!("89ab".contains(&id[19..20]), "variant: {id}");
            assert!(is_acceptable_request_id(id.as_bytes()));
        }
        let distinct: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
    }
}
