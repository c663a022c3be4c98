//! `POST /oauth/introspect` (RFC 7662): who may ask, and what active and inactive look like.

use reqwest::{header, StatusCode};
use serde_json::Value;
use ucoauth_server::clock::Clock;

use crate::helpers::*;

#[tokio::test]
async fn a_live_access_token_is_described_in_full() {
    let server = TestServer::start().await;
    let rs = server.resource_server().await;
    let (client_id, _) = server.app(|_| {}).await;
    let (access, _) = server.tokens(&client_id).await;

    let r = server.introspect(&rs, &access).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_no_nulls(&body);
    assert_eq!(body["active"], true);
    assert_eq!(body["scope"], "item_read order_read");
    assert_eq!(body["client_id"], client_id.as_str());
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["sub"], "DEMO");
    assert_eq!(body["merchant_id"], "DEMO");
    assert_eq!(body["iss"], server.base.as_str());
    let (iat, exp) = (body["iat"].as_i64().unwrap(), body["exp"].as_i64().unwrap());
    assert_eq!(exp - iat, 3600);
    assert_eq!(iat, server.clock.now().div_euclid(1000));
}

#[tokio::test]
async fn refresh_tokens_are_found_too_and_go_inactive_when_rotated_out() {
    let server = TestServer::start().await;
    let rs = server.resource_server().await;
    let (client_id, _) = server.app(|_| {}).await;
    let (_, refresh) = server.tokens(&client_id).await;

    let body: Value = server.introspect(&rs, &refresh).await.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "refresh_token");

    // The hint orders the search but does not hide a token of the other type (§2.1).
    let r = server
        .client()
        .post(format!("{}/oauth/introspect", server.api))
        .basic_auth(&rs.0, Some(&rs.1))
        .form(&[
            ("token", refresh.as_str()),
            ("token_type_hint", "access_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["active"], true);

    assert_eq!(
        server.refresh(&client_id, &refresh).await.status(),
        StatusCode::OK
    );
    let body: Value = server.introspect(&rs, &refresh).await.json().await.unwrap();
    assert_eq!(body, serde_json::json!({"active": false}));
}

#[tokio::test]
async fn revoked_expired_and_unknown_tokens_are_only_active_false() {
    let server = TestServer::start().await;
    let rs = server.resource_server().await;
    let (client_id, _) = server.app(|_| {}).await;

    let (revoked, _) = server.tokens(&client_id).await;
    let r = server
        .post_form(
            "/oauth/revoke",
            &[("client_id", &client_id), ("token", &revoked)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    let (expiring, _) = server.tokens(&client_id).await;
    let before: Value = server
        .introspect(&rs, &expiring)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(before["active"], true);
    server.clock.advance(3_600_000);

    let long = "x".repeat(5000);
    for token in [
        revoked.as_str(),
        expiring.as_str(),
        "never-issued",
        long.as_str(),
    ] {
        let r = server.introspect(&rs, token).await;
        assert_eq!(r.status(), StatusCode::OK);
        let text = r.text().await.unwrap();
        assert_eq!(
            text,
            r#"{"active":false}"#,
            "for token {}",
            &token[..token.len().min(20)]
        );
    }
}

#[tokio::test]
async fn callers_must_authenticate_with_a_secret_and_be_resource_servers() {
    let server = TestServer::start().await;
    let rs = server.resource_server().await;
    let (plain_id, plain_secret) = server.app(|a| a.name = "Not an RS".into()).await;
    let (client_id, _) = server.app(|_| {}).await;
    let (access, _) = server.tokens(&client_id).await;
    let url = format!("{}/oauth/introspect", server.api);

    // No credentials at all.
    let r = server
        .post_form("/oauth/introspect", &[("token", &access)])
        .await;
    let www = r.headers().get(header::WWW_AUTHENTICATE).cloned();
    assert_error_response(r, StatusCode::UNAUTHORIZED).await;
    assert_eq!(www.unwrap(), "Basic realm=\"ucoauth\"");

    // A client_id without its secret is not authentication.
    let r = server
        .post_form(
            "/oauth/introspect",
            &[("client_id", &rs.0), ("token", &access)],
        )
        .await;
    assert_error_response(r, StatusCode::UNAUTHORIZED).await;

    // A wrong secret, and an unknown client, look the same.
    let wrong = server
        .introspect(&(rs.0.clone(), "0".repeat(64)), &access)
        .await;
    let wrong = assert_error_response(wrong, StatusCode::UNAUTHORIZED).await;
    let unknown = server
        .introspect(&("f".repeat(32), "0".repeat(64)), &access)
        .await;
    let unknown = assert_error_response(unknown, StatusCode::UNAUTHORIZED).await;
    assert_eq!(wrong["error"], unknown["error"]);

    // Authenticated, but not a resource server.
    let r = server.introspect(&(plain_id, plain_secret), &access).await;
    assert_error_response(r, StatusCode::FORBIDDEN).await;

    // A simple key alone is refused with a message saying what to send instead.
    let r = server
        .client()
        .post(&url)
        .header("x-ultracart-simple-key", "some-key")
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    let body = assert_error_response(r, StatusCode::UNAUTHORIZED).await;
    assert!(body["error"]["developer_message"]
        .as_str()
        .unwrap()
        .contains("client_secret"));

    // Form credentials work as well as HTTP Basic.
    let r = server
        .post_form(
            "/oauth/introspect",
            &[
                ("client_id", &rs.0),
                ("client_secret", &rs.1),
                ("token", &access),
            ],
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["active"], true);

    // The permission can be withdrawn.
    server
        .store
        .set_resource_server(rs.0.clone(), false, 0)
        .await
        .unwrap();
    let r = server.introspect(&rs, &access).await;
    assert_error_response(r, StatusCode::FORBIDDEN).await;

    // Neither the token asked about nor the caller's secret ever reaches the logs.
    let logs = captured_logs();
    assert!(!logs.contains(&access));
    assert!(!logs.contains(&rs.1));
}

#[tokio::test]
async fn a_missing_token_or_a_bad_body_is_a_400_style_error() {
    let server = TestServer::start().await;
    let rs = server.resource_server().await;
    let url = format!("{}/oauth/introspect", server.api);
    let r = server
        .client()
        .post(&url)
        .basic_auth(&rs.0, Some(&rs.1))
        .form(&[("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_error_response(r, StatusCode::BAD_REQUEST).await;
    let r = server
        .client()
        .post(&url)
        .basic_auth(&rs.0, Some(&rs.1))
        .json(&serde_json::json!({"token": "x"}))
        .send()
        .await
        .unwrap();
    assert_error_response(r, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let r = server
        .client()
        .post(&url)
        .basic_auth(&rs.0, Some(&rs.1))
        .form(&[("token", "a"), ("token", "b")])
        .send()
        .await
        .unwrap();
    assert_error_response(r, StatusCode::BAD_REQUEST).await;
}
