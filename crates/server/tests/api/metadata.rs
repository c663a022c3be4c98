//! `GET /.well-known/oauth-authorization-server` (RFC 8414).

use reqwest::{header, StatusCode};
use serde_json::Value;

use crate::helpers::*;

async fn metadata(server: &TestServer) -> Value {
    let r = server
        .client()
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            server.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    let body: Value = r.json().await.unwrap();
    assert_no_nulls(&body);
    body
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn the_document_names_every_endpoint_and_capability() {
    let server = TestServer::start().await;
    let m = metadata(&server).await;
    let api = &server.api;
    assert_eq!(m["issuer"], server.base.as_str());
    assert_eq!(
        m["authorization_endpoint"],
        format!("{api}/oauth/authorize")
    );
    assert_eq!(m["token_endpoint"], format!("{api}/oauth/token"));
    assert_eq!(m["revocation_endpoint"], format!("{api}/oauth/revoke"));
    assert_eq!(
        m["introspection_endpoint"],
        format!("{api}/oauth/introspect")
    );
    assert_eq!(
        m["device_authorization_endpoint"],
        format!("{api}/oauth/device/authorize")
    );
    assert_eq!(strings(&m["response_types_supported"]), ["code"]);
    assert_eq!(
        strings(&m["grant_types_supported"]),
        [
            "authorization_code",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:device_code"
        ]
    );
    assert_eq!(
        strings(&m["code_challenge_methods_supported"]),
        ["S256", "plain"]
    );
    let auth = strings(&m["token_endpoint_auth_methods_supported"]);
    for method in ["client_secret_basic", "client_secret_post", "none"] {
        assert!(auth.contains(&method), "{method} missing from {auth:?}");
    }
    assert_eq!(
        strings(&m["introspection_endpoint_auth_methods_supported"]),
        ["client_secret_basic", "client_secret_post"]
    );
    let scopes = strings(&m["scopes_supported"]);
    assert_eq!(scopes.len(), 40);
    assert!(scopes.contains(&"item_read") && scopes.contains(&"workflow_write"));
    assert_eq!(m["authorization_response_iss_parameter_supported"], true);
}

#[tokio::test]
async fn every_advertised_endpoint_is_served_and_iss_matches_the_redirect() {
    let server = TestServer::start().await;
    let m = metadata(&server).await;
    // Every `*_endpoint` the document names (so one added later is covered too) is served:
    // the authorization endpoint by GET, the others by POST, each reaching its handler (an
    // empty request is refused by the handler: neither 404 nor 405).
    let endpoints: Vec<(&String, &str)> = m
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.ends_with("_endpoint"))
        .map(|(k, v)| (k, v.as_str().unwrap()))
        .collect();
    assert_eq!(endpoints.len(), 5, "{endpoints:?}");
    for (key, url) in endpoints {
        assert!(url.starts_with(&server.base), "{key} {url}");
        let r = if key == "authorization_endpoint" {
            server.client().get(url).send().await.unwrap()
        } else {
            server
                .client()
                .post(url)
                .form(&[("client_id", "nobody")])
                .send()
                .await
                .unwrap()
        };
        let status = r.status();
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
            "{key} {url}: {status}"
        );
        assert!(status.is_client_error(), "{key} {url}: {status}");
    }
    // Every advertised grant type is one the token endpoint knows (its refusal here is about
    // the missing credentials, never unsupported_grant_type).
    let (client_id, _) = server.app(|_| {}).await;
    for grant in strings(&m["grant_types_supported"]) {
        let r = server
            .post_form(
                "/oauth/token",
                &[("client_id", client_id.as_str()), ("grant_type", grant)],
            )
            .await;
        let body: Value = r.json().await.unwrap();
        assert_ne!(body["error"], "unsupported_grant_type", "{grant}: {body}");
        assert_eq!(body["error"], "invalid_request", "{grant}: {body}");
    }
    // RFC 9207: the authorization response's iss is the metadata's issuer.
    let back = server
        .consent(
            &server.browser(),
            &[
                ("response_type", "code"),
                ("client_id", &client_id),
                ("state", "s"),
            ],
            "approve",
        )
        .await;
    assert_eq!(query_param(&back, "iss").as_deref(), m["issuer"].as_str());
}

#[tokio::test]
async fn a_strict_server_advertises_only_s256_and_secret_authentication() {
    let server = TestServer::start_with(strict).await;
    let m = metadata(&server).await;
    assert_eq!(strings(&m["code_challenge_methods_supported"]), ["S256"]);
    assert!(!strings(&m["token_endpoint_auth_methods_supported"]).contains(&"none"));
}
