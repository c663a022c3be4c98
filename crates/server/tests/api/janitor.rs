//! The janitor removes expired rows in bounded batches and keeps reuse detection working.

use reqwest::StatusCode;
use sqlx::AnyConnection;
use ucoauth_server::{config::ServerConfig, store::janitor::JanitorOptions};

use crate::helpers::*;

async fn count(server: &TestServer, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(server.store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_hundred_thousand_expired_tokens_go_in_bounded_batches_and_live_families_survive() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    // A live family with a rotated-out (consumed) refresh token.
    let (_, old_refresh) = server.tokens(&client_id).await;
    let r = server.refresh(&client_id, &old_refresh).await;
    assert_eq!(r.status(), StatusCode::OK);
    let live: serde_json::Value = r.json().await.unwrap();
    let grant_id: String = sqlx::query_scalar("SELECT grant_id FROM grants")
        .fetch_one(server.store.pool())
        .await
        .unwrap();

    // 100 000 access tokens that expired two hours ago, written in chunks of 1 000 rows.
    let expired_at = server.clock_now() - 2 * 3_600_000;
    for chunk in 0..100u32 {
        let grant_id = grant_id.clone();
        server
            .store
            .write(move |conn: &mut AnyConnection| {
                Box::pin(async move {
                    let mut sql = String::from(
                        "INSERT INTO access_tokens (token_hash, grant_id, scopes, created_at, expires_at) VALUES ",
                    );
                    let rows: Vec<String> = (0..1000)
                        .map(|i| format!("(${}, $1, 'item_read', 0, $2)", i + 3))
                        .collect();
                    sql.push_str(&rows.join(", "));
                    let mut q = sqlx::query(&sql).bind(grant_id).bind(expired_at);
                    for i in 0..1000u32 {
                        let mut hash = [0u8; 32];
                        hash[..4].copy_from_slice(&chunk.to_be_bytes());
                        hash[4..8].copy_from_slice(&i.to_be_bytes());
                        hash[31] = 0xEE;
                        q = q.bind(hash.to_vec());
                    }
                    q.execute(conn).await?;
                    Ok(())
                })
            })
            .await
            .unwrap();
    }
    assert_eq!(count(&server, "access_tokens").await, 100_002);

    let options = JanitorOptions {
        batch: 5_000,
        max_batches: 1_000,
        ..JanitorOptions::default()
    };
    let report = server
        .store
        .janitor_pass(server.clock_now(), options)
        .await
        .unwrap();
    assert_eq!(report.access_tokens, 100_000);
    // 20 full batches plus one short batch per table and per step: bounded, not one huge delete.
    assert!(report.batches <= 20 + 12, "{report:?}");
    assert_eq!(count(&server, "access_tokens").await, 2);

    // The live family still works, and its rotated-out token is still detected as reuse.
    assert_eq!(
        server
            .me(live["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::OK
    );
    server.clock.advance(20_000);
    let reuse = server.refresh(&client_id, &old_refresh).await;
    assert_oauth_error(reuse, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(
        server
            .me(live["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::UNAUTHORIZED,
        "reuse of the rotated-out token must still revoke the family"
    );
}

#[tokio::test]
async fn long_revoked_grants_go_with_their_codes_and_their_tokens_go_when_they_expire() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let (access, refresh) = server.tokens(&client_id).await;
    // A second grant through the device flow: its device code points at the grant too.
    let device = crate::device::authorize(&server, &client_id, "crm").await;
    let device_code = crate::device::text(&device, "device_code");
    crate::device::approve_or_deny(
        &server,
        &crate::device::text(&device, "user_code"),
        "approve",
    )
    .await;
    let r = crate::device::poll(&server, &client_id, &device_code).await;
    assert_eq!(r.status(), StatusCode::OK);
    let device_tokens: serde_json::Value = r.json().await.unwrap();
    for token in [
        &access,
        &crate::device::text(&device_tokens, "access_token"),
    ] {
        let r = server
            .post_form(
                "/oauth/revoke",
                &[("client_id", &client_id), ("token", token)],
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let options = JanitorOptions::default();
    // Within the retention period no grant goes (the expired device code may).
    let report = server
        .store
        .janitor_pass(server.clock_now(), options)
        .await
        .unwrap();
    assert_eq!(report.grants, 0);
    assert_eq!(count(&server, "grants").await, 2);

    server.clock.advance(options.revoked_retention_ms + 1);
    let report = server
        .store
        .janitor_pass(server.clock_now(), options)
        .await
        .unwrap();
    assert_eq!(report.grants, 2, "{report:?}");
    for table in ["grants", "authorization_codes", "device_codes"] {
        assert_eq!(count(&server, table).await, 0, "{table}");
    }
    // The tokens outlive their grant's row until they expire, and are refused meanwhile.
    assert_eq!(count(&server, "refresh_tokens").await, 2);
    assert_eq!(server.me(&access).await.status(), StatusCode::UNAUTHORIZED);
    let r = server.refresh(&client_id, &refresh).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;

    // The test server runs with the default lifetimes.
    let defaults = ServerConfig::new(
        url::Url::parse(&server.base).unwrap(),
        server.pepper.clone(),
    );
    server
        .clock
        .advance(defaults.refresh_ttl_ms + options.margin_ms + 1);
    let report = server
        .store
        .janitor_pass(server.clock_now(), options)
        .await
        .unwrap();
    assert_eq!(report.refresh_tokens, 2, "{report:?}");
    for table in ["access_tokens", "refresh_tokens"] {
        assert_eq!(count(&server, table).await, 0, "{table}");
    }
}
