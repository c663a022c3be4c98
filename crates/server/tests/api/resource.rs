//! The resource-server side end to end: the example item API (`examples/item-api`) behind
//! `ucoauth-guard`, driven with tokens from the real flow ("Load my item information").

use std::time::Duration;

use reqwest::{header, StatusCode};
use serde_json::Value;
use ucoauth_example_item_api::{router, Catalogue};
use ucoauth_guard::{Guard, IntrospectionVerifier};
use ucoauth_server::{resource::StoreVerifier, AppState};

use crate::helpers::*;

/// Starts the item API on a loopback port with `guard`; returns its base URL.
async fn item_api(guard: Guard) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            listener,
            router(guard.with_realm("item-api"), Catalogue::demo()),
        )
        .await
        .unwrap();
    });
    base
}

/// A guard that introspects at `server` as a registered resource server, without a cache.
async fn introspecting(server: &TestServer) -> Guard {
    let (id, secret) = server.resource_server().await;
    Guard::new(
        IntrospectionVerifier::new(&format!("{}/oauth/introspect", server.api), &id, &secret)
            .with_cache(Duration::ZERO, 0),
    )
}

async fn items(base: &str, token: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{base}/rest/v2/item/items"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn challenge(r: &reqwest::Response) -> String {
    r.headers()
        .get(header::WWW_AUTHENTICATE)
        .expect("a WWW-Authenticate challenge")
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn load_my_item_information_with_a_token_from_the_real_flow() {
    let server = TestServer::start().await;
    let api = item_api(introspecting(&server).await).await;
    let (client_id, _) = server.app(|_| {}).await;
    let (access, _) = server.tokens(&client_id).await;

    let r = items(&api, &access).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["success"], true);
    let list = body["items"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert!(list.iter().all(|i| i["merchant_id"] == "DEMO"));
    assert_eq!(body["metadata"]["result_set"]["total_records"], 3);

    let one = reqwest::Client::new()
        .get(format!("{api}/rest/v2/item/items/BONE"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(
        one.json::<Value>().await.unwrap()["item"]["description"],
        "Dog bone"
    );

    // The same token cannot write: the application was granted item_read only.
    let write = reqwest::Client::new()
        .put(format!("{api}/rest/v2/item/items/BONE"))
        .bearer_auth(&access)
        .json(&serde_json::json!({"description": "x"}))
        .send()
        .await
        .unwrap();
    let c = challenge(&write);
    assert!(
        c.contains("error=\"insufficient_scope\"") && c.contains("scope=\"item_write\""),
        "{c}"
    );
    assert_error_response(write, StatusCode::FORBIDDEN).await;
}

#[tokio::test]
async fn a_token_without_item_read_is_403_insufficient_scope() {
    let server = TestServer::start().await;
    let api = item_api(introspecting(&server).await).await;
    let (client_id, _) = server.app(|a| a.scopes = vec!["order_read".into()]).await;
    let (access, _) = server.tokens(&client_id).await;

    let r = items(&api, &access).await;
    let c = challenge(&r);
    assert_eq!(
        c.split(", ").next().unwrap(),
        "Bearer realm=\"item-api\"",
        "{c}"
    );
    assert!(c.contains("error=\"insufficient_scope\""), "{c}");
    assert!(c.ends_with("scope=\"item_read\""), "{c}");
    let body = assert_error_response(r, StatusCode::FORBIDDEN).await;
    assert!(body["error"]["developer_message"]
        .as_str()
        .unwrap()
        .contains("item_read"));
}

#[tokio::test]
async fn after_revocation_the_token_is_401_invalid_token() {
    let server = TestServer::start().await;
    let api = item_api(introspecting(&server).await).await;
    let (client_id, _) = server.app(|_| {}).await;
    let (access, refresh) = server.tokens(&client_id).await;
    assert_eq!(items(&api, &access).await.status(), StatusCode::OK);

    let r = server
        .post_form(
            "/oauth/revoke",
            &[("client_id", &client_id), ("token", &refresh)],
        )
        .await;
    assert_eq!(r.json::<Value>().await.unwrap()["successful"], true);

    let r = items(&api, &access).await;
    assert!(challenge(&r).contains("error=\"invalid_token\""));
    assert_error_response(r, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn missing_and_misplaced_credentials_are_401_with_a_challenge() {
    let server = TestServer::start().await;
    let api = item_api(introspecting(&server).await).await;
    let url = format!("{api}/rest/v2/item/items");
    let client = reqwest::Client::new();

    let none = client.get(&url).send().await.unwrap();
    assert_eq!(challenge(&none), "Bearer realm=\"item-api\"");
    assert_error_response(none, StatusCode::UNAUTHORIZED).await;

    let browser = client
        .get(&url)
        .header("x-ultracart-browser-key", "k")
        .send()
        .await
        .unwrap();
    let body = assert_error_response(browser, StatusCode::UNAUTHORIZED).await;
    assert!(body["error"]["developer_message"]
        .as_str()
        .unwrap()
        .contains("browser keys"));

    let garbage = items(&api, "not-a-token").await;
    assert!(challenge(&garbage).contains("invalid_token"));
    assert_error_response(garbage, StatusCode::UNAUTHORIZED).await;

    let malformed = client
        .get(&url)
        .header(header::AUTHORIZATION, "Bearer two words")
        .send()
        .await
        .unwrap();
    assert!(challenge(&malformed).contains("invalid_request"));
    assert_error_response(malformed, StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn the_direct_store_verifier_sees_revocation_and_expiry_at_once() {
    let server = TestServer::start().await;
    // Same store, peppers and clock as the authorization server.
    let state = AppState::new(
        server.store.clone(),
        ucoauth_server::config::ServerConfig::new(
            url::Url::parse(&server.base).unwrap(),
            server.pepper.clone(),
        ),
        std::sync::Arc::new(server.clock.clone()),
    );
    let api = item_api(Guard::new(StoreVerifier::new(&state))).await;
    let (client_id, _) = server.app(|_| {}).await;

    let (access, _) = server.tokens(&client_id).await;
    assert_eq!(items(&api, &access).await.status(), StatusCode::OK);
    server
        .post_form(
            "/oauth/revoke",
            &[("client_id", &client_id), ("token", &access)],
        )
        .await;
    assert_eq!(
        items(&api, &access).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let (access, _) = server.tokens(&client_id).await;
    assert_eq!(items(&api, &access).await.status(), StatusCode::OK);
    server.clock.advance(3_600_000);
    assert_eq!(
        items(&api, &access).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_cached_answer_is_reused_for_its_ttl_as_documented() {
    let server = TestServer::start().await;
    let (id, secret) = server.resource_server().await;
    let introspect = format!("{}/oauth/introspect", server.api);
    let cached = Guard::new(
        IntrospectionVerifier::new(&introspect, &id, &secret)
            .with_cache(Duration::from_secs(300), 100),
    );
    let api = item_api(cached).await;
    let (client_id, _) = server.app(|_| {}).await;
    let (access, _) = server.tokens(&client_id).await;
    assert_eq!(items(&api, &access).await.status(), StatusCode::OK);
    server
        .post_form(
            "/oauth/revoke",
            &[("client_id", &client_id), ("token", &access)],
        )
        .await;
    // Within the cache TTL the revoked token is still accepted here: the documented bound.
    assert_eq!(items(&api, &access).await.status(), StatusCode::OK);
    // A verifier without a cache sees the revocation.
    let fresh = item_api(Guard::new(
        IntrospectionVerifier::new(&introspect, &id, &secret).with_cache(Duration::ZERO, 0),
    ))
    .await;
    assert_eq!(
        items(&fresh, &access).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn when_tokens_cannot_be_checked_the_answer_is_503_not_401() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let (access, _) = server.tokens(&client_id).await;

    // The authorization server is not there.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let nowhere = format!(
        "http://{}/rest/v2/oauth/introspect",
        closed.local_addr().unwrap()
    );
    drop(closed);
    let api = item_api(Guard::new(IntrospectionVerifier::new(&nowhere, "a", "b"))).await;
    let r = items(&api, &access).await;
    assert_eq!(r.headers()[header::RETRY_AFTER], "1");
    assert_error_response(r, StatusCode::SERVICE_UNAVAILABLE).await;

    // The resource server's own credentials are wrong.
    let (id, _) = server.resource_server().await;
    let wrong = Guard::new(IntrospectionVerifier::new(
        &format!("{}/oauth/introspect", server.api),
        &id,
        &"0".repeat(64),
    ));
    let api = item_api(wrong).await;
    assert_error_response(items(&api, &access).await, StatusCode::SERVICE_UNAVAILABLE).await;
}
