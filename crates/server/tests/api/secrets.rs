//! No credential in plaintext: not in the database files, not in the logs.

use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn no_code_token_secret_or_password_is_stored_or_logged_in_plaintext() {
    let server = TestServer::start().await;
    let (client_id, client_secret) = server.app(|_| {}).await;
    let code = server.code_for(&client_id, &[]).await;
    let first = server.exchange(&client_id, &code).await;
    let refreshed: Value = server
        .refresh(&client_id, first["refresh_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let access = refreshed["access_token"].as_str().unwrap();
    assert_eq!(server.me(access).await.status(), reqwest::StatusCode::OK);

    let secrets = [
        code.as_str(),
        first["access_token"].as_str().unwrap(),
        first["refresh_token"].as_str().unwrap(),
        access,
        refreshed["refresh_token"].as_str().unwrap(),
        client_secret.as_str(),
        PASSWORD,
    ];

    // SQLite: the database files; PostgreSQL: every value of every table.
    let stored = server.db.stored_bytes().await;
    assert!(stored.len() > 1_000, "the stored data was not found");
    // Sanity check that the search works: the client_id is public and is stored as is.
    assert!(contains(&stored, client_id.as_bytes()));
    let logs = captured_logs();
    assert!(!logs.is_empty(), "the trace logs were not captured");
    for secret in secrets {
        assert!(
            !contains(&stored, secret.as_bytes()),
            "a credential is in the database file"
        );
        assert!(!logs.contains(secret), "a credential is in the logs");
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
