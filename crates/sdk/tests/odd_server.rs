//! The SDK against a deliberately odd HTTP server on 127.0.0.1:0.
//!
//! The server is raw tokio: it reads one HTTP/1.1 request per connection, records it, and writes
//! exactly the bytes a scenario calls for (HTML error pages, truncated JSON, slow answers, ...).
//! The scenario is the first path segment, so each test points its base URL at
//! `http://127.0.0.1:PORT/<scenario>/rest/v2`.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, SystemTime},
};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use ucoauth_sdk::{
    AccessToken, AccessTokenOpts, AuthorizationCode, ClientAuthMethod, ClientId, ClientSecret,
    Configuration, DeviceCode, DeviceFlowError, OauthApi, PkceVerifier, RedirectUrl, RefreshToken,
    SdkError, TokenSet, TokenSource,
};

// ---------------------------------------------------------------------------------------------
// The odd server
// ---------------------------------------------------------------------------------------------

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    /// Lower-cased names.
    headers: Vec<(String, String)>,
    body: String,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the server writes back.
struct Reply {
    status: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    delay: Duration,
}

impl Reply {
    fn json(status: &'static str, body: &str) -> Self {
        Self {
            status,
            headers: vec![("Content-Type", "application/json".into())],
            body: body.as_bytes().to_vec(),
            delay: Duration::ZERO,
        }
    }

    fn with_header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

#[derive(Default)]
struct ServerState {
    requests: Mutex<Vec<Recorded>>,
    device_polls: AtomicUsize,
}

struct OddServer {
    origin: String,
    state: Arc<ServerState>,
}

impl OddServer {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(ServerState::default());
        let accept_state = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_one(stream, Arc::clone(&accept_state)));
            }
        });
        Self { origin, state }
    }

    /// The API base for `scenario`.
    fn base(&self, scenario: &str) -> String {
        format!("{}/{scenario}/rest/v2", self.origin)
    }

    fn api(&self, scenario: &str) -> OauthApi {
        OauthApi::new(self.config(scenario).build().unwrap())
    }

    fn config(&self, scenario: &str) -> ucoauth_sdk::ConfigurationBuilder {
        Configuration::builder().base_url(self.base(scenario))
    }

    fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    fn requests_to(&self, path_suffix: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.ends_with(path_suffix))
            .collect()
    }
}

async fn serve_one(mut stream: TcpStream, state: Arc<ServerState>) {
    let Some(request) = read_request(&mut stream).await else {
        return;
    };
    state.requests.lock().unwrap().push(request.clone());
    let reply = route(&request, &state);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut head = format!(
        "HTTP/1.1 {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        reply.status,
        reply.body.len()
    );
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(&reply.body).await;
    let _ = stream.shutdown().await;
}

