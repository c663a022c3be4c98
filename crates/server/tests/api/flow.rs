//! The whole code flow, as a merchant and an application live it.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn connect_exchange_refresh_identify_and_revoke() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let browser = server.browser();

    // The browser flow: login, consent, 303 back with code and the state verbatim.
    let state = "a b&c=d/é?";
    let back = server
        .consent(
            &browser,
            &[
                ("response_type", "code"),
                ("client_id", &client_id),
                ("redirect_uri", REDIRECT_URI),
                ("state", state),
            ],
            "approve",
        )
        .await;
    assert!(back.as_str().starts_with(REDIRECT_URI));
    assert_eq!(query_param(&back, "state").as_deref(), Some(state));
    assert_eq!(
        query_param(&back, "iss").as_deref(),
        Some(server.base.as_str())
    );
    let code = query_param(&back, "code").unwrap();

    // Exchange: the exact OauthTokenResponse shape.
    let r = server
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
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["pragma"], "no-cache");
    let token: Value = r.json().await.unwrap();
    assert_eq!(token["token_type"], "bearer");
    assert_eq!(token["expires_in"], "3600");
    assert_eq!(token["scope"], "item_read order_read");
    assert_eq!(token["merchant_id"], "DEMO");
    assert!(token["access_token"].as_str().unwrap().len() >= 43);
    assert_no_nulls(&token);
    let keys: Vec<_> = token.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "access_token",
            "expires_in",
            "merchant_id",
            "refresh_token",
            "scope",
            "token_type"
        ]
    );

    // Refresh rotates both tokens and keeps the granted scope.
    let r = server
        .refresh(&client_id, token["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let refreshed: Value = r.json().await.unwrap();
    assert_ne!(refreshed["refresh_token"], token["refresh_token"]);
    assert_ne!(refreshed["access_token"], token["access_token"]);
    assert_eq!(refreshed["scope"], "item_read order_read");

    // /oauth/me names the merchant and the granted permissions.
    let access = refreshed["access_token"].as_str().unwrap();
    let r = server.me(access).await;
    assert_eq!(r.status(), StatusCode::OK);
    let me: Value = r.json().await.unwrap();
    assert_eq!(
        me,
        serde_json::json!({
            "application_name": "Item Sync",
            "client_id": client_id,
            "merchant_id": "DEMO",
            "merchant_name": "Demo Company",
            "scopes": ["item_read", "order_read"],
        })
    );

    // Revoke ends the whole grant: both access tokens and the refresh token stop working.
    let r = server
        .post_form(
            "/oauth/revoke",
            &[("client_id", &client_id), ("token", access)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["successful"], true);
    assert!(body["message"].is_string());
    assert_eq!(server.me(access).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        server
            .me(token["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let r = server
        .refresh(&client_id, refreshed["refresh_token"].as_str().unwrap())
        .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn a_signed_in_merchant_goes_straight_to_consent_and_can_deny() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let browser = server.browser();
    let params = [
        ("response_type", "code"),
        ("client_id", client_id.as_str()),
        ("state", "xyz"),
    ];
    server.consent(&browser, &params, "approve").await;

    // Second time: the session is there, so the consent page shows at once.
    let page = browser
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Item Sync"));
    assert!(html.contains("Acme Dev"));
    assert!(html.contains("Allows you to read item information."));
    assert!(html.contains("name=\"decision\" value=\"approve\""));
    let denied = server.decide(&browser, &html, "deny").await;
    assert_eq!(denied.status(), StatusCode::SEE_OTHER);
    let back = url::Url::parse(&location(&denied)).unwrap();
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(query_param(&back, "state").as_deref(), Some("xyz"));
    assert_eq!(query_param(&back, "code"), None);
}

#[tokio::test]
async fn the_guides_admin_url_leads_to_the_same_flow() {
    let server = TestServer::start().await;
    let r = server
        .client()
        .get(format!(
            "{}/admin/v2/oauth/authorize?client_id=abc&state=s&response_type=code",
            server.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        location(&r),
        "/rest/v2/oauth/authorize?client_id=abc&state=s&response_type=code"
    );
}

#[tokio::test]
async fn pkce_s256_flow_succeeds_with_the_verifier_only() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|a| a.require_pkce = true).await;
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let pkce = [
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    let code = server.code_for(&client_id, &pkce).await;
    let without = server
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
    assert_oauth_error(without, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let with = server
        .post_form(
            "/oauth/token",
            &[
                ("client_id", &client_id),
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", verifier),
            ],
        )
        .await;
    assert_eq!(with.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_strict_profile_requires_pkce_s256_and_the_client_secret() {
    let server = TestServer::start_with(strict).await;
    let (client_id, secret) = server.app(|_| {}).await;
    let base = [
        ("response_type", "code"),
        ("client_id", client_id.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("state", "s"),
    ];
    // No PKCE: refused back at the redirect URI.
    let r = server
        .browser()
        .get(server.authorize_url(&base))
        .send()
        .await
        .unwrap();
    let back = url::Url::parse(&location(&r)).unwrap();
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("invalid_request")
    );
    // plain PKCE: refused too.
    let mut plain = base.to_vec();
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    plain.extend([
        ("code_challenge", verifier),
        ("code_challenge_method", "plain"),
    ]);
    let r = server
        .browser()
        .get(server.authorize_url(&plain))
        .send()
        .await
        .unwrap();
    let back = url::Url::parse(&location(&r)).unwrap();
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("invalid_request")
    );

    let pkce = [
        (
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        ),
        ("code_challenge_method", "S256"),
    ];
    let code = server.code_for(&client_id, &pkce).await;
    let without_secret = server
        .post_form(
            "/oauth/token",
            &[
                ("client_id", &client_id),
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", verifier),
            ],
        )
        .await;
    assert_oauth_error(without_secret, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let ok = server
        .post_form(
            "/oauth/token",
            &[
                ("client_id", &client_id),
                ("client_secret", &secret),
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", verifier),
            ],
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
}
