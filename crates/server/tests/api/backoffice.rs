//! The back-office pages over real HTTP: sessions, CSRF, every operation, every validation
//! message, pagination, empty states and security headers.

use reqwest::{header, StatusCode};
use ucoauth_server::admin::{self, NewApplication};

use crate::helpers::*;

const PAGES: [&str; 7] = [
    "/applications",
    "/applications/new",
    "/authorized",
    "/keys",
    "/users",
    "/applications/0123/delete",
    "/users/0123/password",
];

/// The fields of a valid registration form.
fn app_form() -> Vec<(&'static str, String)> {
    vec![
        ("name", "Page App".into()),
        ("description", "Made on the page.".into()),
        ("developer_name", "Page Dev".into()),
        ("developer_email", "dev@page.example".into()),
        ("developer_url", "https://page.example".into()),
        (
            "redirect_uris",
            format!("{REDIRECT_URI}\nhttp://127.0.0.1:9/cb"),
        ),
        ("scopes", "item_read".into()),
        ("scopes", "order_read".into()),
        ("other_scopes", "".into()),
    ]
}

fn refs<'a>(fields: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    fields.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Registers an application through the page; returns (client_id, client_secret).
async fn register(server: &TestServer, browser: &reqwest::Client) -> (String, String) {
    let form = app_form();
    let r = server
        .submit(
            browser,
            "/applications/new",
            "/applications/new",
            &refs(&form),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.unwrap();
    let client_id = element_text(&html, "client-id").expect("client_id shown");
    let secret = element_text(&html, "secret").expect("secret shown");
    assert_eq!(secret.len(), 64);
    (client_id, secret)
}

async fn token_with_secret(server: &TestServer, client_id: &str, secret: &str) -> StatusCode {
    let code = server.code_for(client_id, &[]).await;
    server
        .post_form(
            "/oauth/token",
            &[
                ("client_id", client_id),
                ("client_secret", secret),
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
            ],
        )
        .await
        .status()
}

#[tokio::test]
async fn every_page_sends_a_signed_out_browser_to_sign_in_and_back() {
    let server = TestServer::start().await;
    let browser = server.browser();
    for path in PAGES {
        let r = browser
            .get(format!("{}{path}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        let login = location(&r);
        let expected = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", path)
            .finish();
        assert_eq!(login, format!("/login?{expected}"), "{path}");
    }
    // Signed in, the landing page shows the navigation.
    let browser = server.back_office().await;
    let (status, html) = server.page(&browser, "/").await;
    assert_eq!(status, StatusCode::OK);
    for area in [
        "Developer Applications",
        "Authorized Applications",
        "API keys",
        "Users",
        "Sign out",
    ] {
        assert!(html.contains(area), "{area}");
    }
}

#[tokio::test]
async fn a_developer_registers_edits_rotates_and_deletes_an_application() {
    let server = TestServer::start().await;
    let browser = server.back_office().await;
    let (client_id, secret) = register(&server, &browser).await;

    // Listed, with the secret shown only by its last characters from now on.
    let (_, list) = server.page(&browser, "/applications").await;
    assert!(list.contains("Page App") && list.contains(&client_id));
    let (_, details) = server
        .page(&browser, &format!("/applications/{client_id}"))
        .await;
    assert!(!details.contains(&secret));
    assert!(details.contains(&format!("…{}", &secret[60..])));
    assert!(details.contains("http://127.0.0.1:9/cb"));
    // The secret authenticates the client.
    assert_eq!(
        token_with_secret(&server, &client_id, &secret).await,
        StatusCode::OK
    );

    // Another merchant neither lists nor opens it.
    server
        .seed_merchant("OTHER", "Other Co", "other", PASSWORD)
        .await;
    let other = server.signed_in_as("other", PASSWORD).await;
    let (_, other_list) = server.page(&other, "/applications").await;
    assert!(!other_list.contains(&client_id));
    assert!(other_list.contains("No developer applications yet."));
    let (status, _) = server
        .page(&other, &format!("/applications/{client_id}"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Edit.
    let mut form = app_form();
    form[0].1 = "Renamed App".into();
    form.push(("require_pkce", "1".into()));
    let path = format!("/applications/{client_id}");
    let r = server.submit(&browser, &path, &path, &refs(&form)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("{path}?notice=saved"));
    let (_, details) = server.page(&browser, &location(&r)).await;
    assert!(details.contains("Your changes were saved."));
    let app = server
        .store
        .find_application(&client_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(app.name, "Renamed App");
    assert!(app.require_pkce);
    assert_eq!(app.scopes.to_wire(), "item_read order_read");

    // Rotate: the new secret is shown once; the old one stops working.
    let r = server
        .submit(&browser, &path, &format!("{path}/rotate-secret"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let rotated = element_text(&r.text().await.unwrap(), "secret").unwrap();
    assert_ne!(rotated, secret);
    server
        .store
        .update_application(
            ucoauth_server::domain::model::Application {
                require_pkce: false,
                ..server
                    .store
                    .find_application(&client_id)
                    .await
                    .unwrap()
                    .unwrap()
            },
            vec!["require_pkce"],
            ucoauth_server::domain::audit::Actor::operator(),
        )
        .await
        .unwrap();
    assert_eq!(
        token_with_secret(&server, &client_id, &secret).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        token_with_secret(&server, &client_id, &rotated).await,
        StatusCode::OK
    );

    // Delete: the confirmation names what ends; afterwards the tokens are refused.
    let (access, refresh) = server.tokens(&client_id).await;
    let (status, confirm) = server.page(&browser, &format!("{path}/delete")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        confirm.contains("authorizations</strong> by merchants will be revoked"),
        "{confirm}"
    );
    let r = server
        .submit(
            &browser,
            &format!("{path}/delete"),
            &format!("{path}/delete"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/applications?notice=deleted");
    assert_eq!(server.me(&access).await.status(), StatusCode::UNAUTHORIZED);
    assert_ne!(
        server.refresh(&client_id, &refresh).await.status(),
        StatusCode::OK
    );
    let (status, _) = server.page(&browser, &path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_application_validation_message_is_shown_next_to_its_field() {
    let server = TestServer::start().await;
    let browser = server.back_office().await;
    let many: String = (0..21)
        .map(|i| format!("https://a.example/{i}"))
        .collect::<Vec<_>>()
        .join("\n");
    let long_uri = format!("https://a.example/{}", "x".repeat(2000));
    let cases: Vec<(&str, String, &str, &str)> = vec![
        ("name", String::new(), "name", "must be 1-100 characters"),
        ("name", "n".repeat(101), "name", "must be 1-100 characters"),
        (
            "description",
            "d".repeat(2001),
            "description",
            "at most 2000 characters",
        ),
        (
            "developer_name",
            "d".repeat(201),
            "developer_name",
            "at most 200 characters",
        ),
        (
            "developer_email",
            "nope".into(),
            "developer_email",
            "expected an address like dev@example.com",
        ),
        (
            "developer_url",
            "ftp://x".into(),
            "developer_url",
            "expected an absolute http(s) URL",
        ),
        (
            "redirect_uris",
            String::new(),
            "redirect_uris",
            "at least one is required",
        ),
        (
            "redirect_uris",
            "http://app.example/cb".into(),
            "redirect_uris",
            "must use https (plain http is allowed only for loopback hosts)",
        ),
        (
            "redirect_uris",
            "https://app.example/cb#x".into(),
            "redirect_uris",
            "must not contain a fragment",
        ),
        (
            "redirect_uris",
            "/cb".into(),
            "redirect_uris",
            "is not an absolute URI",
        ),
        (
            "redirect_uris",
            "https://u:p@app.example/cb".into(),
            "redirect_uris",
            "must not contain user information",
        ),
        (
            "redirect_uris",
            "javascript:alert(1)".into(),
            "redirect_uris",
            "must use https, http on a loopback host, or a reverse-domain private scheme",
        ),
        (
            "redirect_uris",
            "https://app.example/a b".into(),
            "redirect_uris",
            "contains whitespace",
        ),
        (
            "redirect_uris",
            long_uri,
            "redirect_uris",
            "is longer than 2000 characters",
        ),
        ("redirect_uris", many, "redirect_uris", "at most 20"),
        (
            "scopes",
            String::new(),
            "scopes",
            "choose at least one permission",
        ),
        (
            "other_scopes",
            "bad\"scope".into(),
            "scopes",
            "is not a valid scope name",
        ),
    ];
    for (field, value, error_field, message) in cases {
        let mut form: Vec<(&'static str, String)> = app_form()
            .into_iter()
            .filter(|(k, _)| *k != field && !(field == "scopes" && *k == "scopes"))
            .collect();
        if field != "scopes" {
            form.push((field, value.clone()));
        }
        let r = server
            .submit(
                &browser,
                "/applications/new",
                "/applications/new",
                &refs(&form),
            )
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{field}");
        let html = r.text().await.unwrap();
        let shown = element_text(&html, &format!("{error_field}-error"))
            .unwrap_or_else(|| panic!("no message next to {error_field}: {html}"));
        assert!(
            shown.contains(message),
            "{field}: {shown:?} lacks {message:?}"
        );
        assert!(html.contains(&format!("aria-describedby=\"{error_field}-error\"")));
        assert!(html.contains("role=\"alert\""));
        // What was typed stays in the form.
        assert!(html.contains("Page Dev") || field == "developer_name");
    }
    let (_, list) = server.page(&browser, "/applications").await;
    assert!(
        list.contains("No developer applications yet."),
        "nothing was registered"
    );

    // The edit form shows its messages the same way, and keeps the stored values.
    let (client_id, _) = register(&server, &browser).await;
    let path = format!("/applications/{client_id}");
    let mut form = app_form();
    form[3].1 = "not-an-email".into();
    let r = server.submit(&browser, &path, &path, &refs(&form)).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let html = r.text().await.unwrap();
    assert!(element_text(&html, "developer_email-error")
        .unwrap()
        .contains("expected an address"));
    let app = server
        .store
        .find_application(&client_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(app.developer_email, "dev@page.example");
}

/// A form's fields, the field whose message is expected, and the message.
type Case = (
    Vec<(&'static str, &'static str)>,
    &'static str,
    &'static str,
);

#[tokio::test]
async fn key_and_user_validation_messages_are_shown_next_to_their_fields() {
    let server = TestServer::start().await;
    let browser = server.back_office().await;
    let key_cases: Vec<Case> = vec![
        (
            vec![("name", ""), ("scopes", "item_read")],
            "name",
            "must be 1-100 characters",
        ),
        (
            vec![("name", "k")],
            "scopes",
            "choose at least one permission",
        ),
        (
            vec![("name", "k"), ("other_scopes", "a\\b")],
            "scopes",
            "is not a valid scope name",
        ),
    ];
    for (fields, field, message) in key_cases {
        let r = server.submit(&browser, "/keys", "/keys", &fields).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let html = r.text().await.unwrap();
        let shown = element_text(&html, &format!("{field}-error")).unwrap();
        assert!(shown.contains(message), "{shown:?}");
    }
    let user_cases: Vec<Case> = vec![
        (
            vec![
                ("login", "a b"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
            "login",
            "printable characters without spaces",
        ),
        (
            vec![
                ("login", ""),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
            "login",
            "must be 1-100",
        ),
        (
            vec![
                ("login", "ann"),
                ("password", "short"),
                ("password_confirm", "short"),
            ],
            "password",
            "must be at least 8 characters",
        ),
        (
            vec![
                ("login", "ann"),
                ("password", PASSWORD),
                ("password_confirm", "different!"),
            ],
            "password_confirm",
            "does not match the password",
        ),
        (
            vec![
                ("login", LOGIN),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
            "login",
            "demo is already taken",
        ),
    ];
    for (fields, field, message) in user_cases {
        let r = server.submit(&browser, "/users", "/users", &fields).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{field}");
        let html = r.text().await.unwrap();
        let shown = element_text(&html, &format!("{field}-error")).unwrap();
        assert!(shown.contains(message), "{shown:?} lacks {message:?}");
    }
    let users = server.store.list_users("DEMO", 0, 10).await.unwrap();
    assert_eq!(users.1, 1, "no user was added");

    let me = users.0[0].user.user_id.clone();
    let path = format!("/users/{me}/password");
    for (fields, field, message) in [
        (
            vec![("password", "short"), ("password_confirm", "short")],
            "password",
            "must be at least 8 characters",
        ),
        (
            vec![("password", PASSWORD), ("password_confirm", "other one")],
            "password_confirm",
            "does not match",
        ),
    ] {
        let r = server.submit(&browser, &path, &path, &fields).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let shown = element_text(&r.text().await.unwrap(), &format!("{field}-error")).unwrap();
        assert!(shown.contains(message), "{shown:?}");
    }
}

#[tokio::test]
async fn a_form_without_this_sessions_csrf_token_changes_nothing() {
    let server = TestServer::start().await;
    let browser = server.back_office().await;
    let (client_id, _) = server
        .app(|a| a.owner_merchant_id = Some("DEMO".into()))
        .await;
    let (access, _) = server.tokens(&client_id).await;
    let grant_id = server
        .store
        .list_grants_by_merchant("DEMO", 0, 10)
        .await
        .unwrap()
        .0[0]
        .grant_id
        .clone();
    let key = server.simple_key("DEMO", &["item_read"]).await;
    let key_id = server.store.list_keys("DEMO", 0, 10).await.unwrap().0[0]
        .key_id
        .clone();
    server.seed_merchant_user("DEMO", "second", PASSWORD).await;
    let second = server
        .store
        .find_user_by_login("second")
        .await
        .unwrap()
        .unwrap()
        .user
        .user_id;
    let before = server
        .store
        .find_application(&client_id)
        .await
        .unwrap()
        .unwrap();

    // A token from another session of the same user is not this session's token.
    let other_session = server.back_office().await;
    let (_, html) = server.page(&other_session, "/applications").await;
    let foreign = hidden_value(&html, "csrf_token");

    let actions = [
        "/applications/new".to_owned(),
        format!("/applications/{client_id}"),
        format!("/applications/{client_id}/rotate-secret"),
        format!("/applications/{client_id}/delete"),
        format!("/authorized/{grant_id}/revoke"),
        "/keys".to_owned(),
        format!("/keys/{key_id}/revoke"),
        "/users".to_owned(),
        format!("/users/{second}/remove"),
        format!("/users/{second}/password"),
        "/logout".to_owned(),
    ];
    for action in &actions {
        for token in [None, Some("forged"), Some(foreign.as_str())] {
            let mut form = app_form();
            form.extend([
                ("login", "mallory".to_owned()),
                ("password", "mallory password".to_owned()),
                ("password_confirm", "mallory password".to_owned()),
            ]);
            if let Some(t) = token {
                form.push(("csrf_token", t.to_owned()));
            }
            let r = browser
                .post(format!("{}{action}", server.base))
                .form(&refs(&form))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{action} with {token:?}");
            assert!(r.headers().contains_key("uc-rest-error"));
        }
    }
    // Nothing changed.
    assert_eq!(
        server
            .store
            .find_application(&client_id)
            .await
            .unwrap()
            .unwrap(),
        before
    );
    let (apps, total) = server.store.list_applications(0, 10).await.unwrap();
    assert_eq!((apps.len(), total), (1, 1));
    assert_eq!(server.me(&access).await.status(), StatusCode::OK);
    let r = server
        .client()
        .get(format!("{}/oauth/me", server.api))
        .header("x-ultracart-simple-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(server.store.list_users("DEMO", 0, 10).await.unwrap().1, 2);
    assert!(server
        .store
        .find_user_by_login("mallory")
        .await
        .unwrap()
        .is_none());
    server.signed_in_as("second", PASSWORD).await;
    let (status, _) = server.page(&browser, "/applications").await;
    assert_eq!(status, StatusCode::OK, "still signed in");
}

#[tokio::test]
async fn an_expired_session_is_sent_to_sign_in_and_its_forms_do_nothing() {
    let server = TestServer::start().await;
    let browser = server.back_office().await;
    let (_, html) = server.page(&browser, "/applications/new").await;
    let csrf = hidden_value(&html, "csrf_token");
    server.clock.advance(12 * 3_600_000 - 1_000);
    let (status, _) = server.page(&browser, "/applications").await;
    assert_eq!(status, StatusCode::OK, "still inside session_ttl");

    server.clock.advance(2_000);
    let r = browser
        .get(format!("{}/applications", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/login?return_to=%2Fapplications");
    let mut form = app_form();
    form.push(("csrf_token", csrf));
    let r = browser
        .post(format!("{}/applications/new", server.base))
        .form(&refs(&form))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/login?return_to="));
    assert_eq!(server.store.list_applications(0, 10).await.unwrap().1, 0);
}

#[tokio::test]
async fn the_merchant_sees_and_revokes_an_authorized_application() {
    let server = TestServer::start().await;
    let browser = server.back_office().await;
    let (_, html) = server.page(&browser, "/authorized").await;
    assert!(html.contains("No authorized applications."));

    let (client_id, _) = server.app(|_| {}).await;
    let (access, refresh) = server.tokens(&client_id).await;
    let (_, html) = server.page(&browser, "/authorized").await;
    assert!(
        html.contains("Item Sync") && html.contains("by Acme Dev"),
        "{html}"
    );
    assert!(
        html.contains("<code title=\"Allows you to read item information.\">item_read</code>"),
        "{html}"
    );
    assert!(html.contains("by demo"));
    assert!(!html.contains("never"), "the code exchange counts as a use");
    let grant_id = server
        .store
        .list_grants_by_merchant("DEMO", 0, 10)
        .await
        .unwrap()
        .0[0]
        .grant_id
        .clone();

    // Another merchant cannot revoke it.
    server
        .seed_merchant("OTHER", "Other Co", "other", PASSWORD)
        .await;
    let other = server.signed_in_as("other", PASSWORD).await;
    let r = server
        .submit(
            &other,
            "/authorized",
            &format!("/authorized/{grant_id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(server.me(&access).await.status(), StatusCode::OK);

    let r = server
        .submit(
            &browser,
            "/authorized",
            &format!("/authorized/{grant_id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/authorized?notice=revoked");
    assert_eq!(server.me(&access).await.status(), StatusCode::UNAUTHORIZED);
    assert_oauth_error(
        server.refresh(&client_id, &refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    let (_, html) = server.page(&browser, "/authorized?notice=revoked").await;
    assert!(html.contains("Access was revoked"));
    assert!(html.contains("No authorized applications."));
    // Revoking twice is "not found", not an error page of the server's.
    let r = server
        .submit(
            &browser,
            "/authorized",
            &format!("/authorized/{grant_id}/revoke"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_api_key_is_shown_once_stored_hashed_and_revocable() {
    let server = TestServer::start().await;
    let browser = server.back_office().await;
    let (_, html) = server.page(&browser, "/keys").await;
    assert!(html.contains("No API keys yet."));
    let r = server
        .submit(
            &browser,
            "/keys",
            "/keys",
            &[
                ("name", "nightly export"),
                ("scopes", "order_read"),
                ("other_scopes", "custom_read"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let key = element_text(&r.text().await.unwrap(), "secret").unwrap();
    assert_eq!(key.len(), 64);

    let (_, list) = server.page(&browser, "/keys").await;
    assert!(list.contains("nightly export") && list.contains(&format!("…{}", &key[60..])));
    assert!(!list.contains(&key));
    let stored = server.db.stored_bytes().await;
    assert!(
        !stored.windows(key.len()).any(|w| w == key.as_bytes()),
        "the key is stored in clear"
    );
}

#[tokio::test]
async fn a_key_made_on_the_page_answers_me_and_stops_when_revoked() {
    let server = TestServer::start().await;
    let browser = server.back_office().await;
    let r = server
        .submit(
            &browser,
            "/keys",
            "/keys",
            &[
                ("name", "export"),
                ("scopes", "order_read"),
                ("scopes", "item_read"),
            ],
        )
        .await;
    let key = element_text(&r.text().await.unwrap(), "secret").unwrap();
    let me = || {
        server
            .client()
            .get(format!("{}/oauth/me", server.api))
            .header("x-ultracart-simple-key", key.clone())
            .send()
    };
    let body: serde_json::Value = me().await.unwrap().json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"merchant_id": "DEMO", "merchant_name": "Demo Company", "scopes": ["order_read", "item_read"]})
    );
    let key_id = server.store.list_keys("DEMO", 0, 10).await.unwrap().0[0]
        .key_id
        .clone();
    let r = server
        .submit(&browser, "/keys", &format!("/keys/{key_id}/revoke"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/keys?notice=key-revoked");
    assert_error_response(me().await.unwrap(), StatusCode::UNAUTHORIZED).await;
}

#[tokio::test]
async fn users_are_added_given_new_passwords_and_removed() {
    let server = TestServer::start().await;
    let browser = server.back_office().await;
    let r = server
        .submit(
            &browser,
            "/users",
            "/users",
            &[
                ("login", "ann"),
                ("password", "ann's password"),
                ("password_confirm", "ann's password"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/users?notice=added");
    let ann_browser = server.signed_in_as("ann", "ann's password").await;
    let ann = server
        .store
        .find_user_by_login("ann")
        .await
        .unwrap()
        .unwrap()
        .user
        .user_id;

    // A new password ends ann's sessions; the old password stops working.
    let path = format!("/users/{ann}/password");
    let r = server
        .submit(
            &browser,
            &path,
            &path,
            &[
                ("password", "ann's new password"),
                ("password_confirm", "ann's new password"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, _) = server.page(&ann_browser, "/applications").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "ann's session ended");
    let (status, _) = server.page(&browser, "/applications").await;
    assert_eq!(status, StatusCode::OK, "the changer's own session stays");
    let login_page = server.browser();
    let html = login_page
        .get(format!("{}/login", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = login_page
        .post(format!("{}/login", server.base))
        .form(&[
            ("login", "ann"),
            ("password", "ann's password"),
            ("csrf_token", &hidden_value(&html, "csrf_token")),
            ("return_to", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let ann_browser = server.signed_in_as("ann", "ann's new password").await;

    // You cannot remove yourself (no button, and the POST is refused).
    let me = server
        .store
        .find_user_by_login(LOGIN)
        .await
        .unwrap()
        .unwrap()
        .user
        .user_id;
    let (_, users) = server.page(&browser, "/users").await;
    assert!(!users.contains(&format!("/users/{me}/remove")));
    assert!(users.contains(&format!("/users/{ann}/remove")));
    let r = server
        .submit(&browser, "/users", &format!("/users/{me}/remove"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(element_text(&r.text().await.unwrap(), "problem")
        .unwrap()
        .contains("signed in as"));

    // Removing ann signs her out and she cannot sign in again.
    let r = server
        .submit(&browser, "/users", &format!("/users/{ann}/remove"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, _) = server.page(&ann_browser, "/users").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(server
        .store
        .find_user_by_login("ann")
        .await
        .unwrap()
        .is_none());

    // On the page the last user is always the one signed in, so the rule that a merchant keeps
    // someone who can sign in shows in the shared operation (which the CLI uses too).
    let err = admin::remove_user(
        &server.store,
        admin::Within::AnyMerchant,
        &ucoauth_server::domain::audit::Actor::operator(),
        &me,
        None,
        server.clock_now(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, admin::AdminError::Conflict(_)), "{err}");
}

#[tokio::test]
async fn long_lists_are_paginated() {
    let server = TestServer::start().await;
    for i in 0..25 {
        server.clock.advance(1);
        admin::create_application(
            &server.store,
            &server.pepper,
            NewApplication {
                name: format!("App {i:02}"),
                redirect_uris: vec![REDIRECT_URI.into()],
                scopes: vec!["item_read".into()],
                owner_merchant_id: Some("DEMO".into()),
                ..Default::default()
            },
            &ucoauth_server::domain::audit::Actor::operator(),
            ucoauth_server::clock::Clock::now(&server.clock),
        )
        .await
        .unwrap();
    }
    let browser = server.back_office().await;
    let (_, first) = server.page(&browser, "/applications").await;
    assert_eq!(
        first.matches("<tr>").count(),
        21,
        "a header row and 20 apps"
    );
    assert!(first.contains("Page 1 of 2 (25 in all)"));
    assert!(
        first.contains("App 24") && !first.contains("App 04"),
        "newest first"
    );
    assert!(first.contains("href=\"/applications?page=2\" rel=\"next\""));
    let (_, second) = server.page(&browser, "/applications?page=2").await;
    assert_eq!(second.matches("<tr>").count(), 6);
    assert!(second.contains("App 00") && second.contains("rel=\"prev\""));
    assert!(!second.contains("rel=\"next\""));
    // Past the end: no rows, and a way back to the last page (not "no applications yet").
    let (_, beyond) = server.page(&browser, "/applications?page=9").await;
    assert!(!beyond.contains("No developer applications yet."));
    assert!(beyond.contains("href=\"/applications?page=2\" rel=\"prev\""));
    // Nonsense page numbers fall back to the first page.
    let (status, html) = server.page(&browser, "/applications?page=-3").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Page 1 of 2"));
}

#[tokio::test]
async fn pages_carry_the_security_headers_and_hsts_only_over_tls() {
    let server = TestServer::start().await;
    let browser = server.back_office().await;
    let r = browser
        .get(format!("{}/applications", server.base))
        .send()
        .await
        .unwrap();
    let h = r.headers();
    let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("form-action 'self'"));
    assert!(csp.contains("default-src 'none'"));
    assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
    assert_eq!(h[header::CACHE_CONTROL], "no-store");
    assert!(!h.contains_key(header::STRICT_TRANSPORT_SECURITY));

    let tls = TestServer::start_with(|c| {
        c.public_url = url::Url::parse("https://auth.example").unwrap();
    })
    .await;
    let page = tls
        .browser()
        .get(format!("{}/login", tls.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        page.headers()[header::STRICT_TRANSPORT_SECURITY],
        "max-age=31536000; includeSubDomains"
    );
    let cookie = page.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    for flag in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie} lacks {flag}");
    }
    let api = tls
        .client()
        .get(format!("{}/healthz", tls.base))
        .send()
        .await
        .unwrap();
    assert!(api
        .headers()
        .contains_key(header::STRICT_TRANSPORT_SECURITY));
}

#[tokio::test]
async fn unknown_pages_answer_a_browser_with_a_page() {
    let server = TestServer::start().await;
    let r = server
        .client()
        .get(format!("{}/no-such-page", server.base))
        .header(header::ACCEPT, "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await.unwrap().contains("Page not found"));
}
