//! `GET /oauth/authorize`, sign-in and consent: refusals, and that nothing redirects where it
//! should not.

use reqwest::StatusCode;

use crate::helpers::*;

type Params<'a> = Vec<(&'a str, &'a str)>;

#[tokio::test]
async fn an_unknown_client_or_unregistered_redirect_uri_is_an_error_page_never_a_redirect() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![
            ("response_type", "code"),
            ("client_id", "nope"),
            ("state", "s"),
        ],
        vec![("response_type", "code"), ("state", "s")],
        vec![
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", "https://evil.example/callback"),
            ("state", "s"),
        ],
        vec![
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", "https://app.example/callback.evil"),
            ("state", "s"),
        ],
    ];
    for params in cases {
        let r = server
            .browser()
            .get(server.authorize_url(&params))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{params:?}");
        assert!(r.headers().get("location").is_none());
        assert!(r.headers().contains_key("uc-rest-error"));
        assert!(r
            .text()
            .await
            .unwrap()
            .contains("You have not been sent anywhere"));

        // An API client gets the same refusal as an ErrorResponse.
        let r = server
            .client()
            .get(server.authorize_url(&params))
            .send()
            .await
            .unwrap();
        assert_error_response(r, StatusCode::BAD_REQUEST).await;
    }
}

#[tokio::test]
async fn other_errors_go_back_to_the_registered_redirect_uri_with_the_state() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let cases: Vec<(Params, &str, Option<&str>)> = vec![
        (
            vec![("client_id", &client_id), ("state", "s1")],
            "invalid_request",
            Some("s1"),
        ),
        (
            vec![
                ("response_type", "token"),
                ("client_id", &client_id),
                ("state", "s2"),
            ],
            "unsupported_response_type",
            Some("s2"),
        ),
        (
            vec![("response_type", "code"), ("client_id", &client_id)],
            "invalid_request",
            None,
        ),
        (
            vec![
                ("response_type", "code"),
                ("client_id", &client_id),
                ("state", "s3"),
                ("scope", "item_write"),
            ],
            "invalid_scope",
            Some("s3"),
        ),
        (
            vec![
                ("response_type", "code"),
                ("client_id", &client_id),
                ("state", "s4"),
                ("code_challenge", "short"),
                ("code_challenge_method", "S256"),
            ],
            "invalid_request",
            Some("s4"),
        ),
    ];
    for (params, error, state) in cases {
        let r = server
            .browser()
            .get(server.authorize_url(&params))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{params:?}");
        let back = url::Url::parse(&location(&r)).unwrap();
        assert!(back.as_str().starts_with(REDIRECT_URI), "{back}");
        assert_eq!(
            query_param(&back, "error").as_deref(),
            Some(error),
            "{params:?}"
        );
        assert_eq!(query_param(&back, "state").as_deref(), state);
        assert_eq!(query_param(&back, "code"), None);
    }
}

#[tokio::test]
async fn a_wrong_password_shows_the_form_again_with_a_message() {
    let server = TestServer::start().await;
    let browser = server.browser();
    let page = browser
        .get(format!("{}/login", server.base))
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("autocomplete=\"username\""));
    assert!(html.contains("autocomplete=\"current-password\""));
    let csrf = hidden_value(&html, "csrf_token");
    let r = browser
        .post(format!("{}/login", server.base))
        .form(&[
            ("login", LOGIN),
            ("password", "wrong password"),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("The login or password is incorrect."));
}

#[tokio::test]
async fn a_login_without_the_form_csrf_token_is_refused() {
    let server = TestServer::start().await;
    let r = server
        .browser()
        .post(format!("{}/login", server.base))
        .form(&[
            ("login", LOGIN),
            ("password", PASSWORD),
            ("csrf_token", "forged"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r
        .headers()
        .get("set-cookie")
        .is_some_and(|c| !c.to_str().unwrap().starts_with("ucoauth_session=")));
}

#[tokio::test]
async fn consent_needs_the_session_csrf_token_and_a_get_never_grants() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let browser = server.browser();
    let params = [
        ("response_type", "code"),
        ("client_id", client_id.as_str()),
        ("state", "s"),
    ];
    server.consent(&browser, &params, "deny").await;
    let page = browser
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    let html = page.text().await.unwrap();

    let mut forged: Vec<(String, String)> = hidden_fields(&html)
        .into_iter()
        .filter(|(n, _)| n != "csrf_token")
        .collect();
    forged.push(("csrf_token".into(), "forged".into()));
    forged.push(("decision".into(), "approve".into()));
    let r = browser
        .post(format!("{}/oauth/authorize", server.api))
        .form(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.headers().get("location").is_none());

    let grants: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM grants")
        .fetch_one(server.store.pool())
        .await
        .unwrap();
    assert_eq!(
        grants, 0,
        "viewing the consent page or a forged POST created a grant"
    );
}

#[tokio::test]
async fn sign_in_replaces_a_planted_session_id_no_fixation() {
    let server = TestServer::start().await;
    let client = server.client();
    let page = client
        .get(format!("{}/login", server.base))
        .send()
        .await
        .unwrap();
    let nonce = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find_map(|c| {
            c.strip_prefix("ucoauth_login=")
                .map(|v| v.split(';').next().unwrap().to_owned())
        })
        .unwrap();
    let csrf = hidden_value(&page.text().await.unwrap(), "csrf_token");
    let planted = "A".repeat(43);
    let r = client
        .post(format!("{}/login", server.base))
        .header(
            "cookie",
            format!("ucoauth_login={nonce}; ucoauth_session={planted}"),
        )
        .form(&[
            ("login", LOGIN),
            ("password", PASSWORD),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("ucoauth_session="))
        .unwrap();
    assert!(!session.contains(&planted));
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax"));
}
