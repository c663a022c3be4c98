//! The admin JSON API (`/admin/api/v1`): authentication by simple key or session (+ CSRF
//! header), permissions, paging with `result_set`, and errors as `ErrorResponse`.

use reqwest::{Client, Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

const KEY: &str = "x-ultracart-simple-key";

fn url(server: &TestServer, path: &str) -> String {
    format!("{}/admin/api/v1{path}", server.base)
}

fn with_key(server: &TestServer, method: Method, path: &str, key: &str) -> RequestBuilder {
    server
        .client()
        .request(method, url(server, path))
        .header(KEY, key)
}

async fn ok_json(r: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(r.status(), status);
    assert_eq!(r.headers()["content-type"], "application/json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["success"], true, "{body}");
    assert_no_nulls(&body);
    body
}

fn new_app() -> Value {
    json!({
        "name": "Script App",
        "redirect_uris": [REDIRECT_URI],
        "scopes": ["item_read", "order_read"],
        "developer_email": "dev@script.example"
    })
}

#[tokio::test]
async fn requests_without_credentials_or_with_a_bad_key_are_401() {
    let server = TestServer::start().await;
    for path in ["/applications", "/grants", "/keys", "/users"] {
        let r = server
            .client()
            .get(url(&server, path))
            .send()
            .await
            .unwrap();
        assert_error_response(r, StatusCode::UNAUTHORIZED).await;
        let r = with_key(&server, Method::GET, path, "not-a-key")
            .send()
            .await
            .unwrap();
        assert_error_response(r, StatusCode::UNAUTHORIZED).await;
    }
}

#[tokio::test]
async fn a_configuration_write_key_manages_applications_end_to_end() {
    let server = TestServer::start().await;
    let key = server.simple_key("DEMO", &["configuration_write"]).await;

    let created = ok_json(
        with_key(&server, Method::POST, "/applications", &key)
            .json(&new_app())
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let app = &created["application"];
    let client_id = app["client_id"].as_str().unwrap().to_owned();
    let secret = app["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(app["merchant_id"], "DEMO");
    assert_eq!(app["scopes"], json!(["item_read", "order_read"]));
    assert_eq!(app["client_secret_hint"], format!("…{}", &secret[60..]));
    assert!(app["created_dts"].as_str().unwrap().ends_with('Z'));

    let shown = ok_json(
        with_key(
            &server,
            Method::GET,
            &format!("/applications/{client_id}"),
            &key,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(shown["application"].get("client_secret").is_none());

    // PATCH/PUT change only the fields sent.
    let updated = ok_json(
        with_key(
            &server,
            Method::PUT,
            &format!("/applications/{client_id}"),
            &key,
        )
        .json(&json!({"name": "Renamed", "require_secret": true, "profile": "strict"}))
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(updated["application"]["name"], "Renamed");
    assert_eq!(updated["application"]["profile"], "strict");
    assert_eq!(
        updated["application"]["redirect_uris"],
        json!([REDIRECT_URI])
    );
    assert_eq!(
        updated["application"]["developer_email"],
        "dev@script.example"
    );

    let rotated = ok_json(
        with_key(
            &server,
            Method::POST,
            &format!("/applications/{client_id}/rotate_secret"),
            &key,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    let new_secret = rotated["application"]["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    let app = server
        .store
        .find_application(&client_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        app.secret_hash,
        server
            .pepper
            .digest(
                ucoauth_server::domain::secret::Purpose::ClientSecret,
                new_secret
            )
            .to_vec()
    );

    let deleted = ok_json(
        with_key(
            &server,
            Method::DELETE,
            &format!("/applications/{client_id}"),
            &key,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(deleted["revoked_grants"], 0);
    let r = with_key(
        &server,
        Method::GET,
        &format!("/applications/{client_id}"),
        &key,
    )
    .send()
    .await
    .unwrap();
    assert_error_response(r, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn lists_are_paged_with_a_result_set() {
    let server = TestServer::start().await;
    let key = server.simple_key("DEMO", &["configuration_write"]).await;
    for i in 0..5 {
        let mut body = new_app();
        body["name"] = json!(format!("App {i}"));
        server.clock.advance(1);
        let r = with_key(&server, Method::POST, "/applications", &key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let page =
        |q: &'static str| with_key(&server, Method::GET, &format!("/applications{q}"), &key).send();
    let first = ok_json(page("?_limit=2").await.unwrap(), StatusCode::OK).await;
    assert_eq!(first["applications"].as_array().unwrap().len(), 2);
    assert_eq!(
        first["metadata"]["result_set"],
        json!({"count": 2, "limit": 2, "more": true, "next_offset": 2, "offset": 0, "total_records": 5})
    );
    let last = ok_json(page("?_limit=2&_offset=4").await.unwrap(), StatusCode::OK).await;
    assert_eq!(
        last["metadata"]["result_set"],
        json!({"count": 1, "limit": 2, "more": false, "offset": 4, "total_records": 5})
    );
    let default = ok_json(page("").await.unwrap(), StatusCode::OK).await;
    assert_eq!(default["metadata"]["result_set"]["limit"], 100);
    for bad in [
        "?_limit=0",
        "?_limit=201",
        "?_offset=-1",
        "?_limit=x",
        "?_limit=1&_limit=2",
    ] {
        let r = page(bad).await.unwrap();
        assert_error_response(r, StatusCode::BAD_REQUEST).await;
    }
}

#[tokio::test]
async fn a_key_needs_the_documented_permission() {
    let server = TestServer::start().await;
    let read = server.simple_key("DEMO", &["configuration_read"]).await;
    let items = server.simple_key("DEMO", &["item_read"]).await;
    let users = server.simple_key("DEMO", &["user_read"]).await;

    assert_eq!(
        with_key(&server, Method::GET, "/applications", &read)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        with_key(&server, Method::GET, "/grants", &read)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let r = with_key(&server, Method::POST, "/applications", &read)
        .json(&new_app())
        .send()
        .await
        .unwrap();
    let body = assert_error_response(r, StatusCode::FORBIDDEN).await;
    assert!(body["error"]["developer_message"]
        .as_str()
        .unwrap()
        .contains("configuration_write"));
    for path in ["/applications", "/grants", "/keys", "/users"] {
        let r = with_key(&server, Method::GET, path, &items)
            .send()
            .await
            .unwrap();
        assert_error_response(r, StatusCode::FORBIDDEN).await;
    }
    assert_eq!(
        with_key(&server, Method::GET, "/users", &users)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let r = with_key(&server, Method::POST, "/users", &users)
        .json(&json!({"login": "x", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_error_response(r, StatusCode::FORBIDDEN).await;
}

#[tokio::test]
async fn a_key_cannot_create_a_stronger_key_and_keys_are_revocable() {
    let server = TestServer::start().await;
    let key = server
        .simple_key("DEMO", &["user_write", "order_read"])
        .await;
    let r = with_key(&server, Method::POST, "/keys", &key)
        .json(&json!({"name": "stronger", "scopes": ["order_read", "order_write"]}))
        .send()
        .await
        .unwrap();
    let body = assert_error_response(r, StatusCode::BAD_REQUEST).await;
    assert!(body["error"]["developer_message"]
        .as_str()
        .unwrap()
        .contains("not held: order_write"));

    let created = ok_json(
        with_key(&server, Method::POST, "/keys", &key)
            .json(&json!({"name": "weaker", "scopes": ["order_read"]}))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let weaker = created["key"]["key"].as_str().unwrap().to_owned();
    let key_id = created["key"]["key_id"].as_str().unwrap().to_owned();
    let listed = ok_json(
        with_key(&server, Method::GET, "/keys", &key)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["keys"].as_array().unwrap().len(), 2);
    assert!(
        listed["keys"][0].get("key").is_none(),
        "a listed key has no value"
    );

    let me = |k: String| {
        server
            .client()
            .get(format!("{}/oauth/me", server.api))
            .header(KEY, k)
            .send()
    };
    let body: Value = me(weaker.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(body["scopes"], json!(["order_read"]));
    assert!(body.get("client_id").is_none() && body.get("application_name").is_none());
    ok_json(
        with_key(&server, Method::DELETE, &format!("/keys/{key_id}"), &key)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_error_response(me(weaker).await.unwrap(), StatusCode::UNAUTHORIZED).await;
    let r = with_key(&server, Method::DELETE, &format!("/keys/{key_id}"), &key)
        .send()
        .await
        .unwrap();
    assert_error_response(r, StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn bad_bodies_are_refused_in_the_error_shape_naming_the_field() {
    let server = TestServer::start().await;
    let key = server.simple_key("DEMO", &["configuration_write"]).await;
    let post = |body: &'static str, content_type: &'static str| {
        with_key(&server, Method::POST, "/applications", &key)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let cases: [(&str, &str, StatusCode, &str); 7] = [
        (
            "{}",
            "text/plain",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
        (
            "{",
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid JSON body",
        ),
        (
            r#"{"nmae":"x"}"#,
            "application/json",
            StatusCode::BAD_REQUEST,
            "unknown field `nmae`",
        ),
        (
            r#"{"name":1}"#,
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid type",
        ),
        (
            r#"{"name":"","redirect_uris":["http://x.example/cb"],"scopes":[]}"#,
            "application/json",
            StatusCode::BAD_REQUEST,
            "name: must be 1-100 characters; redirect URI: \"http://x.example/cb\" must use https",
        ),
        (
            r#"{"name":"a","redirect_uris":["https://x.example/cb"],"scopes":["a\"b"]}"#,
            "application/json",
            StatusCode::BAD_REQUEST,
            "permissions: scope",
        ),
        (
            r#"{"name":"a","redirect_uris":["https://x.example/cb"],"scopes":["item_read"],"profile":"loose"}"#,
            "application/json",
            StatusCode::BAD_REQUEST,
            "profile: must be compat, strict",
        ),
    ];
    for (body, content_type, status, message) in cases {
        let r = post(body, content_type).await.unwrap();
        let err = assert_error_response(r, status).await;
        let text = err["error"]["developer_message"].as_str().unwrap();
        assert!(text.contains(message), "{body}: {text}");
    }
    let big = "x".repeat(20_000);
    let r = with_key(&server, Method::POST, "/applications", &key)
        .header("content-type", "application/json")
        .body(format!("{{\"name\":\"{big}\"}}"))
        .send()
        .await
        .unwrap();
    assert_error_response(r, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(server.store.list_applications(0, 10).await.unwrap().1, 0);
}

#[tokio::test]
async fn another_merchants_records_are_not_found() {
    let server = TestServer::start().await;
    server
        .seed_merchant("OTHER", "Other Co", "other", PASSWORD)
        .await;
    let (client_id, _) = server
        .app(|a| a.owner_merchant_id = Some("DEMO".into()))
        .await;
    server.tokens(&client_id).await;
    let grant_id = server
        .store
        .list_grants_by_merchant("DEMO", 0, 1)
        .await
        .unwrap()
        .0[0]
        .grant_id
        .clone();
    let demo_key = server.simple_key("DEMO", &["item_read"]).await;
    let demo_key_id = server.store.list_keys("DEMO", 0, 10).await.unwrap().0[0]
        .key_id
        .clone();
    let demo_user = server
        .store
        .find_user_by_login(LOGIN)
        .await
        .unwrap()
        .unwrap()
        .user
        .user_id;

    let other = server
        .simple_key("OTHER", &["configuration_write", "user_write"])
        .await;
    for (method, path) in [
        (Method::GET, format!("/applications/{client_id}")),
        (Method::DELETE, format!("/applications/{client_id}")),
        (
            Method::POST,
            format!("/applications/{client_id}/rotate_secret"),
        ),
        (Method::DELETE, format!("/grants/{grant_id}")),
        (Method::DELETE, format!("/keys/{demo_key_id}")),
        (Method::DELETE, format!("/users/{demo_user}")),
    ] {
        let r = with_key(&server, method.clone(), &path, &other)
            .send()
            .await
            .unwrap();
        assert_error_response(r, StatusCode::NOT_FOUND).await;
    }
    let r = with_key(
        &server,
        Method::PUT,
        &format!("/users/{demo_user}/password"),
        &other,
    )
    .json(&json!({"password": "a new password"}))
    .send()
    .await
    .unwrap();
    assert_error_response(r, StatusCode::NOT_FOUND).await;
    let listed = ok_json(
        with_key(&server, Method::GET, "/applications", &other)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["applications"], json!([]));
    // DEMO's records are intact.
    assert!(server
        .store
        .find_application(&client_id)
        .await
        .unwrap()
        .is_some());
    let r = server
        .client()
        .get(format!("{}/oauth/me", server.api))
        .header(KEY, demo_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn grants_are_listed_and_revoked_and_their_tokens_refused() {
    let server = TestServer::start().await;
    let key = server.simple_key("DEMO", &["configuration_write"]).await;
    let (client_id, _) = server.app(|_| {}).await;
    let (access, _) = server.tokens(&client_id).await;
    let listed = ok_json(
        with_key(&server, Method::GET, "/grants", &key)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let grant = &listed["grants"][0];
    assert_eq!(grant["client_id"], client_id.as_str());
    assert_eq!(grant["application_name"], "Item Sync");
    assert_eq!(grant["scopes"], json!(["item_read", "order_read"]));
    assert_eq!(grant["approved_by"], LOGIN);
    assert!(grant["last_used_dts"].is_string());
    let grant_id = grant["grant_id"].as_str().unwrap();
    ok_json(
        with_key(
            &server,
            Method::DELETE,
            &format!("/grants/{grant_id}"),
            &key,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(server.me(&access).await.status(), StatusCode::UNAUTHORIZED);
    let listed = ok_json(
        with_key(&server, Method::GET, "/grants", &key)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["grants"], json!([]));
}

#[tokio::test]
async fn users_are_managed_and_the_last_one_is_kept() {
    let server = TestServer::start().await;
    let key = server.simple_key("DEMO", &["user_write"]).await;
    let added = ok_json(
        with_key(&server, Method::POST, "/users", &key)
            .json(&json!({"login": "bob", "password": "bob's password"}))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let bob = added["user"]["user_id"].as_str().unwrap().to_owned();
    assert!(added["user"].get("password").is_none());
    let r = with_key(&server, Method::POST, "/users", &key)
        .json(&json!({"login": "bob", "password": "another password"}))
        .send()
        .await
        .unwrap();
    let err = assert_error_response(r, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        err["error"]["developer_message"],
        "login: bob is already taken"
    );

    let bob_browser = server.signed_in_as("bob", "bob's password").await;
    ok_json(
        with_key(
            &server,
            Method::PUT,
            &format!("/users/{bob}/password"),
            &key,
        )
        .json(&json!({"password": "bob's new password"}))
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    let (status, _) = server.page(&bob_browser, "/users").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "bob was signed out");
    server.signed_in_as("bob", "bob's new password").await;

    ok_json(
        with_key(&server, Method::DELETE, &format!("/users/{bob}"), &key)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let demo = server
        .store
        .find_user_by_login(LOGIN)
        .await
        .unwrap()
        .unwrap()
        .user
        .user_id;
    let r = with_key(&server, Method::DELETE, &format!("/users/{demo}"), &key)
        .send()
        .await
        .unwrap();
    let err = assert_error_response(r, StatusCode::CONFLICT).await;
    assert!(err["error"]["developer_message"]
        .as_str()
        .unwrap()
        .contains("only user"));
}

#[tokio::test]
async fn a_session_may_use_the_api_but_changes_need_the_csrf_header() {
    let server = TestServer::start().await;
    let browser: Client = server.back_office().await;
    let r = browser
        .get(url(&server, "/applications"))
        .send()
        .await
        .unwrap();
    ok_json(r, StatusCode::OK).await;

    let r = browser
        .post(url(&server, "/applications"))
        .json(&new_app())
        .send()
        .await
        .unwrap();
    assert_error_response(r, StatusCode::FORBIDDEN).await;
    let r = browser
        .post(url(&server, "/applications"))
        .header("x-csrf-token", "forged")
        .json(&new_app())
        .send()
        .await
        .unwrap();
    assert_error_response(r, StatusCode::FORBIDDEN).await;
    assert_eq!(server.store.list_applications(0, 10).await.unwrap().1, 0);

    let (_, html) = server.page(&browser, "/applications").await;
    let token = html
        .split("<meta name=\"csrf-token\" content=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let r = browser
        .post(url(&server, "/applications"))
        .header("x-csrf-token", token)
        .json(&new_app())
        .send()
        .await
        .unwrap();
    ok_json(r, StatusCode::CREATED).await;
    // The session's own user cannot be removed through the API either.
    let me = server
        .store
        .find_user_by_login(LOGIN)
        .await
        .unwrap()
        .unwrap()
        .user
        .user_id;
    let (_, html) = server.page(&browser, "/users").await;
    let token = hidden_value(&html, "csrf_token");
    let r = browser
        .delete(url(&server, &format!("/users/{me}")))
        .header("x-csrf-token", token)
        .send()
        .await
        .unwrap();
    assert_error_response(r, StatusCode::FORBIDDEN).await;
}

#[tokio::test]
async fn the_audit_trail_is_readable_by_kind_and_page_for_the_keys_merchant_only() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    // Two grants of DEMO: two consents, two code redemptions.
    server.tokens(&client_id).await;
    server.tokens(&client_id).await;
    let users = server.simple_key("DEMO", &["user_read"]).await;
    let items = server.simple_key("DEMO", &["item_read"]).await;

    let r = with_key(&server, Method::GET, "/audit?kind=code.redeemed", &users)
        .send()
        .await
        .unwrap();
    let body = ok_json(r, StatusCode::OK).await;
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{body}");
    for e in events {
        assert_eq!(e["kind"], "code.redeemed");
        assert_eq!(e["merchant_id"], "DEMO");
        assert_eq!(e["client_id"], client_id.as_str());
    }
    assert_eq!(body["metadata"]["result_set"]["total_records"], 2);

    // Paging over everything: newest first, one per page, a way to the next page.
    let r = with_key(&server, Method::GET, "/audit?_limit=1", &users)
        .send()
        .await
        .unwrap();
    let first = ok_json(r, StatusCode::OK).await;
    let set = &first["metadata"]["result_set"];
    assert_eq!(set["count"], 1);
    assert_eq!(set["more"], true);
    assert!(set["total_records"].as_i64().unwrap() > 2, "{first}");
    let r = with_key(&server, Method::GET, "/audit?_limit=1&_offset=1", &users)
        .send()
        .await
        .unwrap();
    let second = ok_json(r, StatusCode::OK).await;
    assert!(
        first["events"][0]["event_id"].as_i64() > second["events"][0]["event_id"].as_i64(),
        "{first} {second}"
    );

    // Another merchant's key sees none of DEMO's events; a key without the permission is 403.
    server
        .seed_merchant("OTHER", "Other Co", "other", PASSWORD)
        .await;
    let other = server.simple_key("OTHER", &["user_read"]).await;
    let r = with_key(&server, Method::GET, "/audit?kind=code.redeemed", &other)
        .send()
        .await
        .unwrap();
    let body = ok_json(r, StatusCode::OK).await;
    assert_eq!(body["events"], json!([]));
    let r = with_key(&server, Method::GET, "/audit", &items)
        .send()
        .await
        .unwrap();
    assert_error_response(r, StatusCode::FORBIDDEN).await;
    let r = with_key(&server, Method::GET, "/audit?kind=a&kind=b", &users)
        .send()
        .await
        .unwrap();
    assert_error_response(r, StatusCode::BAD_REQUEST).await;
}
