//! The device authorization grant (RFC 8628): `/oauth/device/authorize`, the verification page
//! played over HTTP as a browser would, and the device polling `/oauth/token`.

use reqwest::{header, Client, Response, StatusCode};
use serde_json::Value;
use ucoauth_server::{clock::Clock, domain::rate_limit::Limit};
use url::Url;

use crate::helpers::*;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// `POST /oauth/device/authorize`; asserts 200 and returns the body.
pub(crate) async fn authorize(server: &TestServer, client_id: &str, scope: &str) -> Value {
    let r = server
        .post_form(
            "/oauth/device/authorize",
            &[("client_id", client_id), ("scope", scope)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_no_nulls(&body);
    body
}

async fn poll_as(server: &TestServer, client_id: &str, grant: &str, device_code: &str) -> Response {
    server
        .post_form(
            "/oauth/token",
            &[
                ("client_id", client_id),
                ("grant_type", grant),
                ("device_code", device_code),
            ],
        )
        .await
}

pub(crate) async fn poll(server: &TestServer, client_id: &str, device_code: &str) -> Response {
    poll_as(server, client_id, DEVICE_GRANT, device_code).await
}

pub(crate) fn text(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {v}"))
        .to_owned()
}

/// Moves the clock to the start of a rate-limit window of `window_ms`, so a test's requests
/// all fall in one window (the MockClock starts at the real time, anywhere in a window).
fn align_to_window(server: &TestServer, window_ms: i64) {
    let now = server.clock.now();
    server.clock.advance(window_ms - now.rem_euclid(window_ms));
}

/// A signed-in browser.
async fn signed_in_browser(server: &TestServer) -> Client {
    let browser = server.browser();
    let r = server.sign_in(&browser, "/").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    browser
}

/// Submits the code entry form of `/device` as `typed` from a signed-in browser; returns the
/// page the browser ends on (following the one 303 by hand).
async fn enter_code(server: &TestServer, browser: &Client, typed: &str) -> Response {
    let form = browser
        .get(format!("{}/device", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let csrf = hidden_value(&form.text().await.unwrap(), "csrf_token");
    let r = browser
        .post(format!("{}/device", server.base))
        .form(&[("user_code", typed), ("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    if r.status() != StatusCode::SEE_OTHER {
        return r;
    }
    browser
        .get(format!("{}{}", server.base, location(&r)))
        .send()
        .await
        .unwrap()
}

/// Submits the device consent form found in `html` with `decision`.
async fn decide(server: &TestServer, browser: &Client, html: &str, decision: &str) -> Response {
    let mut form = hidden_fields(html);
    form.push(("decision".into(), decision.into()));
    browser
        .post(format!("{}/device/decision", server.base))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Signs in, enters `user_code`, and answers the consent screen; asserts the 303 to the
/// matching result page and returns the result page's HTML.
pub(crate) async fn approve_or_deny(
    server: &TestServer,
    user_code: &str,
    decision: &str,
) -> String {
    let browser = signed_in_browser(server).await;
    let consent = enter_code(server, &browser, user_code).await;
    assert_eq!(consent.status(), StatusCode::OK);
    let html = consent.text().await.unwrap();
    let answer = decide(server, &browser, &html, decision).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let want = if decision == "approve" {
        "/device/approved"
    } else {
        "/device/denied"
    };
    assert_eq!(location(&answer), want);
    let done = browser
        .get(format!("{}{want}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    done.text().await.unwrap()
}

#[tokio::test]
async fn device_flow_from_the_verification_page_to_tokens_that_refresh_identify_and_revoke() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;

    // The device asks; the answer has UltraCart's shape with integer expires_in and interval.
    let device = authorize(&server, &client_id, "crm").await;
    let keys: Vec<_> = device.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "device_code",
            "expires_in",
            "interval",
            "user_code",
            "verification_uri",
            "verification_uri_complete"
        ]
    );
    assert_eq!(device["expires_in"], 900);
    assert_eq!(device["interval"], 5);
    let device_code = text(&device, "device_code");
    assert!(device_code.len() >= 43);
    let user_code = text(&device, "user_code");
    assert_eq!(user_code.len(), 9);
    assert_eq!(&user_code[4..5], "-");
    assert!(user_code
        .chars()
        .filter(|c| *c != '-')
        .all(|c| "BCDFGHJKMNPQRSTVWXZ2345679".contains(c)));
    assert_eq!(
        text(&device, "verification_uri"),
        format!("{}/device", server.base)
    );
    let complete = Url::parse(&text(&device, "verification_uri_complete")).unwrap();
    assert_eq!(
        complete.as_str().split('?').next().unwrap(),
        format!("{}/device", server.base)
    );
    assert_eq!(
        query_param(&complete, "user_code").as_deref(),
        Some(user_code.as_str())
    );

    // Nobody has approved yet.
    let r = poll(&server, &client_id, &device_code).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "authorization_pending").await;

    // The merchant opens verification_uri_complete: the code is pre-filled; Continue leads to
    // sign-in, then back to the consent screen that shows the code.
    let browser = server.browser();
    let page = browser.get(complete.as_str()).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!(
            "name=\"user_code\" type=\"text\" value=\"{user_code}\""
        )),
        "{html}"
    );
    let csrf = hidden_value(&html, "csrf_token");
    let r = browser
        .post(format!("{}/device", server.base))
        .form(&[("user_code", user_code.as_str()), ("csrf_token", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let login = Url::parse(&format!("{}{}", server.base, location(&r))).unwrap();
    assert_eq!(login.path(), "/login");
    let return_to = query_param(&login, "return_to").unwrap();
    assert_eq!(return_to, format!("/device?user_code={user_code}"));
    let signed_in = server.sign_in(&browser, &return_to).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&signed_in), return_to);
    let consent = browser
        .get(format!("{}{return_to}", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(consent.status(), StatusCode::OK);
    let html = consent.text().await.unwrap();
    assert!(html.contains("Item Sync"), "{html}");
    assert!(html.contains(&user_code), "{html}");
    assert!(html.contains("item_read") && html.contains("order_read"));
    assert!(html.contains("name=\"decision\" value=\"approve\""));

    // Still pending while the merchant reads.
    server.clock.advance(5_000);
    let r = poll(&server, &client_id, &device_code).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "authorization_pending").await;

    let answer = decide(&server, &browser, &html, "approve").await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&answer), "/device/approved");
    let done = browser
        .get(format!("{}/device/approved", server.base))
        .send()
        .await
        .unwrap();
    assert!(done
        .text()
        .await
        .unwrap()
        .contains("You can return to your device"));

    // The next poll gets tokens, exactly as the code flow issues them.
    server.clock.advance(5_000);
    let r = poll(&server, &client_id, &device_code).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
    let token: Value = r.json().await.unwrap();
    assert_no_nulls(&token);
    assert_eq!(token["token_type"], "bearer");
    assert_eq!(token["expires_in"], "3600");
    assert_eq!(token["scope"], "item_read order_read");
    assert_eq!(token["merchant_id"], "DEMO");

    let me: Value = server
        .me(&text(&token, "access_token"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["merchant_id"], "DEMO");
    assert_eq!(me["client_id"], client_id.as_str());
    assert_eq!(me["scopes"], serde_json::json!(["item_read", "order_read"]));

    let r = server
        .refresh(&client_id, &text(&token, "refresh_token"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let refreshed: Value = r.json().await.unwrap();
    assert_eq!(refreshed["scope"], "item_read order_read");
    let access = text(&refreshed, "access_token");
    assert_eq!(server.me(&access).await.status(), StatusCode::OK);

    let r = server
        .post_form(
            "/oauth/revoke",
            &[("client_id", &client_id), ("token", &access)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let revoked: Value = r.json().await.unwrap();
    assert_eq!(revoked["successful"], true);
    assert_eq!(server.me(&access).await.status(), StatusCode::UNAUTHORIZED);

    // Neither code is stored in plaintext (database files, or every value on PostgreSQL).
    let stored = server.db.stored_bytes().await;
    let contains = |needle: &str| stored.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(contains(&client_id), "the search must work");
    assert!(!contains(&device_code));
    assert!(!contains(&user_code));
    assert!(!contains(&user_code.replace('-', "")));
    // Nor in the logs.
    let logs = captured_logs();
    assert!(
        logs.contains("device authorization approved"),
        "logging works"
    );
    assert!(!logs.contains(&device_code));
    assert!(!logs.contains(&user_code));
}

#[tokio::test]
async fn a_denial_is_recorded_and_the_device_gets_access_denied() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let device = authorize(&server, &client_id, "crm").await;
    let html = approve_or_deny(&server, &text(&device, "user_code"), "deny").await;
    assert!(html.contains("Access denied"), "{html}");

    let r = poll(&server, &client_id, &text(&device, "device_code")).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "access_denied").await;
    // Terminal: it stays denied, however fast the device polls.
    let r = poll(&server, &client_id, &text(&device, "device_code")).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "access_denied").await;

    let (denied, who, grants): (Option<i64>, Option<String>, Option<String>) =
        sqlx::query_as("SELECT denied_at, merchant_id, grant_id FROM device_codes")
            .fetch_one(server.store.pool())
            .await
            .unwrap();
    assert!(denied.is_some());
    assert_eq!(who.as_deref(), Some("DEMO"));
    assert!(grants.is_none(), "a denial creates no grant");

    // The code cannot be approved afterwards.
    let browser = signed_in_browser(&server).await;
    let r = enter_code(&server, &browser, &text(&device, "user_code")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("already been used"));
}

#[tokio::test]
async fn an_expired_device_code_is_expired_token_and_its_user_code_is_refused() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let device = authorize(&server, &client_id, "crm").await;
    server.clock.advance(900_000);

    let r = poll(&server, &client_id, &text(&device, "device_code")).await;
    let body = assert_oauth_error(r, StatusCode::BAD_REQUEST, "expired_token").await;
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("expired"));

    let browser = signed_in_browser(&server).await;
    let r = enter_code(&server, &browser, &text(&device, "user_code")).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("That code has expired"));
}

#[tokio::test]
async fn an_approval_that_comes_too_late_still_expires() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let device = authorize(&server, &client_id, "crm").await;
    server.clock.advance(899_000);
    approve_or_deny(&server, &text(&device, "user_code"), "approve").await;
    server.clock.advance(1_000);
    let r = poll(&server, &client_id, &text(&device, "device_code")).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "expired_token").await;
}

