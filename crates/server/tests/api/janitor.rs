//! The janitor removes expired rows in bounded batches and keeps reuse detection working.

use reqwest::StatusCode;
use sqlx::AnyConnection;
use ucoauth_server::store::janitor::JanitorOptions;

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
async fn long_revoked_grants_are_removed_with_everything_attached() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let (access, _) = server.tokens(&client_id).await;
    let r = server
        .post_form(
            "/oauth/revoke",
            &[("client_id", &client_id), ("token", &access)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let options = JanitorOptions::default();
    // Within the retention period nothing goes.
    let report = server
        .store
        .janitor_pass(server.clock_now(), options)
        .await
        .unwrap();
    assert_eq!(report.grants, 0);
    server.clock.advance(options.revoked_retention_ms + 1);
    let report = server
        .store
        .janitor_pass(server.clock_now(), options)
        .await
        .unwrap();
    assert_eq!(report.grants, 1);
    for table in [
        "grants",
        "access_tokens",
        "refresh_tokens",
        "authorization_codes",
    ] {
        assert_eq!(count(&server, table).await, 0, "{table}");
    }
}
