//! `POST /oauth/token`: every refusal with its status, body shape and `UC-REST-ERROR` header.

use base64::{engine::general_purpose::STANDARD, Engine as _};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

type Params<'a> = Vec<(&'a str, &'a str)>;

async fn code_grant(server: &TestServer, client_id: &str, code: &str) -> reqwest::Response {
    server
        .post_form(
            "/oauth/token",
            &[
                ("client_id", client_id),
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT_URI),
            ],
        )
        .await
}

#[tokio::test]
async fn an_unknown_code_is_invalid_grant() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let r = code_grant(&server, &client_id, "not-a-code").await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn an_expired_code_is_invalid_grant() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let code = server.code_for(&client_id, &[]).await;
    server.clock.advance(60_001);
    let r = code_grant(&server, &client_id, &code).await;
    let body = assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("expired"));
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_the_tokens_of_the_first_redemption() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let code = server.code_for(&client_id, &[]).await;
    let first = server.exchange(&client_id, &code).await;
    let access = first["access_token"].as_str().unwrap();
    assert_eq!(server.me(access).await.status(), StatusCode::OK);

    let r = code_grant(&server, &client_id, &code).await;
    let body = assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("already used"));
    assert_eq!(server.me(access).await.status(), StatusCode::UNAUTHORIZED);
    let r = server
        .refresh(&client_id, first["refresh_token"].as_str().unwrap())
        .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn a_wrong_redirect_uri_is_invalid_grant_and_a_missing_one_invalid_request() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let code = server.code_for(&client_id, &[]).await;
    let wrong = server
        .post_form(
            "/oauth/token",
            &[
                ("client_id", &client_id),
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://app.example/callback/"),
            ],
        )
        .await;
    assert_oauth_error(wrong, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let missing = server
        .post_form(
            "/oauth/token",
            &[
                ("client_id", &client_id),
                ("grant_type", "authorization_code"),
                ("code", &code),
            ],
        )
        .await;
    assert_oauth_error(missing, StatusCode::BAD_REQUEST, "invalid_request").await;
    // Neither attempt used the code up.
    let ok = code_grant(&server, &client_id, &code).await;
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_code_issued_to_another_client_is_invalid_grant() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let (other, _) = server.app(|a| a.name = "Other".into()).await;
    let code = server.code_for(&client_id, &[]).await;
    let r = code_grant(&server, &other, &code).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn an_unknown_client_id_is_401_invalid_client_with_a_challenge() {
    let server = TestServer::start().await;
    let r = code_grant(&server, "0123456789abcdef0123456789abcdef", "x").await;
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"ucoauth\"");
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[tokio::test]
async fn refresh_reuse_outside_the_grace_window_revokes_the_family() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let (access, refresh1) = server.tokens(&client_id).await;
    let r = server.refresh(&client_id, &refresh1).await;
    let second: Value = r.json().await.unwrap();
    let refresh2 = second["refresh_token"].as_str().unwrap();

    server.clock.advance(10_001);
    let reuse = server.refresh(&client_id, &refresh1).await;
    let body = assert_oauth_error(reuse, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("revoked"));
    // The whole family is dead: the newest refresh token and every access token.
    let r = server.refresh(&client_id, refresh2).await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(server.me(&access).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        server
            .me(second["access_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_retry_within_the_grace_window_gets_a_new_pair_and_retires_the_lost_one() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let (_, refresh1) = server.tokens(&client_id).await;
    let lost: Value = server
        .refresh(&client_id, &refresh1)
        .await
        .json()
        .await
        .unwrap();
    server.clock.advance(5_000);
    let retry = server.refresh(&client_id, &refresh1).await;
    assert_eq!(retry.status(), StatusCode::OK);
    let retried: Value = retry.json().await.unwrap();
    // The retry's pair works; the lost successor is retired (presenting it is reuse).
    let r = server
        .refresh(&client_id, retried["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = server
        .refresh(&client_id, lost["refresh_token"].as_str().unwrap())
        .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

/// Many refreshes at once (batched on SQLite, concurrent transactions on PostgreSQL) must each
/// end as they would one by one: every token rotates once and its new pair works, a token
/// presented twice at once is a grace-window retry, and a wrong client, an unknown token and
/// a reused token are refused (the last revoking its grant).
#[tokio::test]
async fn refreshes_at_once_end_as_they_would_one_by_one() {
    const GRANTS: usize = 24;
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let (other_client, _) = server.app(|_| {}).await;
    let mut presented = Vec::new();
    for _ in 0..GRANTS {
        presented.push(server.tokens(&client_id).await.1);
    }
    let (_, used) = server.tokens(&client_id).await;
    let after_used: Value = server
        .refresh(&client_id, &used)
        .await
        .json()
        .await
        .unwrap();
    server.clock.advance(10_001); // past the grace window of `used`

    let mut requests: Vec<(&str, &str)> = presented
        .iter()
        .map(|t| (client_id.as_str(), t.as_str()))
        .collect();
    requests.push((&client_id, &presented[0])); // the same token twice
    requests.push((&other_client, &presented[1])); // another client's token
    requests.push((&client_id, "an-unknown-refresh-token")); // unknown
    requests.push((&client_id, &used)); // reused after its grace window
    let answers = futures_util::future::join_all(
        requests
            .iter()
            .map(|(client, token)| server.refresh(client, token)),
    )
    .await;
    let mut answers = answers.into_iter();
    let mut new_pairs = Vec::new();
    for _ in 0..GRANTS + 1 {
        let r = answers.next().unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        new_pairs.push(r.json::<Value>().await.unwrap());
    }
    for _ in 0..2 {
        assert_oauth_error(
            answers.next().unwrap(),
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        )
        .await;
    }
    let body = assert_oauth_error(
        answers.next().unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("revoked"));

    // Each live grant keeps exactly one refresh token that can still be used.
    let live: Vec<(String, i64)> = sqlx::query_as(
        "SELECT g.grant_id, CAST(count(r.token_hash) AS BIGINT) FROM grants g \
         LEFT JOIN refresh_tokens r ON r.grant_id = g.grant_id \
              AND r.consumed_at IS NULL AND r.retired_at IS NULL \
         WHERE g.client_id = $1 AND g.revoked_at IS NULL GROUP BY g.grant_id",
    )
    .bind(&client_id)
    .fetch_all(server.store.pool())
    .await
    .unwrap();
    assert_eq!(
        live.len(),
        GRANTS,
        "the reused token's grant alone is revoked"
    );
    assert!(live.iter().all(|(_, n)| *n == 1), "{live:?}");
    let refreshed: i64 = sqlx::query_scalar(
        "SELECT CAST(count(*) AS BIGINT) FROM audit_events \
         WHERE kind = 'token.refreshed' AND client_id = $1",
    )
    .bind(&client_id)
    .fetch_one(server.store.pool())
    .await
    .unwrap();
    assert_eq!(refreshed as usize, GRANTS + 2, "one event per pair issued");

    // The new pairs of the tokens presented once work, as does the reused grant's refusal.
    for pair in &new_pairs[1..GRANTS] {
        let access = pair["access_token"].as_str().unwrap();
        assert_eq!(server.me(access).await.status(), StatusCode::OK);
        let r = server
            .refresh(&client_id, pair["refresh_token"].as_str().unwrap())
            .await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = server
        .refresh(&client_id, after_used["refresh_token"].as_str().unwrap())
        .await;
    assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

/// "Last used" of a grant: the approval (its code), then token pairs, to the minute.
#[tokio::test]
async fn last_used_is_the_approval_then_token_pairs_to_the_minute() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let approved_at = server.clock_now();
    let code = server.code_for(&client_id, &[]).await;
    let last_used = || async {
        let at: Vec<Option<i64>> =
            sqlx::query_scalar("SELECT last_used_at FROM grants WHERE client_id = $1")
                .bind(&client_id)
                .fetch_all(server.store.pool())
                .await
                .unwrap();
        assert_eq!(at.len(), 1);
        at[0]
    };
    assert_eq!(
        last_used().await,
        Some(approved_at),
        "the code is the first use"
    );

    server.clock.advance(59_000);
    let pair = server.exchange(&client_id, &code).await;
    assert_eq!(
        last_used().await,
        Some(approved_at),
        "within the minute: unchanged"
    );

    server.clock.advance(1_000);
    let r = server
        .refresh(&client_id, pair["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        last_used().await,
        Some(approved_at + 60_000),
        "a minute on: the pair's time"
    );
}

#[tokio::test]
async fn refresh_may_narrow_but_never_widen_the_scope() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let (_, refresh) = server.tokens(&client_id).await;
    let wider = server
        .post_form(
            "/oauth/token",
            &[
                ("client_id", &client_id),
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("scope", "item_read item_write"),
            ],
        )
        .await;
    assert_oauth_error(wider, StatusCode::BAD_REQUEST, "invalid_scope").await;
    let narrower = server
        .post_form(
            "/oauth/token",
            &[
                ("client_id", &client_id),
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh),
                ("scope", "item_read"),
            ],
        )
        .await;
    assert_eq!(narrower.status(), StatusCode::OK);
    let body: Value = narrower.json().await.unwrap();
    assert_eq!(body["scope"], "item_read");
    // The grant keeps both scopes for the next refresh.
    let next = server
        .refresh(&client_id, body["refresh_token"].as_str().unwrap())
        .await;
    let body: Value = next.json().await.unwrap();
    assert_eq!(body["scope"], "item_read order_read");
}

#[tokio::test]
async fn missing_parameters_and_unknown_grant_types_are_named() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let cases: Vec<(Params, StatusCode, &str, &str)> = vec![
        (
            vec![("client_id", &client_id)],
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "grant_type",
        ),
        (
            vec![("grant_type", "authorization_code"), ("code", "x")],
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_id",
        ),
        (
            vec![
                ("client_id", &client_id),
                ("grant_type", "authorization_code"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "code",
        ),
        (
            vec![("client_id", &client_id), ("grant_type", "refresh_token")],
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "refresh_token",
        ),
        (
            vec![("client_id", &client_id), ("grant_type", "password")],
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "password",
        ),
        (
            vec![
                ("client_id", &client_id),
                ("client_id", &client_id),
                ("grant_type", "refresh_token"),
            ],
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "more than once",
        ),
    ];
    for (form, status, code, mentions) in cases {
        let r = server.post_form("/oauth/token", &form).await;
        let body = assert_oauth_error(r, status, code).await;
        let description = body["error_description"].as_str().unwrap();
        assert!(
            description.contains(mentions),
            "{description:?} should mention {mentions:?}"
        );
    }
}

#[tokio::test]
async fn wrong_content_type_oversized_and_malformed_bodies_are_refused_clearly() {
    let server = TestServer::start().await;
    let url = format!("{}/oauth/token", server.api);
    let json = server
        .client()
        .post(&url)
        .json(&serde_json::json!({"grant_type": "refresh_token"}))
        .send()
        .await
        .unwrap();
    assert_oauth_error(json, StatusCode::UNSUPPORTED_MEDIA_TYPE, "invalid_request").await;

    let big = format!(
        "grant_type=refresh_token&refresh_token={}",
        "a".repeat(20_000)
    );
    let r = server
        .client()
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_oauth_error(r, StatusCode::PAYLOAD_TOO_LARGE, "invalid_request").await;

    for malformed in ["grant_type=%zz", "grant_type=%FF%FE", "a=%00", "=x"] {
        let r = server
            .client()
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(malformed)
            .send()
            .await
            .unwrap();
        let body = assert_oauth_error(r, StatusCode::BAD_REQUEST, "invalid_request").await;
        assert!(body["error_description"]
            .as_str()
            .unwrap()
            .contains("malformed"));
    }
}

#[tokio::test]
async fn client_secrets_are_checked_when_sent_and_required_when_configured() {
    let server = TestServer::start().await;
    let (client_id, secret) = server.app(|a| a.require_secret = true).await;
    let code = server.code_for(&client_id, &[]).await;

    // Required but absent.
    let r = code_grant(&server, &client_id, &code).await;
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // Wrong secret in the form.
    let r = server
        .post_form(
            "/oauth/token",
            &[
                ("client_id", &client_id),
                ("client_secret", "wrong"),
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
            ],
        )
        .await;
    assert_oauth_error(r, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // Right secret with HTTP Basic.
    let r = server
        .client()
        .post(format!("{}/oauth/token", server.api))
        .header(
            "authorization",
            format!("Basic {}", STANDARD.encode(format!("{client_id}:{secret}"))),
        )
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn sdk_credential_headers_do_not_break_a_valid_request() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let code = server.code_for(&client_id, &[]).await;
    // What the TypeScript SDK sends: both key headers and a bare Authorization value.
    let r = server
        .client()
        .post(format!("{}/oauth/token", server.api))
        .header("x-ultracart-simple-key", "109ee846ee69f50177018ab12f008a00")
        .header("x-ultracart-browser-key", "109ee846ee69f50177018ab12f008a00")
        .header("X-UltraCart-Api-Version", "2017-03-01")
        .header("authorization", "Bearer something-else")
        .header("content-type", "application/x-www-form-urlencoded; charset=utf-8")
        .body(format!(
            "code={code}&redirect_uri=https%3A%2F%2Fapp.example%2Fcallback&client_id={client_id}&grant_type=authorization_code"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}