#[tokio::test]
async fn polling_faster_than_the_interval_is_slow_down_and_the_interval_grows_by_five_seconds() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let device = authorize(&server, &client_id, "crm").await;
    let code = text(&device, "device_code");

    let r = poll(&server, &client_id, &code).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "authorization_pending").await;
    let r = poll(&server, &client_id, &code).await;
    let body = assert_oauth_error(r, StatusCode::BAD_REQUEST, "slow_down").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("10 seconds"),
        "{body}"
    );
    // 9.999 s later is still too fast for the new 10 s interval: 15 s now.
    server.clock.advance(9_999);
    let r = poll(&server, &client_id, &code).await;
    let body = assert_oauth_error(r, StatusCode::BAD_REQUEST, "slow_down").await;
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("15 seconds"));
    server.clock.advance(14_999);
    let r = poll(&server, &client_id, &code).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "slow_down").await;
    // Waiting the full (now 20 s) interval is fine, and approval then pays out.
    server.clock.advance(20_000);
    let r = poll(&server, &client_id, &code).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "authorization_pending").await;
    approve_or_deny(&server, &text(&device, "user_code"), "approve").await;
    let r = poll(&server, &client_id, &code).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "slow_down").await;
    server.clock.advance(25_000);
    assert_eq!(
        poll(&server, &client_id, &code).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_device_code_yields_tokens_once_and_a_replay_revokes_them() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let device = authorize(&server, &client_id, "crm").await;
    let code = text(&device, "device_code");
    approve_or_deny(&server, &text(&device, "user_code"), "approve").await;

    // The short alias of the grant type works too.
    let r = poll_as(&server, &client_id, "device_code", &code).await;
    assert_eq!(r.status(), StatusCode::OK);
    let token: Value = r.json().await.unwrap();
    let access = text(&token, "access_token");
    assert_eq!(server.me(&access).await.status(), StatusCode::OK);

    server.clock.advance(5_000);
    let r = poll(&server, &client_id, &code).await;
    let body = assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("already used"));
    assert_eq!(server.me(&access).await.status(), StatusCode::UNAUTHORIZED);
    let r = server
        .refresh(&client_id, &text(&token, "refresh_token"))
        .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn device_codes_are_bound_to_their_client_and_unknown_ones_are_invalid_grant() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let (other, _) = server.app(|a| a.name = "Other".into()).await;
    let device = authorize(&server, &client_id, "crm").await;
    let code = text(&device, "device_code");
    approve_or_deny(&server, &text(&device, "user_code"), "approve").await;

    let r = poll(&server, &other, &code).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let r = poll(&server, &client_id, "not-a-device-code").await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let r = server
        .post_form(
            "/oauth/token",
            &[("client_id", &client_id), ("grant_type", DEVICE_GRANT)],
        )
        .await;
    let body = assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("device_code"));
    // The rightful client was not disturbed by the attempt.
    assert_eq!(
        poll(&server, &client_id, &code).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn typed_codes_may_be_lower_case_or_without_the_dash_and_wrong_ones_are_refused() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let device = authorize(&server, &client_id, "crm").await;
    let user_code = text(&device, "user_code");
    let browser = signed_in_browser(&server).await;

    for typed in [
        user_code.to_lowercase(),
        user_code.replace('-', ""),
        format!(" {} ", user_code.replace('-', " ").to_lowercase()),
    ] {
        let r = enter_code(&server, &browser, &typed).await;
        assert_eq!(r.status(), StatusCode::OK, "{typed:?}");
        let html = r.text().await.unwrap();
        assert!(html.contains(&user_code), "{typed:?}");
        assert!(html.contains("name=\"decision\" value=\"approve\""));
    }

    // A well-formed code that was never issued.
    let wrong = if user_code.starts_with('B') {
        "CCCC-CCCC"
    } else {
        "BBBB-BBBB"
    };
    let r = enter_code(&server, &browser, wrong).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let html = r.text().await.unwrap();
    assert!(html.contains("That code was not recognized"), "{html}");
    assert!(
        html.contains(&format!("value=\"{wrong}\"")),
        "the typed code is kept"
    );

    // Malformed ones say what is wrong.
    let r = enter_code(&server, &browser, "BCDF-GHJ").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("8 characters"));
    let r = enter_code(&server, &browser, "BCDF-GH10").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("not a valid code"));
}

