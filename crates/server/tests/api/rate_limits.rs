//! Rate limits answer 429 with `Retry-After` and the error body, and only hit the abuser.

use reqwest::StatusCode;
use ucoauth_server::config::RateLimits;

use crate::helpers::*;

async fn failed_sign_in(server: &TestServer, login: &str) -> reqwest::Response {
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
            ("login", login),
            ("password", "wrong password"),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn repeated_failed_sign_ins_lock_the_account_for_a_while() {
    let server = TestServer::start_with(|c| {
        c.rate_limits = RateLimits {
            login_failures_per_account_per_minute: 3,
            ..RateLimits::default()
        }
    })
    .await;
    for _ in 0..3 {
        assert_eq!(
            failed_sign_in(&server, LOGIN).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let r = failed_sign_in(&server, LOGIN).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
    assert!(r.headers().contains_key("uc-rest-error"));
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("Too many sign-in attempts"));
    // Even the right password waits: the lock is per account.
    let locked = server.sign_in(&server.browser(), "/").await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another account is not affected.
    assert_eq!(
        failed_sign_in(&server, "someone-else").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn sign_ins_from_one_address_are_limited() {
    let server = TestServer::start_with(|c| {
        c.rate_limits = RateLimits {
            login_per_ip_per_minute: 4,
            ..RateLimits::default()
        }
    })
    .await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        statuses.push(failed_sign_in(&server, &format!("user{i}")).await.status());
    }
    assert_eq!(&statuses[..4], &[StatusCode::UNAUTHORIZED; 4]);
    assert_eq!(&statuses[4..], &[StatusCode::TOO_MANY_REQUESTS; 2]);
}

#[tokio::test]
async fn failed_token_requests_from_one_address_get_429_with_an_error_response() {
    let server = TestServer::start_with(|c| {
        c.rate_limits = RateLimits {
            token_failures_per_ip_per_minute: 5,
            ..RateLimits::default()
        }
    })
    .await;
    let (client_id, _) = server.app(|_| {}).await;
    for _ in 0..5 {
        let r = server
            .post_form(
                "/oauth/token",
                &[
                    ("client_id", &client_id),
                    ("grant_type", "refresh_token"),
                    ("refresh_token", "guess"),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
    let r = server
        .post_form(
            "/oauth/token",
            &[
                ("client_id", &client_id),
                ("grant_type", "refresh_token"),
                ("refresh_token", "guess"),
            ],
        )
        .await;
    let retry = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse::<u64>()
        .unwrap();
    assert!((1..=61).contains(&retry));
    assert_error_response(r, StatusCode::TOO_MANY_REQUESTS).await;
    let r = server
        .post_form(
            "/oauth/revoke",
            &[("client_id", &client_id), ("token", "guess")],
        )
        .await;
    assert_error_response(r, StatusCode::TOO_MANY_REQUESTS).await;
}

#[tokio::test]
async fn one_application_cannot_exceed_its_request_rate() {
    let server = TestServer::start_with(|c| {
        c.rate_limits = RateLimits {
            token_per_client_per_second: 3,
            ..RateLimits::default()
        }
    })
    .await;
    let (client_id, _) = server.app(|_| {}).await;
    let mut limited = 0;
    for _ in 0..10 {
        let r = server
            .post_form(
                "/oauth/revoke",
                &[("client_id", &client_id), ("token", "unknown")],
            )
            .await;
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            limited += 1;
        }
    }
    assert!(
        limited >= 5,
        "only {limited} of 10 back-to-back requests were limited"
    );
}
