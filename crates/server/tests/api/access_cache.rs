//! Access-token checks kept in memory (`StoreOptions::access_cache_ttl`, one second by
//! default): every revocation made through the server is seen by the very next check, even
//! one the server has just answered from memory; one made by another process on the same
//! database is seen within the second.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use ucoauth_server::{
    admin::{self, Within},
    domain::audit::Actor,
    store::{Store, StoreOptions},
};

use crate::helpers::*;

/// Tokens whose check the server has just answered, so that it is kept in memory.
async fn checked_tokens(server: &TestServer, client_id: &str) -> (String, String) {
    let (access, refresh) = server.tokens(client_id).await;
    for _ in 0..2 {
        assert_eq!(server.me(&access).await.status(), StatusCode::OK);
    }
    (access, refresh)
}

async fn introspected_active(server: &TestServer, caller: &(String, String), token: &str) -> bool {
    let r = server.introspect(caller, token).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["active"] == true
}

async fn only_grant(server: &TestServer) -> String {
    let (grants, _) = server
        .store
        .list_grants_by_merchant("DEMO", 0, 10)
        .await
        .unwrap();
    assert_eq!(grants.len(), 1, "one live grant expected");
    grants[0].grant_id.clone()
}

#[tokio::test]
async fn revocations_made_through_the_server_are_seen_by_the_next_check() {
    let server = TestServer::start().await;
    let caller = server.resource_server().await;
    let (client_id, _) = server.app(|_| {}).await;

    // The client revokes its token.
    let (access, _) = checked_tokens(&server, &client_id).await;
    assert!(introspected_active(&server, &caller, &access).await);
    let r = server
        .post_form(
            "/oauth/revoke",
            &[
                ("client_id", client_id.as_str()),
                ("token", access.as_str()),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(server.me(&access).await.status(), StatusCode::UNAUTHORIZED);
    assert!(!introspected_active(&server, &caller, &access).await);

    // A refresh token presented again outside the grace window revokes the grant.
    let (access, refresh1) = checked_tokens(&server, &client_id).await;
    assert_eq!(
        server.refresh(&client_id, &refresh1).await.status(),
        StatusCode::OK
    );
    assert_eq!(server.me(&access).await.status(), StatusCode::OK);
    server.clock.advance(10_001);
    let reuse = server.refresh(&client_id, &refresh1).await;
    assert_oauth_error(reuse, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(server.me(&access).await.status(), StatusCode::UNAUTHORIZED);

    // The merchant ends the authorization (back office and admin API share this call).
    let (access, _) = checked_tokens(&server, &client_id).await;
    let grant_id = only_grant(&server).await;
    admin::revoke_grant(
        &server.store,
        Within::Merchant("DEMO"),
        &Actor::operator(),
        &grant_id,
        server.clock_now(),
    )
    .await
    .unwrap();
    assert_eq!(server.me(&access).await.status(), StatusCode::UNAUTHORIZED);

    // The application is deleted.
    let (access, _) = checked_tokens(&server, &client_id).await;
    assert!(introspected_active(&server, &caller, &access).await);
    admin::delete_application(
        &server.store,
        Within::AnyMerchant,
        &Actor::operator(),
        &client_id,
        server.clock_now(),
    )
    .await
    .unwrap();
    assert_eq!(server.me(&access).await.status(), StatusCode::UNAUTHORIZED);
    assert!(!introspected_active(&server, &caller, &access).await);
}

#[tokio::test]
async fn a_kept_check_still_expires_with_its_token() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let (access, _) = checked_tokens(&server, &client_id).await;
    // The second check came from memory (unless the machine stalled for a whole second).
    let from_memory = server
        .metric("ucoauth_access_checks_from_memory_total")
        .await;
    assert!(from_memory >= 1.0, "{from_memory}");
    server.clock.advance(3_600_000);
    assert_eq!(server.me(&access).await.status(), StatusCode::UNAUTHORIZED);
}

/// Another process (here a second store on the same database, as the CLI opens one) keeps no
/// link to the server's memory: its revocation reaches the server once the second is over.
#[tokio::test]
async fn a_revocation_by_another_process_is_seen_within_a_second() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let (access, _) = checked_tokens(&server, &client_id).await;
    let grant_id = only_grant(&server).await;

    let cli = Store::open(&server.db.url, StoreOptions::default())
        .await
        .unwrap();
    admin::revoke_grant(
        &cli,
        Within::AnyMerchant,
        &Actor::operator(),
        &grant_id,
        server.clock_now(),
    )
    .await
    .unwrap();
    let revoked_at = Instant::now();
    cli.close().await;
    // Within the second the server may still answer from memory (not asserted: a slow
    // machine may already be past it). After it, never.
    tokio::time::sleep_until((revoked_at + Duration::from_secs(1)).into()).await;
    assert_eq!(server.me(&access).await.status(), StatusCode::UNAUTHORIZED);
}