#[tokio::test]
async fn pages_refuse_forms_without_their_csrf_token_and_nothing_is_decided() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let device = authorize(&server, &client_id, "crm").await;
    let user_code = text(&device, "user_code");

    // The entry form before sign-in is bound to its nonce cookie.
    let r = server
        .browser()
        .post(format!("{}/device", server.base))
        .form(&[("user_code", user_code.as_str()), ("csrf_token", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("expired"));

    // A decision without this session's token is refused.
    let browser = signed_in_browser(&server).await;
    let consent = enter_code(&server, &browser, &user_code).await;
    let html = consent.text().await.unwrap();
    let forged: Vec<(String, String)> = hidden_fields(&html)
        .into_iter()
        .map(|(k, v)| {
            if k == "csrf_token" {
                (k, "forged".to_owned())
            } else {
                (k, v)
            }
        })
        .chain([("decision".to_owned(), "approve".to_owned())])
        .collect();
    let r = browser
        .post(format!("{}/device/decision", server.base))
        .form(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = poll(&server, &client_id, &text(&device, "device_code")).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "authorization_pending").await;

    // Another signed-in browser cannot use this session's token either.
    let other = signed_in_browser(&server).await;
    let r = decide(&server, &other, &html, "approve").await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn guessing_user_codes_is_limited_per_browser_session_and_per_address() {
    let server = TestServer::start_with(|c| {
        c.device_verify_per_session = Limit::new(3, 60_000);
        c.device_verify_per_ip = Limit::new(5, 60_000);
    })
    .await;
    let (client_id, _) = server.app(|_| {}).await;
    align_to_window(&server, 60_000);
    let device = authorize(&server, &client_id, "crm").await;
    let user_code = text(&device, "user_code");
    let wrong = if user_code.starts_with('B') {
        "CCCC-CCCC"
    } else {
        "BBBB-BBBB"
    };

    // Right codes do not count against a person: many lookups, no limit.
    let first = signed_in_browser(&server).await;
    for _ in 0..5 {
        let r = enter_code(&server, &first, &user_code).await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    // Three wrong codes are allowed per session; the fourth attempt is refused, even with the
    // right code.
    for _ in 0..3 {
        let r = enter_code(&server, &first, wrong).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
    let r = enter_code(&server, &first, &user_code).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = r.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert!(r.text().await.unwrap().contains("Too many codes"));

    // A fresh session from the same address gets one more try before the address limit (5).
    let second = signed_in_browser(&server).await;
    let r = enter_code(&server, &second, wrong).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = enter_code(&server, &second, wrong).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);

    // The decision form counts too: a session over its limit cannot approve by posting.
    let r = decide(
        &server,
        &first,
        &format!(
            "<input type=\"hidden\" name=\"csrf_token\" value=\"{}\"><input type=\"hidden\" name=\"user_code\" value=\"{user_code}\">",
            hidden_value(
                &first
                    .get(format!("{}/device", server.base))
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap(),
                "csrf_token"
            )
        ),
        "approve",
    )
    .await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);

    // Once the window has passed, the right code works again.
    server.clock.advance(60_000);
    let html = approve_or_deny(&server, &user_code, "approve").await;
    assert!(html.contains("Device connected"));
}

#[tokio::test]
async fn device_authorize_refusals_are_error_responses() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;

    let r = server
        .post_form(
            "/oauth/device/authorize",
            &[("client_id", "nope"), ("scope", "crm")],
        )
        .await;
    assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
    assert_error_response(r, StatusCode::UNAUTHORIZED).await;

    let r = server
        .post_form("/oauth/device/authorize", &[("scope", "crm")])
        .await;
    let body = assert_error_response(r, StatusCode::BAD_REQUEST).await;
    assert!(body["error"]["developer_message"]
        .as_str()
        .unwrap()
        .contains("client_id"));

    let r = server
        .post_form(
            "/oauth/device/authorize",
            &[("client_id", &client_id), ("scope", "crm\"x")],
        )
        .await;
    assert_error_response(r, StatusCode::BAD_REQUEST).await;

    let r = server
        .client()
        .post(format!("{}/oauth/device/authorize", server.api))
        .json(&serde_json::json!({"client_id": client_id}))
        .send()
        .await
        .unwrap();
    assert_error_response(r, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;

    // A wrong secret is refused even though none is required.
    let r = server
        .post_form(
            "/oauth/device/authorize",
            &[
                ("client_id", &client_id),
                ("client_secret", "wrong"),
                ("scope", "crm"),
            ],
        )
        .await;
    assert_error_response(r, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn an_application_that_requires_its_secret_needs_it_for_the_device_flow() {
    let server = TestServer::start().await;
    let (client_id, secret) = server.app(|a| a.require_secret = true).await;
    let r = server
        .post_form(
            "/oauth/device/authorize",
            &[("client_id", &client_id), ("scope", "crm")],
        )
        .await;
    assert_error_response(r, StatusCode::UNAUTHORIZED).await;
    let r = server
        .post_form(
            "/oauth/device/authorize",
            &[
                ("client_id", &client_id),
                ("client_secret", &secret),
                ("scope", "crm"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let device: Value = r.json().await.unwrap();
    let r = poll(&server, &client_id, &text(&device, "device_code")).await;
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[tokio::test]
async fn scope_is_an_application_label_unless_it_names_registered_permissions() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    for (scope, granted) in [
        ("crm", "item_read order_read"),
        ("ultraship item_write", "item_read order_read"),
        ("crm order_read", "order_read"),
    ] {
        let device = authorize(&server, &client_id, scope).await;
        approve_or_deny(&server, &text(&device, "user_code"), "approve").await;
        let r = poll(&server, &client_id, &text(&device, "device_code")).await;
        assert_eq!(r.status(), StatusCode::OK, "{scope}");
        let token: Value = r.json().await.unwrap();
        assert_eq!(token["scope"], granted, "{scope}");
    }
    // `scope` may be left out (RFC 8628 §3.1).
    let r = server
        .post_form("/oauth/device/authorize", &[("client_id", &client_id)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn flooding_device_authorize_or_polling_is_429_with_retry_after() {
    let server = TestServer::start_with(|c| {
        c.device_authorize_per_ip = Limit::new(2, 60_000);
        c.device_poll_per_ip = Limit::new(3, 60_000);
    })
    .await;
    let (client_id, _) = server.app(|_| {}).await;
    align_to_window(&server, 60_000);
    let device = authorize(&server, &client_id, "crm").await;
    authorize(&server, &client_id, "crm").await;
    let r = server
        .post_form(
            "/oauth/device/authorize",
            &[("client_id", &client_id), ("scope", "crm")],
        )
        .await;
    let retry: i64 = r.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry));
    assert_error_response(r, StatusCode::TOO_MANY_REQUESTS).await;

    let code = text(&device, "device_code");
    for _ in 0..3 {
        let r = poll(&server, &client_id, &code).await;
        assert_oauth_error(r, StatusCode::BAD_REQUEST, "authorization_pending").await;
        server.clock.advance(5_000);
    }
    let r = poll(&server, &client_id, &code).await;
    assert!(r.headers().contains_key(header::RETRY_AFTER));
    assert_error_response(r, StatusCode::TOO_MANY_REQUESTS).await;

    // The limits are per window: the next window starts afresh.
    server.clock.advance(60_000);
    let r = poll(&server, &client_id, &code).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "authorization_pending").await;
    authorize(&server, &client_id, "crm").await;
}

#[tokio::test]
async fn concurrent_polls_redeem_an_approved_device_code_exactly_once() {
    let server = TestServer::start_with(|c| {
        c.device_poll_per_ip = Limit::new(1_000, 60_000);
    })
    .await;
    let (client_id, _) = server.app(|_| {}).await;
    let device = authorize(&server, &client_id, "crm").await;
    let code = text(&device, "device_code");
    approve_or_deny(&server, &text(&device, "user_code"), "approve").await;

    let polls = (0..16).map(|_| poll(&server, &client_id, &code));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(polls)
        .await
        .iter()
        .map(Response::status)
        .collect();
    let issued = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(issued, 1, "{statuses:?}");
    assert!(statuses
        .iter()
        .all(|s| *s == StatusCode::OK || *s == StatusCode::BAD_REQUEST));
    let access_tokens: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM access_tokens")
        .fetch_one(server.store.pool())
        .await
        .unwrap();
    assert_eq!(access_tokens, 1);
}