async fn read_request(stream: &mut TcpStream) -> Option<Recorded> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let path = request_line.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Recorded {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

const GOOD_TOKEN: &str = r#"{"access_token":"at1","token_type":"bearer","expires_in":"3600","refresh_token":"rt1","scope":"item_read order_read","merchant_id":"DEMO"}"#;

fn route(request: &Recorded, state: &ServerState) -> Reply {
    let scenario = request.path.split('/').nth(1).unwrap_or_default();
    let endpoint = request.path.split("/rest/v2").nth(1).unwrap_or_default();
    match (scenario, endpoint) {
        ("ok", "/oauth/token") => Reply::json("200 OK", GOOD_TOKEN),
        ("ok", "/oauth/revoke") => Reply::json(
            "200 OK",
            r#"{"successful":true,"message":"Access to the application has been revoked."}"#,
        ),
        ("ok", "/oauth/device/authorize") => Reply::json(
            "200 OK",
            r#"{"device_code":"dc1","user_code":"WDJB-MJHT","verification_uri":"http://x/device","expires_in":900,"interval":5}"#,
        ),
        ("ok", "/oauth/me") => Reply::json(
            "200 OK",
            r#"{"merchant_id":"DEMO","merchant_name":"Demo","client_id":"cid","application_name":"App","scopes":["item_read"],"extra":{"nested":[1,2]}}"#,
        ),
        ("numeric", _) => Reply::json(
            "200 OK",
            r#"{"access_token":"at1","token_type":"bearer","expires_in":3600}"#,
        ),
        ("sparse", _) => Reply::json("200 OK", r#"{"unknown_field":true}"#),
        ("html502", _) => Reply {
            status: "502 Bad Gateway",
            headers: vec![("Content-Type", "text/html".into())],
            body: b"<html><body><h1>502 Bad Gateway</h1>nginx</body></html>".to_vec(),
            delay: Duration::ZERO,
        },
        ("truncated", _) => Reply::json("200 OK", r#"{"access_token":"at1","expires_in":"36"#),
        ("empty", _) => Reply::json("200 OK", ""),
        ("big", _) => Reply::json(
            "200 OK",
            &format!(r#"{{"access_token":"{}"}}"#, "a".repeat(3 * 1024 * 1024)),
        ),
        ("ucerror", _) => Reply::json(
            "400 Bad Request",
            r#"{"success":false,"error":{"developer_message":"client_id is required","user_message":"client_id is required","error_code":"400"},"metadata":{}}"#,
        )
        .with_header("UC-REST-ERROR", "client_id is required"),
        ("invalidgrant", _) => Reply::json(
            "400 Bad Request",
            r#"{"error":"invalid_grant","error_description":"Authorization code is invalid or expired"}"#,
        )
        .with_header("UC-REST-ERROR", "Authorization code is invalid or expired"),
        ("ok200error", _) => Reply::json("200 OK", r#"{"error":"invalid_grant"}"#),
        ("redirect", _) => Reply::json("302 Found", "")
            .with_header("Location", "http://127.0.0.1:1/elsewhere"),
        ("slow", _) => Reply::json("200 OK", GOOD_TOKEN).after(Duration::from_secs(2)),
        ("refresh", "/oauth/token") => Reply::json(
            "200 OK",
            r#"{"access_token":"at-new","token_type":"bearer","expires_in":"3600","refresh_token":"rt-new"}"#,
        )
        .after(Duration::from_millis(100)),
        ("device", "/oauth/token") => {
            match state.device_polls.fetch_add(1, Ordering::SeqCst) {
                0 => oauth_error("authorization_pending"),
                1 => oauth_error("slow_down"),
                _ => Reply::json("200 OK", GOOD_TOKEN),
            }
        }
        ("denied", _) => oauth_error("access_denied"),
        ("expired", _) => oauth_error("expired_token"),
        _ => Reply::json("404 Not Found", r#"{"success":false}"#),
    }
}

fn oauth_error(code: &str) -> Reply {
    Reply::json(
        "400 Bad Request",
        &format!(r#"{{"error":"{code}","error_description":"{code} described"}}"#),
    )
    .with_header("UC-REST-ERROR", &format!("{code} described"))
}

fn client_id() -> ClientId {
    ClientId::new("cid")
}

// ---------------------------------------------------------------------------------------------
// Request side: what the SDK puts on the wire
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn code_exchange_sends_the_exact_form_and_default_headers() {
    let server = OddServer::start().await;
    let verifier = PkceVerifier::new_random();
    let verifier_text = verifier.secret().to_owned();
    let redirect = RedirectUrl::new("https://app.example/cb?a=1 2").unwrap();
    let tokens = server
        .api("ok")
        .exchange_code(
            &client_id(),
            &AuthorizationCode::new("c+1&x"),
            Some(&redirect),
            Some(verifier),
        )
        .await
        .unwrap();
    assert_eq!(tokens.access_token.secret(), "at1");
    assert_eq!(tokens.refresh_token, Some(RefreshToken::new("rt1")));
    assert_eq!(tokens.merchant_id.as_deref(), Some("DEMO"));

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/ok/rest/v2/oauth/token");
    assert_eq!(
        request.body,
        format!(
            "client_id=cid&grant_type=authorization_code&code=c%2B1%26x\
             &redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fa%3D1+2&code_verifier={verifier_text}"
        )
    );
    assert_eq!(
        request.header("x-ultracart-api-version"),
        Some("2017-03-01")
    );
    assert_eq!(request.header("accept"), Some("application/json"));
    assert_eq!(
        request.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        request.header("user-agent"),
        Some(concat!("ucoauth-sdk/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(request.header("authorization"), None);
    assert_eq!(request.header("x-ultracart-simple-key"), None);
}

#[tokio::test]
async fn client_secret_goes_in_basic_auth_when_configured_so() {
    let server = OddServer::start().await;
    let api = OauthApi::new(
        server
            .config("ok")
            .client_secret(
                ClientSecret::new("s3c:ret"),
                ClientAuthMethod::ClientSecretBasic,
            )
            // Basic takes the Authorization header; the bearer token must not replace it.
            .access_token(AccessToken::new("bearer-token"))
            .build()
            .unwrap(),
    );
    api.refresh(&client_id(), &RefreshToken::new("rt0"))
        .await
        .unwrap();
    let request = &server.requests()[0];
    let expected = format!("Basic {}", STANDARD.encode("cid:s3c%3Aret"));
    assert_eq!(request.header("authorization"), Some(expected.as_str()));
    assert_eq!(
        request.body,
        "client_id=cid&grant_type=refresh_token&refresh_token=rt0"
    );
}

#[tokio::test]
async fn client_secret_goes_in_the_form_when_configured_so() {
    let server = OddServer::start().await;
    let api = OauthApi::new(
        server
            .config("ok")
            .client_secret(
                ClientSecret::new("s3 cret"),
                ClientAuthMethod::ClientSecretPost,
            )
            .build()
            .unwrap(),
    );
    api.oauth_revoke("cid", "at1").await.unwrap();
    let request = &server.requests()[0];
    assert_eq!(request.path, "/ok/rest/v2/oauth/revoke");
    assert_eq!(
        request.body,
        "client_id=cid&token=at1&client_secret=s3+cret"
    );
    assert_eq!(request.header("authorization"), None);
}

#[tokio::test]
async fn api_keys_and_bearer_are_attached_and_the_version_header_can_be_switched_off() {
    let server = OddServer::start().await;
    let api = OauthApi::new(
        server
            .config("ok")
            .simple_key("simple-1")
            .browser_key("browser-2")
            .access_token(AccessToken::new("at-9"))
            .api_version_header(false)
            .user_agent("my-app/2")
            .build()
            .unwrap(),
    );
    let started = api.oauth_device_authorize("cid", "crm").await.unwrap();
    assert_eq!(started.interval, Some(5));
    assert_eq!(started.device_code.as_deref(), Some("dc1"));
    let request = &server.requests()[0];
    assert_eq!(request.path, "/ok/rest/v2/oauth/device/authorize");
    assert_eq!(request.body, "client_id=cid&scope=crm");
    assert_eq!(request.header("x-ultracart-api-version"), None);
    assert_eq!(request.header("x-ultracart-simple-key"), Some("simple-1"));
    assert_eq!(request.header("x-ultracart-browser-key"), Some("browser-2"));
    assert_eq!(request.header("authorization"), Some("Bearer at-9"));
    assert_eq!(request.header("user-agent"), Some("my-app/2"));
}

#[tokio::test]
async fn me_is_a_get_with_the_bearer_token_and_no_body() {
    let server = OddServer::start().await;
    let api = OauthApi::new(
        Configuration::builder()
            .base_url(format!("{}/", server.base("ok")))
            .simple_key("simple-1")
            .build()
            .unwrap(),
    )
    .with_access_token(AccessToken::new("at1"))
    .unwrap();
    let me = api.oauth_me().await.unwrap();
    assert_eq!(me.merchant_id.as_deref(), Some("DEMO"));
    assert_eq!(me.scopes, Some(vec!["item_read".to_owned()]));
    let request = &server.requests()[0];
    assert_eq!(request.method, "GET");
    assert_eq!(request.path, "/ok/rest/v2/oauth/me");
    assert_eq!(request.header("authorization"), Some("Bearer at1"));
    assert_eq!(request.header("x-ultracart-simple-key"), None);
    assert_eq!(request.header("content-type"), None);
    assert_eq!(request.body, "");
}

#[tokio::test]
async fn me_without_a_token_falls_back_to_the_simple_key() {
    let server = OddServer::start().await;
    let api = OauthApi::new(server.config("ok").simple_key("simple-1").build().unwrap());
    api.oauth_me().await.unwrap();
    let request = &server.requests()[0];
    assert_eq!(request.header("authorization"), None);
    assert_eq!(request.header("x-ultracart-simple-key"), Some("simple-1"));
}

// ---------------------------------------------------------------------------------------------
// Response side: odd answers become values or the right error
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn numeric_expires_in_is_accepted() {
    let server = OddServer::start().await;
    let before = SystemTime::now();
    let tokens = server
        .api("numeric")
        .refresh(&client_id(), &RefreshToken::new("rt0"))
        .await
        .unwrap();
    // Measured from when the request was sent, which is just after `before`.
    let left = tokens.expires_in(before).unwrap();
    assert!(
        left >= Duration::from_secs(3600) && left < Duration::from_secs(3610),
        "{left:?}"
    );
    // No refresh token in the answer: the one used is kept.
    assert_eq!(tokens.refresh_token, Some(RefreshToken::new("rt0")));
}

#[tokio::test]
async fn missing_fields_succeed_as_nones() {
    let server = OddServer::start().await;
    let api = server.api("sparse");
    let raw = api
        .oauth_access_token("cid", "refresh_token", AccessTokenOpts::default())
        .await
        .unwrap();
    assert_eq!(raw, ucoauth_sdk::OauthTokenResponse::default());
    let revoke = api.oauth_revoke("cid", "t").await.unwrap();
    assert_eq!(revoke.successful, None);
    let me = api.oauth_me().await.unwrap();
    assert_eq!(me.merchant_id, None);
    // The typed helper needs an access token and says so.
    let err = api
        .refresh(&client_id(), &RefreshToken::new("rt0"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SdkError::InvalidTokenResponse { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_html_502_is_an_api_error_with_the_raw_body() {
    let server = OddServer::start().await;
    let err = server
        .api("html502")
        .oauth_revoke("cid", "t")
        .await
        .unwrap_err();
    match &err {
        SdkError::Api {
            status,
            body,
            error_response,
            oauth_error,
            uc_rest_error,
        } => {
            assert_eq!(status.as_u16(), 502);
            assert!(body.contains("<h1>502 Bad Gateway</h1>"));
            assert!(error_response.is_none() && oauth_error.is_none() && uc_rest_error.is_none());
        }
        other => panic!("expected Api, got {other:?}"),
    }
    assert_eq!(err.status().map(|s| s.as_u16()), Some(502));
}

#[tokio::test]
async fn truncated_json_with_200_is_a_decode_error_with_the_bytes() {
    let server = OddServer::start().await;
    let err = server
        .api("truncated")
        .oauth_access_token("cid", "refresh_token", AccessTokenOpts::default())
        .await
        .unwrap_err();
    match &err {
        SdkError::Decode { status, body, .. } => {
            assert_eq!(status.as_u16(), 200);
            assert_eq!(body, r#"{"access_token":"at1","expires_in":"36"#);
        }
        other => panic!("expected Decode, got {other:?}"),
    }
}

#[tokio::test]
async fn an_empty_200_body_is_a_decode_error() {
    let server = OddServer::start().await;
    let err = server.api("empty").oauth_me().await.unwrap_err();
    assert!(
        matches!(&err, SdkError::Decode { body, .. } if body.is_empty()),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_oversized_body_is_cut_at_one_mebibyte_and_fails_to_parse() {
    let server = OddServer::start().await;
    let err = server
        .api("big")
        .oauth_access_token("cid", "refresh_token", AccessTokenOpts::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SdkError::Decode { body, .. } if body.len() == 1024 * 1024),
        "{err}"
    );
}

#[tokio::test]
async fn an_error_response_body_and_uc_rest_error_header_are_exposed() {
    let server = OddServer::start().await;
    let err = server
        .api("ucerror")
        .oauth_revoke("", "t")
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(400));
    assert_eq!(err.uc_rest_error(), Some("client_id is required"));
    let body = err.error_response().expect("parsed ErrorResponse");
    assert_eq!(body.success, Some(false));
    let detail = body.error.as_ref().unwrap();
    assert_eq!(
        detail.developer_message.as_deref(),
        Some("client_id is required")
    );
    assert_eq!(detail.error_code.as_deref(), Some("400"));
    assert_eq!(err.oauth_error_code(), None);
    assert!(err.to_string().contains("client_id is required"), "{err}");
}

#[tokio::test]
async fn an_oauth_shaped_error_exposes_its_code() {
    let server = OddServer::start().await;
    let err = server
        .api("invalidgrant")
        .exchange_code(&client_id(), &AuthorizationCode::new("c"), None, None)
        .await
        .unwrap_err();
    assert_eq!(err.oauth_error_code(), Some("invalid_grant"));
    assert_eq!(
        err.oauth_error_description(),
        Some("Authorization code is invalid or expired")
    );
    assert_eq!(
        err.uc_rest_error(),
        Some("Authorization code is invalid or expired")
    );
    assert!(err.error_response().is_none());
}

#[tokio::test]
async fn a_200_with_an_oauth_error_is_not_taken_for_a_token() {
    let server = OddServer::start().await;
    let err = server
        .api("ok200error")
        .oauth_access_token("cid", "refresh_token", AccessTokenOpts::default())
        .await
        .unwrap_err();
    assert_eq!(err.oauth_error_code(), Some("invalid_grant"));
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let server = OddServer::start().await;
    let err = server
        .api("redirect")
        .oauth_access_token("cid", "refresh_token", AccessTokenOpts::default())
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(302));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_slow_answer_beyond_the_timeout_is_a_transport_timeout() {
    let server = OddServer::start().await;
    let api = OauthApi::new(
        server
            .config("slow")
            .timeout(Duration::from_millis(300))
            .build()
            .unwrap(),
    );
    let started = std::time::Instant::now();
    let err = api
        .oauth_access_token("cid", "refresh_token", AccessTokenOpts::default())
        .await
        .unwrap_err();
    assert!(matches!(err, SdkError::Transport(_)), "{err:?}");
    assert!(err.is_timeout());
    assert!(started.elapsed() < Duration::from_millis(1500));
}

#[tokio::test]
async fn a_closed_port_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let api = OauthApi::new(
        Configuration::builder()
            .base_url(format!("http://127.0.0.1:{port}/rest/v2"))
            .build()
            .unwrap(),
    );
    let err = api.oauth_me().await.unwrap_err();
    assert!(matches!(err, SdkError::Transport(_)), "{err:?}");
    assert_eq!(err.status(), None);
}

// ---------------------------------------------------------------------------------------------
// TokenSource
// ---------------------------------------------------------------------------------------------

fn expired_set() -> TokenSet {
    TokenSet {
        access_token: AccessToken::new("at-old"),
        refresh_token: Some(RefreshToken::new("rt-old")),
        scope: Some("item_read".into()),
        merchant_id: Some("DEMO".into()),
        expires_at: Some(SystemTime::now() - Duration::from_secs(10)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_callers_cause_one_refresh_and_one_save() {
    let server = OddServer::start().await;
    let saved: Arc<Mutex<Vec<TokenSet>>> = Arc::default();
    let saved_by_callback = Arc::clone(&saved);
    let source = TokenSource::new(server.api("refresh"), client_id(), expired_set()).on_refresh(
        move |tokens: &TokenSet| -> Result<(), std::io::Error> {
            saved_by_callback.lock().unwrap().push(tokens.clone());
            Ok(())
        },
    );

    let callers: Vec<_> = (0..10)
        .map(|_| {
            let source = source.clone();
            tokio::spawn(async move { source.access_token().await })
        })
        .collect();
    for caller in callers {
        assert_eq!(caller.await.unwrap().unwrap().secret(), "at-new");
    }

    let refreshes = server.requests_to("/oauth/token");
    assert_eq!(refreshes.len(), 1, "{refreshes:#?}");
    assert_eq!(
        refreshes[0].body,
        "client_id=cid&grant_type=refresh_token&refresh_token=rt-old"
    );
    let saved = saved.lock().unwrap().clone();
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0].access_token.secret(), "at-new");
    assert_eq!(saved[0].refresh_token, Some(RefreshToken::new("rt-new")));
    // Left out of the refresh answer, so carried over.
    assert_eq!(saved[0].scope.as_deref(), Some("item_read"));
    assert_eq!(saved[0].merchant_id.as_deref(), Some("DEMO"));
    assert_eq!(source.token_set().await, saved[0]);

    // Fresh now: no more requests.
    source.access_token().await.unwrap();
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_fresh_token_is_served_without_a_request() {
    let server = OddServer::start().await;
    let mut tokens = expired_set();
    tokens.expires_at = Some(SystemTime::now() + Duration::from_secs(3600));
    let source = TokenSource::new(server.api("refresh"), client_id(), tokens);
    assert_eq!(source.access_token().await.unwrap().secret(), "at-old");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn the_margin_triggers_a_refresh_before_expiry() {
    let server = OddServer::start().await;
    let mut tokens = expired_set();
    tokens.expires_at = Some(SystemTime::now() + Duration::from_secs(100));
    let source = TokenSource::new(server.api("refresh"), client_id(), tokens)
        .refresh_margin(Duration::from_secs(120));
    assert_eq!(source.access_token().await.unwrap().secret(), "at-new");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_failed_save_is_reported_and_retried_without_losing_the_new_refresh_token() {
    let server = OddServer::start().await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let attempts_seen = Arc::clone(&attempts);
    let source = TokenSource::new(server.api("refresh"), client_id(), expired_set())
        .on_refresh_async(move |tokens: TokenSet| {
            let attempt = attempts_seen.fetch_add(1, Ordering::SeqCst);
            async move {
                assert_eq!(tokens.refresh_token, Some(RefreshToken::new("rt-new")));
                if attempt == 0 {
                    Err("disk full")
                } else {
                    Ok(())
                }
            }
        });

    let err = source.access_token().await.unwrap_err();
    assert!(matches!(err, SdkError::Persist(_)), "{err:?}");
    assert!(err.to_string().contains("disk full"));
    // The rotated set is kept in memory, not dropped.
    assert_eq!(
        source.token_set().await.refresh_token,
        Some(RefreshToken::new("rt-new"))
    );

    // The next call saves first, then hands out the token; no second refresh.
    assert_eq!(source.access_token().await.unwrap().secret(), "at-new");
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
    assert_eq!(server.requests().len(), 1);
    source.access_token().await.unwrap();
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_caller_that_gives_up_does_not_cancel_the_refresh() {
    let server = OddServer::start().await;
    let saves = Arc::new(AtomicUsize::new(0));
    let saves_seen = Arc::clone(&saves);
    let source = TokenSource::new(server.api("refresh"), client_id(), expired_set()).on_refresh(
        move |_: &TokenSet| -> Result<(), std::io::Error> {
            saves_seen.fetch_add(1, Ordering::SeqCst);
            Ok(())
        },
    );
    // The server takes 100 ms; this caller waits 20 ms.
    let gave_up = tokio::time::timeout(Duration::from_millis(20), source.access_token()).await;
    assert!(gave_up.is_err());
    // The refresh still completes, under the lock, and is saved.
    assert_eq!(source.access_token().await.unwrap().secret(), "at-new");
    assert_eq!(server.requests().len(), 1);
    assert_eq!(saves.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_rejected_token_is_refreshed_once() {
    let server = OddServer::start().await;
    let mut tokens = expired_set();
    tokens.expires_at = None;
    let source = TokenSource::new(server.api("refresh"), client_id(), tokens);
    let rejected = source.access_token().await.unwrap();
    assert_eq!(rejected.secret(), "at-old");
    let (a, b) = tokio::join!(
        source.refresh_rejected(&rejected),
        source.refresh_rejected(&rejected)
    );
    assert_eq!(a.unwrap().secret(), "at-new");
    assert_eq!(b.unwrap().secret(), "at-new");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn without_a_refresh_token_the_source_says_so() {
    let server = OddServer::start().await;
    let mut tokens = expired_set();
    tokens.refresh_token = None;
    let source = TokenSource::new(server.api("refresh"), client_id(), tokens);
    let err = source.access_token().await.unwrap_err();
    assert!(matches!(err, SdkError::NoRefreshToken), "{err:?}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_refused_refresh_is_returned_and_the_old_tokens_stay() {
    let server = OddServer::start().await;
    let source = TokenSource::new(server.api("invalidgrant"), client_id(), expired_set());
    let err = source.access_token().await.unwrap_err();
    assert_eq!(err.oauth_error_code(), Some("invalid_grant"));
    assert_eq!(source.token_set().await.access_token.secret(), "at-old");
}

// ---------------------------------------------------------------------------------------------
// Device polling
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn device_polling_waits_slows_down_and_succeeds() {
    let server = OddServer::start().await;
    let waits: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let recorded = Arc::clone(&waits);
    let tokens = server
        .api("device")
        .poll_device_token_with_sleep(
            &client_id(),
            &DeviceCode::new("dc1"),
            Duration::from_secs(5),
            move |wait| {
                recorded.lock().unwrap().push(wait);
                std::future::ready(())
            },
        )
        .await
        .unwrap();
    assert_eq!(tokens.access_token.secret(), "at1");
    let secs: Vec<u64> = waits
        .lock()
        .unwrap()
        .iter()
        .map(Duration::as_secs)
        .collect();
    // pending -> same interval; slow_down -> +5 s for this and every later poll.
    assert_eq!(secs, [5, 5, 10]);
    let polls = server.requests();
    assert_eq!(polls.len(), 3);
    for poll in &polls {
        assert_eq!(
            poll.body,
            "client_id=cid&grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=dc1"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn device_polling_on_tokio_time_takes_twenty_virtual_seconds() {
    let server = OddServer::start().await;
    // No per-request timer, so the paused clock only moves for the polling waits.
    let api = OauthApi::new(server.config("device").no_timeout().build().unwrap());
    let started = tokio::time::Instant::now();
    let tokens = api
        .poll_device_token(
            &client_id(),
            &DeviceCode::new("dc1"),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(tokens.access_token.secret(), "at1");
    assert_eq!(started.elapsed(), Duration::from_secs(20));
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn device_polling_ends_with_typed_errors_for_denied_and_expired() {
    let server = OddServer::start().await;
    let no_wait = |_| std::future::ready(());
    let denied = server
        .api("denied")
        .poll_device_token_with_sleep(&client_id(), &DeviceCode::new("d"), Duration::ZERO, no_wait)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &denied,
            SdkError::Device(DeviceFlowError::AccessDenied { description: Some(d) })
                if d == "access_denied described"
        ),
        "{denied:?}"
    );
    assert_eq!(denied.oauth_error_code(), Some("access_denied"));

    let expired = server
        .api("expired")
        .poll_device_token_with_sleep(&client_id(), &DeviceCode::new("d"), Duration::ZERO, no_wait)
        .await
        .unwrap_err();
    assert!(
        matches!(
            expired,
            SdkError::Device(DeviceFlowError::ExpiredToken { .. })
        ),
        "{expired:?}"
    );

    let other = server
        .api("invalidgrant")
        .poll_device_token_with_sleep(&client_id(), &DeviceCode::new("d"), Duration::ZERO, no_wait)
        .await
        .unwrap_err();
    assert_eq!(other.oauth_error_code(), Some("invalid_grant"));
    assert_eq!(server.requests().len(), 3);
}
