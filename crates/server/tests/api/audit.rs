//! The audit trail records each security-relevant event with who, what and from where.

use reqwest::StatusCode;
use ucoauth_server::store::audit::AuditFilter;

use crate::helpers::*;

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
