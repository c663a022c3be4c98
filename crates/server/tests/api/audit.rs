//! The audit trail records each security-relevant event with who, what and from where.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use ucoauth_server::store::audit::{AuditFilter, AuditRecord};

use crate::{
    device::{approve_or_deny, authorize, poll, text},
    helpers::*,
};

/// Every event, oldest first.
async fn all_events(server: &TestServer) -> Vec<AuditRecord> {
    let mut events = server
        .store
        .list_audit(&AuditFilter::default(), 0, 10_000)
        .await
        .unwrap();
    events.reverse();
    events
}

/// The events of `kind`, oldest first.
fn of<'a>(events: &'a [AuditRecord], kind: &str) -> Vec<&'a AuditRecord> {
    events.iter().filter(|e| e.kind == kind).collect()
}

/// The one event of `kind`.
fn one<'a>(events: &'a [AuditRecord], kind: &str) -> &'a AuditRecord {
    let found = of(events, kind);
    assert_eq!(found.len(), 1, "{kind}: {events:#?}");
    found[0]
}

/// `detail` as JSON.
fn detail(e: &AuditRecord) -> Value {
    serde_json::from_str(e.detail.as_deref().unwrap_or("{}")).unwrap()
}

#[tokio::test]
async fn the_flow_and_its_refusals_leave_one_event_each() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    // Consent given + code issued + code redeemed; then a replay (revokes the grant).
    let code = server.code_for(&client_id, &[]).await;
    server.exchange(&client_id, &code).await;
    let replay = server
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
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    // Refresh, then reuse outside the grace window.
    let (_, refresh) = server.tokens(&client_id).await;
    assert_eq!(
        server.refresh(&client_id, &refresh).await.status(),
        StatusCode::OK
    );
    server.clock.advance(11_000);
    assert_eq!(
        server.refresh(&client_id, &refresh).await.status(),
        StatusCode::BAD_REQUEST
    );
    // A denial and a failed sign-in.
    let params = [
        ("response_type", "code"),
        ("client_id", client_id.as_str()),
        ("state", "s"),
    ];
    server.consent(&server.browser(), &params, "deny").await;
    let browser = server.browser();
    let page = browser
        .get(format!("{}/login", server.base))
        .send()
        .await
        .unwrap();
    let csrf = hidden_value(&page.text().await.unwrap(), "csrf_token");
    browser
        .post(format!("{}/login", server.base))
        .form(&[
            ("login", LOGIN),
            ("password", "not the password"),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();

    let events = server
        .store
        .list_audit(&AuditFilter::default(), 0, 1000)
        .await
        .unwrap();
    let count = |kind: &str| events.iter().filter(|e| e.kind == kind).count();
    assert_eq!(count("application.created"), 1);
    assert_eq!(
        count("consent.given"),
        2,
        "one approval in code_for, one in tokens"
    );
    assert_eq!(count("code.issued"), 2);
    assert_eq!(count("code.redeemed"), 2);
    assert_eq!(count("code.replayed"), 1);
    assert_eq!(count("token.refreshed"), 1);
    assert_eq!(count("refresh.reuse_detected"), 1);
    assert_eq!(count("grant.revoked"), 2);
    assert_eq!(count("consent.denied"), 1);
    assert_eq!(count("login.failed"), 1);
    assert!(count("login.succeeded") >= 3);

    let revoked: Vec<_> = events
        .iter()
        .filter(|e| e.kind == "grant.revoked")
        .collect();
    for e in &revoked {
        assert_eq!(e.merchant_id.as_deref(), Some("DEMO"));
        assert_eq!(e.client_id.as_deref(), Some(client_id.as_str()));
        assert!(e.grant_id.is_some());
        assert_eq!(e.client_ip.as_deref(), Some("127.0.0.1"));
    }
    let reasons: Vec<_> = revoked.iter().filter_map(|e| e.detail.clone()).collect();
    assert!(reasons.iter().any(|d| d.contains("code_replay")));
    assert!(reasons.iter().any(|d| d.contains("refresh_reuse")));

    let only_failures = server
        .store
        .list_audit(
            &AuditFilter {
                kind: Some("login.failed".into()),
                ..AuditFilter::default()
            },
            0,
            10,
        )
        .await
        .unwrap();
    assert_eq!(only_failures.len(), 1);
}

#[tokio::test]
async fn the_device_flow_records_request_approval_redemption_and_replay_with_the_address() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let device = authorize(&server, &client_id, "item_read").await;
    let code = text(&device, "device_code");
    approve_or_deny(&server, &text(&device, "user_code"), "approve").await;
    let r = poll(&server, &client_id, &code).await;
    assert_eq!(r.status(), StatusCode::OK);
    server.clock.advance(5_000);
    let r = poll(&server, &client_id, &code).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;

    let events = all_events(&server).await;
    let user_id = server
        .store
        .find_user_by_login(LOGIN)
        .await
        .unwrap()
        .unwrap()
        .user
        .user_id;
    let requested = one(&events, "device.authorization_requested");
    assert_eq!(requested.client_id.as_deref(), Some(client_id.as_str()));
    assert_eq!(requested.client_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(detail(requested), json!({ "scope": "item_read" }));

    let approved = one(&events, "device.approved");
    let grant_id = approved
        .grant_id
        .clone()
        .expect("the approval names its grant");
    assert_eq!(approved.merchant_id.as_deref(), Some("DEMO"));
    assert_eq!(approved.client_id.as_deref(), Some(client_id.as_str()));
    assert_eq!(approved.user_id.as_deref(), Some(user_id.as_str()));
    assert_eq!(approved.client_ip.as_deref(), Some("127.0.0.1"));

    let redeemed = one(&events, "device.code_redeemed");
    assert_eq!(redeemed.grant_id.as_deref(), Some(grant_id.as_str()));
    assert_eq!(redeemed.merchant_id.as_deref(), Some("DEMO"));
    assert_eq!(redeemed.client_ip.as_deref(), Some("127.0.0.1"));

    let replayed = one(&events, "device.code_replayed");
    assert_eq!(replayed.grant_id.as_deref(), Some(grant_id.as_str()));
    assert_eq!(replayed.client_ip.as_deref(), Some("127.0.0.1"));
    let revoked = one(&events, "grant.revoked");
    assert_eq!(revoked.grant_id.as_deref(), Some(grant_id.as_str()));
    assert_eq!(revoked.client_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(detail(revoked)["reason"], "device_code_replay");

    // In the order they happened; nothing for denial or expiry.
    let order: Vec<&str> = events
        .iter()
        .map(|e| e.kind.as_str())
        .filter(|k| k.starts_with("device.") || *k == "grant.revoked")
        .collect();
    assert_eq!(
        order,
        [
            "device.authorization_requested",
            "device.approved",
            "device.code_redeemed",
            "device.code_replayed",
            "grant.revoked"
        ]
    );
    // Never a credential.
    let user_code = text(&device, "user_code");
    for e in &events {
        let line = serde_json::to_string(e).unwrap();
        assert!(
            !line.contains(&code) && !line.contains(&user_code),
            "{line}"
        );
    }
}

#[tokio::test]
async fn a_device_denial_and_an_expiry_are_recorded_once_each() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let denied = authorize(&server, &client_id, "crm").await;
    approve_or_deny(&server, &text(&denied, "user_code"), "deny").await;
    let expiring = authorize(&server, &client_id, "crm").await;
    let code = text(&expiring, "device_code");
    let r = poll(&server, &client_id, &code).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "authorization_pending").await;
    server.clock.advance(900_000);
    // The device keeps polling after the expiry (and a denied one expires too): one event
    // for each code that a device saw expire.
    for _ in 0..3 {
        let r = poll(&server, &client_id, &code).await;
        assert_oauth_error(r, StatusCode::BAD_REQUEST, "expired_token").await;
        server.clock.advance(6_000);
    }

    let events = all_events(&server).await;
    let d = one(&events, "device.denied");
    assert_eq!(d.merchant_id.as_deref(), Some("DEMO"));
    assert_eq!(d.client_id.as_deref(), Some(client_id.as_str()));
    assert_eq!(d.client_ip.as_deref(), Some("127.0.0.1"));
    assert!(d.grant_id.is_none(), "a denial creates no grant");
    assert!(d.user_id.is_some());
    assert_eq!(of(&events, "device.authorization_requested").len(), 2);
    let expired = one(&events, "device.code_expired");
    assert_eq!(expired.client_id.as_deref(), Some(client_id.as_str()));
    assert_eq!(expired.client_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(
        detail(expired),
        json!({ "approved": false, "denied": false })
    );
    assert!(of(&events, "device.approved").is_empty());
}

fn admin(server: &TestServer, method: Method, path: &str, key: &str) -> reqwest::RequestBuilder {
    server
        .client()
        .request(method, format!("{}/admin/api/v1{path}", server.base))
        .header("x-ultracart-simple-key", key)
}

async fn admin_ok(r: reqwest::Response) -> Value {
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

#[tokio::test]
async fn admin_api_changes_name_the_key_that_made_them() {
    let server = TestServer::start().await;
    let key = server
        .simple_key("DEMO", &["configuration_write", "user_write"])
        .await;
    let key_id: String = sqlx::query_scalar("SELECT key_id FROM simple_keys")
        .fetch_one(server.store.pool())
        .await
        .unwrap();
    let actor = format!("key:{key_id}");

    let created = admin_ok(
        admin(&server, Method::POST, "/applications", &key)
            .json(&json!({ "name": "Scripted", "redirect_uris": [REDIRECT_URI], "scopes": ["item_read"] }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let client_id = created["application"]["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let app_path = format!("/applications/{client_id}");
    admin_ok(
        admin(&server, Method::PATCH, &app_path, &key)
            .json(&json!({ "name": "Scripted 2", "description": "Now scripted." }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    admin_ok(
        admin(
            &server,
            Method::POST,
            &format!("{app_path}/rotate_secret"),
            &key,
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    // A grant that deleting the application ends.
    server.code_for(&client_id, &[]).await;
    let deleted = admin_ok(
        admin(&server, Method::DELETE, &app_path, &key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(deleted["revoked_grants"], 1);

    let new_key = admin_ok(
        admin(&server, Method::POST, "/keys", &key)
            .json(&json!({ "name": "child", "scopes": ["user_write"] }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let new_key_id = new_key["key"]["key_id"].as_str().unwrap().to_owned();
    admin_ok(
        admin(
            &server,
            Method::DELETE,
            &format!("/keys/{new_key_id}"),
            &key,
        )
        .send()
        .await
        .unwrap(),
    )
    .await;

    let user = admin_ok(
        admin(&server, Method::POST, "/users", &key)
            .json(&json!({ "login": "bob", "password": "a long enough password" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let user_id = user["user"]["user_id"].as_str().unwrap().to_owned();
    admin_ok(
        admin(
            &server,
            Method::PUT,
            &format!("/users/{user_id}/password"),
            &key,
        )
        .json(&json!({ "password": "another long password" }))
        .send()
        .await
        .unwrap(),
    )
    .await;
    admin_ok(
        admin(&server, Method::DELETE, &format!("/users/{user_id}"), &key)
            .send()
            .await
            .unwrap(),
    )
    .await;

    let events = all_events(&server).await;
    for kind in [
        "application.created",
        "application.changed",
        "application.secret_rotated",
        "application.deleted",
    ] {
        let e = one(&events, kind);
        assert_eq!(e.client_id.as_deref(), Some(client_id.as_str()), "{kind}");
        assert_eq!(e.merchant_id.as_deref(), Some("DEMO"), "{kind}");
        assert_eq!(e.client_ip.as_deref(), Some("127.0.0.1"), "{kind}");
        assert_eq!(detail(e)["actor"], actor, "{kind}");
    }
    assert_eq!(
        detail(one(&events, "application.changed"))["changed"],
        json!(["name", "description"])
    );
    assert_eq!(
        detail(one(&events, "application.deleted"))["revoked_grants"],
        1
    );
    // The grant the deletion ended is on record with its reason and the actor.
    let ended = one(&events, "grant.revoked");
    assert_eq!(ended.client_id.as_deref(), Some(client_id.as_str()));
    assert_eq!(ended.merchant_id.as_deref(), Some("DEMO"));
    assert!(ended.grant_id.is_some());
    assert_eq!(
        detail(ended),
        json!({ "reason": "application_deleted", "actor": actor })
    );

    // The test's own key was made by the operator (shared admin code, no address).
    let keys = of(&events, "api_key.created");
    assert_eq!(keys.len(), 2);
    assert_eq!(detail(keys[0])["actor"], "operator");
    assert_eq!(keys[0].client_ip, None);
    assert_eq!(detail(keys[1])["actor"], actor);
    assert_eq!(detail(keys[1])["key_id"], new_key_id);
    assert_eq!(detail(keys[1])["scope"], "user_write");
    let revoked = one(&events, "api_key.revoked");
    assert_eq!(
        detail(revoked),
        json!({ "key_id": new_key_id, "actor": actor })
    );
    assert_eq!(revoked.merchant_id.as_deref(), Some("DEMO"));

    for kind in ["user.added", "user.password_changed", "user.removed"] {
        let e = of(&events, kind);
        let e = e.last().unwrap_or_else(|| panic!("no {kind}"));
        assert_eq!(e.user_id.as_deref(), Some(user_id.as_str()), "{kind}");
        assert_eq!(e.merchant_id.as_deref(), Some("DEMO"), "{kind}");
        assert_eq!(e.client_ip.as_deref(), Some("127.0.0.1"), "{kind}");
        assert_eq!(detail(e)["actor"], actor, "{kind}");
    }
    // No secret or password in the trail.
    let secret = created["application"]["client_secret"].as_str().unwrap();
    let new_key_value = new_key["key"]["key"].as_str().unwrap_or_default();
    for e in &events {
        let line = serde_json::to_string(e).unwrap();
        for s in [
            secret,
            key.as_str(),
            "a long enough password",
            "another long password",
        ] {
            assert!(!line.contains(s), "{line}");
        }
        assert!(
            new_key_value.is_empty() || !line.contains(new_key_value),
            "{line}"
        );
    }
}

#[tokio::test]
async fn back_office_pages_record_the_signed_in_user_as_actor() {
    let server = TestServer::start().await;
    let browser = server.back_office().await;
    let me = server
        .store
        .find_user_by_login(LOGIN)
        .await
        .unwrap()
        .unwrap()
        .user
        .user_id;
    let (client_id, _) = server
        .app(|a| a.owner_merchant_id = Some("DEMO".into()))
        .await;
    let path = format!("/applications/{client_id}");
    let r = server
        .submit(
            &browser,
            &format!("{path}/delete"),
            &format!("{path}/delete"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = server
        .submit(
            &browser,
            "/keys",
            "/keys",
            &[("name", "ci"), ("scopes", "item_read")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);

    let events = all_events(&server).await;
    let deleted = one(&events, "application.deleted");
    assert_eq!(deleted.client_id.as_deref(), Some(client_id.as_str()));
    assert_eq!(deleted.user_id.as_deref(), Some(me.as_str()));
    assert_eq!(deleted.client_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(detail(deleted)["actor"], format!("user:{me}"));
    let key = one(&events, "api_key.created");
    assert_eq!(detail(key)["actor"], format!("user:{me}"));
    assert_eq!(key.client_ip.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn a_grant_revoked_through_the_admin_api_names_the_key_and_its_address() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let (access, _) = server.tokens(&client_id).await;
    let key = server.simple_key("DEMO", &["configuration_write"]).await;
    let key_id: String = sqlx::query_scalar("SELECT key_id FROM simple_keys")
        .fetch_one(server.store.pool())
        .await
        .unwrap();
    let listed = admin_ok(
        admin(&server, Method::GET, "/grants", &key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let grant_id = listed["grants"][0]["grant_id"].as_str().unwrap().to_owned();
    admin_ok(
        admin(
            &server,
            Method::DELETE,
            &format!("/grants/{grant_id}"),
            &key,
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(server.me(&access).await.status(), StatusCode::UNAUTHORIZED);

    let events = all_events(&server).await;
    let revoked = one(&events, "grant.revoked");
    assert_eq!(revoked.grant_id.as_deref(), Some(grant_id.as_str()));
    assert_eq!(revoked.client_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(
        detail(revoked),
        json!({ "reason": "merchant", "actor": format!("key:{key_id}") })
    );
}
