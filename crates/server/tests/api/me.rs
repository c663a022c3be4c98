//! `GET /oauth/me` and the generic error paths of the API.

use reqwest::StatusCode;

use crate::helpers::*;

#[tokio::test]
async fn missing_invalid_and_expired_tokens_are_401_with_a_bearer_challenge() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let (access, _) = server.tokens(&client_id).await;

    let r = server
        .client()
        .get(format!("{}/oauth/me", server.api))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"ucoauth\"");
    assert_error_response(r, StatusCode::UNAUTHORIZED).await;

    let r = server.me("not-a-token").await;
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("error=\"invalid_token\""));
    assert_error_response(r, StatusCode::UNAUTHORIZED).await;

    server.clock.advance(3_600_000);
    let r = server.me(&access).await;
    assert_error_response(r, StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn a_bare_token_without_the_bearer_scheme_is_accepted_for_the_typescript_sdk() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let (access, _) = server.tokens(&client_id).await;
    let r = server
        .client()
        .get(format!("{}/oauth/me", server.api))
        .header("authorization", access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_answer_in_the_error_shape() {
    let server = TestServer::start().await;
    let r = server
        .client()
        .get(format!("{}/nope", server.api))
        .send()
        .await
        .unwrap();
    assert_error_response(r, StatusCode::NOT_FOUND).await;
    let r = server
        .client()
        .get(format!("{}/oauth/token", server.api))
        .send()
        .await
        .unwrap();
    assert_error_response(r, StatusCode::METHOD_NOT_ALLOWED).await;
    let r = server
        .client()
        .delete(format!("{}/oauth/me", server.api))
        .send()
        .await
        .unwrap();
    assert_error_response(r, StatusCode::METHOD_NOT_ALLOWED).await;
}

#[tokio::test]
async fn health_and_readiness() {
    let server = TestServer::start().await;
    for path in ["/healthz", "/readyz"] {
        let r = server
            .client()
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn a_simple_key_answers_me_for_its_merchant_without_a_client_id() {
    let server = TestServer::start().await;
    let key = server
        .simple_key("DEMO", &["item_read", "order_write"])
        .await;
    let me_with = |headers: Vec<(&'static str, String)>| {
        let mut request = server.client().get(format!("{}/oauth/me", server.api));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };
    let r = me_with(vec![("x-ultracart-simple-key", key.clone())])
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "merchant_id": "DEMO",
            "merchant_name": "Demo Company",
            "scopes": ["item_read", "order_write"]
        })
    );

    // An access token, when sent too, is what /oauth/me answers for.
    let (client_id, _) = server.app(|_| {}).await;
    let (access, _) = server.tokens(&client_id).await;
    let r = me_with(vec![
        ("x-ultracart-simple-key", key.clone()),
        ("authorization", format!("Bearer {access}")),
    ])
    .await
    .unwrap();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["client_id"], client_id.as_str());

    for bad in ["wrong".to_owned(), "k".repeat(300), format!("{key}x")] {
        let r = me_with(vec![("x-ultracart-simple-key", bad)])
            .await
            .unwrap();
        let body = assert_error_response(r, StatusCode::UNAUTHORIZED).await;
        assert!(body["error"]["developer_message"]
            .as_str()
            .unwrap()
            .contains("simple key"));
    }
}
