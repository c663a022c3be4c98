//! `POST /oauth/revoke`.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn a_refresh_token_revokes_the_grant_too() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let (access, refresh) = server.tokens(&client_id).await;
    let r = server
        .post_form(
            "/oauth/revoke",
            &[("client_id", &client_id), ("token", &refresh)],
        )
        .await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["successful"], true);
    assert_eq!(server.me(&access).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unknown_or_dead_tokens_get_200_with_successful_false() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let (access, _) = server.tokens(&client_id).await;
    for token in ["never-issued", access.as_str(), access.as_str()] {
        let r = server
            .post_form(
                "/oauth/revoke",
                &[("client_id", &client_id), ("token", token)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        assert!(body["message"].is_string());
        if token == "never-issued" {
            assert_eq!(body["successful"], false);
        }
    }
    // The second revocation of the same token found it dead.
    let r = server
        .post_form(
            "/oauth/revoke",
            &[("client_id", &client_id), ("token", &access)],
        )
        .await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["successful"], false);
}

#[tokio::test]
async fn a_token_of_another_application_is_400_and_stays_valid() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let (other, _) = server.app(|a| a.name = "Other".into()).await;
    let (access, _) = server.tokens(&client_id).await;
    let r = server
        .post_form(
            "/oauth/revoke",
            &[("client_id", &other), ("token", &access)],
        )
        .await;
    assert_error_response(r, StatusCode::BAD_REQUEST).await;
    assert_eq!(server.me(&access).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn missing_parameters_and_bad_bodies_are_error_responses() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let r = server
        .post_form("/oauth/revoke", &[("client_id", &client_id)])
        .await;
    let body = assert_error_response(r, StatusCode::BAD_REQUEST).await;
    assert!(body["error"]["developer_message"]
        .as_str()
        .unwrap()
        .contains("token"));
    let r = server.post_form("/oauth/revoke", &[("token", "x")]).await;
    assert_error_response(r, StatusCode::BAD_REQUEST).await;
    let r = server
        .client()
        .post(format!("{}/oauth/revoke", server.api))
        .body("client_id=x&token=y")
        .send()
        .await
        .unwrap();
    assert_error_response(r, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let r = server
        .post_form("/oauth/revoke", &[("client_id", "unknown"), ("token", "x")])
        .await;
    assert_error_response(r, StatusCode::UNAUTHORIZED).await;
}
