//! Pepper rotation: credentials hashed with a previous pepper keep working; new ones use the
//! current pepper.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::Value;
use ucoauth_server::{config::ServerConfig, domain::secret::Pepper, AppState};
use url::Url;

use crate::helpers::*;

/// A second server over the same database and clock, with other peppers. Returns its API base.
async fn node(
    server: &TestServer,
    pepper: Pepper,
    previous: Vec<Pepper>,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut config = ServerConfig::new(Url::parse(&base).unwrap(), pepper);
    config.previous_peppers = previous;
    let state = AppState::new(server.store.clone(), config, Arc::new(server.clock.clone()));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(ucoauth_server::serve(listener, state, async {
        let _ = rx.await;
    }));
    (format!("{base}/rest/v2"), tx)
}

async fn me(api: &str, token: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{api}/oauth/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

async fn post(api: &str, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{api}{path}"))
        .form(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn credentials_from_before_a_rotation_keep_working_and_new_ones_use_the_new_pepper() {
    let server = TestServer::start().await;
    let old = server.pepper.clone();
    let new = Pepper::generate();
    let rs = server.resource_server().await;
    let (client_id, client_secret) = server.app(|a| a.require_secret = true).await;
    let (access, refresh) = {
        let code = server.code_for(&client_id, &[]).await;
        let r = server
            .post_form(
                "/oauth/token",
                &[
                    ("client_id", &client_id),
                    ("client_secret", &client_secret),
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT_URI),
                ],
            )
            .await;
        let body: Value = r.json().await.unwrap();
        (
            body["access_token"].as_str().unwrap().to_owned(),
            body["refresh_token"].as_str().unwrap().to_owned(),
        )
    };
    let pending_code = server.code_for(&client_id, &[]).await;

    let (rotated, _stop) = node(&server, new.clone(), vec![old.clone()]).await;
    let (forgetful, _stop2) = node(&server, new.clone(), vec![]).await;

    // Without the previous pepper nothing issued before the rotation is recognised.
    assert_eq!(me(&forgetful, &access).await, StatusCode::UNAUTHORIZED);

    // With it: access tokens, introspection by a resource server whose secret was hashed
    // with the old pepper, and a code issued before the rotation.
    assert_eq!(me(&rotated, &access).await, StatusCode::OK);
    let r = reqwest::Client::new()
        .post(format!("{rotated}/oauth/introspect"))
        .basic_auth(&rs.0, Some(&rs.1))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["active"], true);
    let r = post(
        &rotated,
        "/oauth/token",
        &[
            ("client_id", &client_id),
            ("client_secret", &client_secret),
            ("grant_type", "authorization_code"),
            ("code", &pending_code),
            ("redirect_uri", REDIRECT_URI),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);

    // The old refresh token rotates; what it gets back is hashed with the new pepper, so
    // the old-pepper-only server does not know it.
    let r = post(
        &rotated,
        "/oauth/token",
        &[
            ("client_id", &client_id),
            ("client_secret", &client_secret),
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    let new_access = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(me(&rotated, &new_access).await, StatusCode::OK);
    assert_eq!(me(&forgetful, &new_access).await, StatusCode::OK);
    assert_eq!(
        server.me(&new_access).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Revocation with a pre-rotation token finds its grant.
    let r = post(
        &rotated,
        "/oauth/revoke",
        &[
            ("client_id", &client_id),
            ("client_secret", &client_secret),
            ("token", &access),
        ],
    )
    .await;
    assert_eq!(r.json::<Value>().await.unwrap()["successful"], true);
    assert_eq!(me(&rotated, &new_access).await, StatusCode::UNAUTHORIZED);
}
