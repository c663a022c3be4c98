//! Operations: /metrics after a real flow, request ids in responses and logs, /healthz,
//! /readyz, and graceful shutdown finishing a request in flight.

use std::{sync::Arc, time::Duration};

use reqwest::{header, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ucoauth_server::{config::ServerConfig, AppState};
use url::Url;

use crate::helpers::*;

async fn metrics(server: &TestServer) -> String {
    let r = server
        .client()
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    r.text().await.unwrap()
}

/// The value of the sample line that starts with `series` (name and labels, exactly).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split(' ').next()?.parse().ok())
}

#[tokio::test]
async fn metrics_count_what_a_flow_did() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;

    // A grant, its tokens, one refresh, then a reuse of the rotated-out refresh token.
    let (access, refresh) = server.tokens(&client_id).await;
    assert_eq!(server.me(&access).await.status(), StatusCode::OK);
    assert_eq!(
        server.refresh(&client_id, &refresh).await.status(),
        StatusCode::OK
    );
    server.clock.advance(11_000);
    let reuse = server.refresh(&client_id, &refresh).await;
    assert_oauth_error(reuse, StatusCode::BAD_REQUEST, "invalid_grant").await;

    // A second grant whose code is replayed, and a third revoked by its client.
    let code = server.code_for(&client_id, &[]).await;
    server.exchange(&client_id, &code).await;
    let replay = server
        .post_form(
            "/oauth/token",
            &[
                ("client_id", &client_id),
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
            ],
        )
        .await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    let (third, _) = server.tokens(&client_id).await;
    let r = server
        .post_form(
            "/oauth/revoke",
            &[("client_id", &client_id), ("token", &third)],
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["successful"], true);
    let r = server
        .client()
        .get(format!("{}/no/such/path", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let text = metrics(&server).await;
    let expect = |series: &str, value: f64| {
        assert_eq!(sample(&text, series), Some(value), "{series} in:\n{text}");
    };
    expect("ucoauth_grants_issued_total", 3.0);
    expect(
        r#"ucoauth_tokens_issued_total{grant_type="authorization_code"}"#,
        3.0,
    );
    expect(
        r#"ucoauth_tokens_issued_total{grant_type="refresh_token"}"#,
        1.0,
    );
    expect("ucoauth_refreshes_total", 1.0);
    expect(
        r#"ucoauth_reuse_detections_total{credential="refresh_token"}"#,
        1.0,
    );
    expect(
        r#"ucoauth_reuse_detections_total{credential="authorization_code"}"#,
        1.0,
    );
    expect(r#"ucoauth_revocations_total{reason="refresh_reuse"}"#, 1.0);
    expect(r#"ucoauth_revocations_total{reason="code_replay"}"#, 1.0);
    expect(r#"ucoauth_revocations_total{reason="client_request"}"#, 1.0);
    expect(
        r#"ucoauth_http_requests_total{method="POST",route="/rest/v2/oauth/token",status="200"}"#,
        4.0,
    );
    expect(
        r#"ucoauth_http_requests_total{method="POST",route="/rest/v2/oauth/token",status="400"}"#,
        2.0,
    );
    expect(
        r#"ucoauth_http_requests_total{method="GET",route="/rest/v2/oauth/me",status="200"}"#,
        1.0,
    );
    expect(
        r#"ucoauth_http_requests_total{method="GET",route="unmatched",status="404"}"#,
        1.0,
    );
    expect("ucoauth_rate_limit_hits_total", 0.0);
    expect("ucoauth_db_pool_max_connections", 8.0);
    assert!(
        sample(
            &text,
            r#"ucoauth_http_request_duration_seconds_count{method="POST",route="/rest/v2/oauth/token"}"#
        ) == Some(6.0),
        "{text}"
    );
    // Every durable write was timed, and so were the access-token lookups.
    let writes = sample(
        &text,
        r#"ucoauth_store_operation_duration_seconds_count{operation="write"}"#,
    )
    .unwrap();
    assert!(writes >= 10.0, "writes timed: {writes}");
    assert!(sample(
        &text,
        r#"ucoauth_store_operation_duration_seconds_count{operation="find_access"}"#
    )
    .is_some());
    // Raw paths never become labels.
    assert!(!text.contains("/no/such/path"));
    assert!(text.ends_with("# EOF\n"));
}

#[tokio::test]
async fn every_response_carries_a_request_id_that_the_logs_carry_too() {
    let server = TestServer::start().await;
    let get = |id: Option<&'static str>| {
        let mut r = server.client().get(format!("{}/healthz", server.base));
        if let Some(id) = id {
            r = r.header("x-request-id", id);
        }
        r.send()
    };
    let minted = get(None).await.unwrap();
    let id = minted.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let other = get(None).await.unwrap();
    assert_ne!(other.headers()["x-request-id"].to_str().unwrap(), id);

    let kept = get(Some("lb-7f3a.42")).await.unwrap();
    assert_eq!(kept.headers()["x-request-id"], "lb-7f3a.42");
    let replaced = get(Some("has spaces; and=junk")).await.unwrap();
    let new = replaced.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(new.len(), 36, "an unacceptable id is replaced: {new}");

    // A log line written while handling a request names the request id.
    let (client_id, _) = server.app(|_| {}).await;
    let (access, _) = server.tokens(&client_id).await;
    let r = server
        .client()
        .post(format!("{}/oauth/revoke", server.api))
        .header("x-request-id", "trace-me-5150")
        .form(&[
            ("client_id", client_id.as_str()),
            ("token", access.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-me-5150");
    let logs = captured_logs();
    let line = logs
        .lines()
        .find(|l| l.contains("request_id=trace-me-5150") && l.contains("grant revoked"))
        .unwrap_or_else(|| {
            panic!(
                "no revocation log line with the request id:\n{}",
                logs.lines()
                    .filter(|l| l.contains("revoked"))
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        });
    assert!(!line.contains(&access), "the token must not be logged");
}

#[tokio::test]
async fn healthz_is_up_and_readyz_follows_the_database() {
    let server = TestServer::start().await;
    let get = |path: &'static str| server.client().get(format!("{}{path}", server.base)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), StatusCode::OK);
    assert_eq!(get("/readyz").await.unwrap().status(), StatusCode::OK);

    server.store.close().await;
    let r = get("/readyz").await.unwrap();
    assert_eq!(r.headers()[header::RETRY_AFTER], "1");
    assert_error_response(r, StatusCode::SERVICE_UNAVAILABLE).await;
    // The process is still up.
    assert_eq!(get("/healthz").await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn shutdown_finishes_the_request_in_flight_then_stops() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let (access, _) = server.tokens(&client_id).await;

    // A node of our own, so the test holds its shutdown switch and its task.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = ServerConfig::new(
        Url::parse(&format!("http://{addr}")).unwrap(),
        server.pepper.clone(),
    );
    let state = AppState::new(server.store.clone(), config, Arc::new(server.clock.clone()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(ucoauth_server::serve(listener, state, async {
        let _ = stopped.await;
    }));

    // Start a revocation and hold its body back. `Expect: 100-continue` makes the server say
    // when the handler starts reading the body, so we know the request is in flight.
    let body = format!("client_id={client_id}&token={access}");
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /rest/v2/oauth/revoke HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut buf = [0u8; 256];
    let n = conn.read(&mut buf).await.unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 100"),
        "expected 100 Continue"
    );

    stop.send(()).unwrap();
    conn.write_all(body.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut response))
        .await
        .expect("the response arrives")
        .unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""successful":true"#), "{response}");

    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("serve returns once the request is done")
        .unwrap()
        .unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    // The revocation was carried out, not cut off.
    assert_eq!(server.me(&access).await.status(), StatusCode::UNAUTHORIZED);
}

/// SQLite: while another process holds the write lock past the busy timeout (5 s), a grant is
/// answered 503 with `Retry-After` (nothing was written, try again), token checks keep working
/// (WAL readers do not wait for writers), and the same request succeeds once the lock is gone.
#[tokio::test]
async fn a_write_lock_held_elsewhere_is_503_for_writes_while_reads_go_on() {
    let server = TestServer::start().await;
    let Some(path) = server.db.sqlite_path() else {
        return; // PostgreSQL: lock waits end in statement_timeout, covered by the cluster tests.
    };
    let (client_id, _) = server.app(|_| {}).await;
    let (access, refresh) = server.tokens(&client_id).await;

    let holder = rusqlite::Connection::open(path).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let r = server.refresh(&client_id, &refresh).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().contains_key(header::RETRY_AFTER));
    assert_eq!(server.me(&access).await.status(), StatusCode::OK);
    holder.execute_batch("ROLLBACK").unwrap();

    let r = server.refresh(&client_id, &refresh).await;
    assert_eq!(r.status(), StatusCode::OK);
}
