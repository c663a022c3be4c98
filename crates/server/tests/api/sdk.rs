//! `ucoauth-sdk` against the real server: the authorize-URL builder and the pages, code
//! exchange with PKCE, refresh, `/oauth/me`, revoke, the device flow with its polling rules,
//! `TokenSource` refreshing once for many callers, and refusals as typed errors.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, SystemTime},
};

use reqwest::StatusCode;
use ucoauth_sdk::{
    verify_state, AuthorizationCode, AuthorizeUrl, ClientAuthMethod, ClientId, ClientSecret,
    Configuration, DeviceCode, DeviceFlowError, OauthApi, PkceVerifier, RedirectUrl, SdkError,
    TokenSet, TokenSource,
};
use ucoauth_server::{domain::audit::AuditKind, store::audit::AuditFilter};

use crate::helpers::*;

fn api(server: &TestServer) -> OauthApi {
    OauthApi::new(
        Configuration::builder()
            .base_url(&server.api)
            .build()
            .unwrap(),
    )
}

/// Builds an authorize URL with the SDK, plays the browser through sign-in and consent, checks
/// the returned state, and exchanges the code with the PKCE verifier.
async fn connect(server: &TestServer, api: &OauthApi, client_id: &ClientId) -> TokenSet {
    let redirect = RedirectUrl::new(REDIRECT_URI).unwrap();
    let request = AuthorizeUrl::builder(&server.api, client_id)
        .redirect_uri(redirect.clone())
        .scope("item_read")
        .build()
        .unwrap();
    let back = server
        .consent_at(&server.browser(), &request.url, "approve")
        .await;
    assert!(back.as_str().starts_with(REDIRECT_URI), "{back}");
    let state = query_param(&back, "state").expect("the state comes back");
    assert!(verify_state(&request.state, &state));
    let code = query_param(&back, "code").expect("a code");
    api.exchange_code(
        client_id,
        &AuthorizationCode::new(code),
        Some(&redirect),
        Some(request.pkce_verifier),
    )
    .await
    .unwrap()
}

/// Every `POST /rest/v2/oauth/token` the server answered, whatever the status.
async fn token_requests(server: &TestServer) -> f64 {
    let mut total = 0.0;
    for status in ["200", "400", "401", "429", "500", "503"] {
        let series = format!(
            r#"ucoauth_http_requests_total{{method="POST",route="/rest/v2/oauth/token",status="{status}"}}"#
        );
        total += server.metric(&series).await;
    }
    total
}

async fn audit_count(server: &TestServer, kind: AuditKind) -> usize {
    server
        .store
        .list_audit(
            &AuditFilter {
                kind: Some(kind.as_str().to_owned()),
                ..Default::default()
            },
            0,
            1000,
        )
        .await
        .unwrap()
        .len()
}

/// Asserts `err` is the server's refusal with `status` and OAuth error `code`, carrying the
/// `UC-REST-ERROR` header and the raw body; returns the description.
fn assert_refused(err: &SdkError, status: StatusCode, code: &str) -> String {
    assert!(matches!(err, SdkError::Api { .. }), "{err:?}");
    assert_eq!(err.status(), Some(status), "{err:?}");
    assert_eq!(err.oauth_error_code(), Some(code), "{err:?}");
    let description = err.oauth_error_description().unwrap_or_default().to_owned();
    assert!(!description.is_empty(), "{err:?}");
    assert_eq!(err.uc_rest_error(), Some(description.as_str()), "{err:?}");
    let body = err.body().unwrap();
    assert!(body.contains(&format!("\"error\":\"{code}\"")), "{body}");
    assert!(err.to_string().contains(&description), "{err}");
    description
}

#[tokio::test]
async fn the_sdk_connects_refreshes_identifies_and_revokes() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let client_id = ClientId::new(client_id);
    let api = api(&server);

    let tokens = connect(&server, &api, &client_id).await;
    assert_eq!(tokens.merchant_id.as_deref(), Some("DEMO"));
    assert_eq!(tokens.scopes().collect::<Vec<_>>(), ["item_read"]);
    let left = tokens.expires_in(SystemTime::now()).unwrap();
    assert!(left > Duration::from_secs(3500) && left <= Duration::from_secs(3600));
    let refresh_token = tokens.refresh_token.clone().unwrap();

    let me = api
        .with_access_token(tokens.access_token.clone())
        .unwrap()
        .oauth_me()
        .await
        .unwrap();
    assert_eq!(me.merchant_id.as_deref(), Some("DEMO"));
    assert_eq!(me.client_id.as_deref(), Some(client_id.as_str()));
    assert_eq!(me.scopes, Some(vec!["item_read".to_owned()]));

    // Refresh rotates both tokens; the new access token works.
    let refreshed = api.refresh(&client_id, &refresh_token).await.unwrap();
    assert_ne!(refreshed.access_token, tokens.access_token);
    let new_refresh = refreshed.refresh_token.clone().unwrap();
    assert_ne!(new_refresh, refresh_token);
    let me = api
        .with_access_token(refreshed.access_token.clone())
        .unwrap()
        .oauth_me()
        .await
        .unwrap();
    assert_eq!(me.merchant_id.as_deref(), Some("DEMO"));

    // Revoke ends the grant: /oauth/me refuses the access token with UltraCart's error shape,
    // and the refresh token is invalid_grant.
    let revoked = api
        .oauth_revoke(client_id.as_str(), new_refresh.secret())
        .await
        .unwrap();
    assert_eq!(revoked.successful, Some(true));
    let err = api
        .with_access_token(refreshed.access_token.clone())
        .unwrap()
        .oauth_me()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED), "{err:?}");
    let error = err.error_response().and_then(|e| e.error.as_ref());
    assert!(
        error.and_then(|e| e.developer_message.as_deref()).is_some(),
        "{err:?}"
    );
    assert!(err.uc_rest_error().is_some(), "{err:?}");
    let err = api.refresh(&client_id, &new_refresh).await.unwrap_err();
    assert_refused(&err, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn refusals_are_typed_errors_with_status_header_and_body() {
    let server = TestServer::start().await;
    let (client_id, secret) = server.app(|a| a.require_secret = true).await;
    let client_id = ClientId::new(client_id);
    let redirect = RedirectUrl::new(REDIRECT_URI).unwrap();
    let request = AuthorizeUrl::builder(&server.api, &client_id)
        .redirect_uri(redirect.clone())
        .build()
        .unwrap();
    let back = server
        .consent_at(&server.browser(), &request.url, "approve")
        .await;
    let code = AuthorizationCode::new(query_param(&back, "code").unwrap());

    // Without the secret the application is not authenticated.
    let err = api(&server)
        .exchange_code(
            &client_id,
            &code,
            Some(&redirect),
            Some(PkceVerifier::new_random()),
        )
        .await
        .unwrap_err();
    assert_refused(&err, StatusCode::UNAUTHORIZED, "invalid_client");

    // With the secret (Basic), but the wrong PKCE verifier: invalid_grant.
    let with_secret = |method| {
        OauthApi::new(
            Configuration::builder()
                .base_url(&server.api)
                .client_secret(ClientSecret::new(secret.clone()), method)
                .build()
                .unwrap(),
        )
    };
    let basic = with_secret(ClientAuthMethod::ClientSecretBasic);
    let err = basic
        .exchange_code(
            &client_id,
            &code,
            Some(&redirect),
            Some(PkceVerifier::new_random()),
        )
        .await
        .unwrap_err();
    let description = assert_refused(&err, StatusCode::BAD_REQUEST, "invalid_grant");
    assert!(
        description.to_lowercase().contains("verifier"),
        "{description}"
    );

    // A code that was never issued, with the secret in the form this time.
    let post = with_secret(ClientAuthMethod::ClientSecretPost);
    let err = post
        .exchange_code(
            &client_id,
            &AuthorizationCode::new("not-a-code"),
            Some(&redirect),
            None,
        )
        .await
        .unwrap_err();
    assert_refused(&err, StatusCode::BAD_REQUEST, "invalid_grant");

    // An unknown grant type through the generic operation.
    let err = post
        .oauth_access_token(client_id.as_str(), "password", Default::default())
        .await
        .unwrap_err();
    assert_refused(&err, StatusCode::BAD_REQUEST, "unsupported_grant_type");
}

#[tokio::test]
async fn token_source_refreshes_near_expiry_once_for_many_callers() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let client_id = ClientId::new(client_id);
    let api = api(&server);
    let mut tokens = connect(&server, &api, &client_id).await;
    let old_access = tokens.access_token.clone();
    let requests_before = token_requests(&server).await;
    assert_eq!(requests_before, 1.0, "the code exchange");

    // Plenty of time left: handed out as is, nothing on the wire.
    let source = TokenSource::new(api.clone(), client_id.clone(), tokens.clone());
    assert_eq!(source.access_token().await.unwrap(), old_access);
    assert_eq!(token_requests(&server).await, requests_before);

    // 30 s left, under the 60 s margin: sixteen callers at once get one refresh between them.
    tokens.expires_at = Some(SystemTime::now() + Duration::from_secs(30));
    let saved = Arc::new(Mutex::new(Vec::<TokenSet>::new()));
    let sink = saved.clone();
    let saves = Arc::new(AtomicUsize::new(0));
    let counted = saves.clone();
    let source = TokenSource::new(api.clone(), client_id.clone(), tokens).on_refresh(
        move |t: &TokenSet| -> Result<(), std::convert::Infallible> {
            counted.fetch_add(1, Ordering::SeqCst);
            sink.lock().unwrap().push(t.clone());
            Ok(())
        },
    );
    let callers: Vec<_> = (0..16)
        .map(|_| {
            let source = source.clone();
            tokio::spawn(async move { source.access_token().await })
        })
        .collect();
    let mut handed_out = Vec::new();
    for caller in callers {
        handed_out.push(caller.await.unwrap().unwrap());
    }
    let new_access = handed_out[0].clone();
    assert_ne!(new_access, old_access);
    assert!(handed_out.iter().all(|t| *t == new_access));
    assert_eq!(saves.load(Ordering::SeqCst), 1, "saved once, before use");
    assert_eq!(saved.lock().unwrap()[0].access_token, new_access);
    assert_eq!(token_requests(&server).await, requests_before + 1.0);
    assert_eq!(server.metric("ucoauth_refreshes_total").await, 1.0);
    assert_eq!(audit_count(&server, AuditKind::TokenRefreshed).await, 1);
    assert_eq!(
        audit_count(&server, AuditKind::RefreshReuseDetected).await,
        0
    );
    // The refreshed token has its full lifetime: the next call is served from memory.
    assert_eq!(source.access_token().await.unwrap(), new_access);
    assert_eq!(token_requests(&server).await, requests_before + 1.0);

    // The server lets the access token expire (its clock, not ours): /oauth/me refuses it, and
    // refresh_rejected gets a working one, again once for concurrent callers.
    server.clock.advance(3_601_000);
    let err = api
        .with_access_token(new_access.clone())
        .unwrap()
        .oauth_me()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED), "{err:?}");
    let (a, b) = tokio::join!(
        source.refresh_rejected(&new_access),
        source.refresh_rejected(&new_access)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a, b);
    assert_ne!(a, new_access);
    assert_eq!(saves.load(Ordering::SeqCst), 2);
    assert_eq!(token_requests(&server).await, requests_before + 2.0);
    let me = api.with_access_token(a).unwrap().oauth_me().await.unwrap();
    assert_eq!(me.merchant_id.as_deref(), Some("DEMO"));
    assert_eq!(
        audit_count(&server, AuditKind::RefreshReuseDetected).await,
        0
    );
}

/// A `sleep` for `poll_device_token_with_sleep` that moves the server's clock instead of
/// waiting, records each wait it was asked for, and before poll `n` (1-based) runs `act(n)`,
/// which says how far to move the clock.
fn scripted_sleep<'a, F, Fut>(
    server: &'a TestServer,
    waits: &'a Mutex<Vec<Duration>>,
    act: F,
) -> impl FnMut(Duration) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'a>>
where
    F: Fn(usize, Duration) -> Fut + 'a,
    Fut: std::future::Future<Output = Duration> + 'a,
{
    let act = Arc::new(act);
    move |wait| {
        let n = {
            let mut waits = waits.lock().unwrap();
            waits.push(wait);
            waits.len()
        };
        let act = act.clone();
        Box::pin(async move {
            let advance = act(n, wait).await;
            server
                .clock
                .advance(i64::try_from(advance.as_millis()).unwrap());
        })
    }
}

async fn start_device(api: &OauthApi, client_id: &ClientId) -> (DeviceCode, String, Duration) {
    let started = api
        .oauth_device_authorize(client_id.as_str(), "item_read")
        .await
        .unwrap();
    let interval = Duration::from_secs(u64::try_from(started.interval.unwrap()).unwrap());
    (
        DeviceCode::new(started.device_code.unwrap()),
        started.user_code.unwrap(),
        interval,
    )
}

#[tokio::test]
async fn device_polling_honours_pending_and_slow_down_then_gets_tokens() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let client_id = ClientId::new(client_id);
    let api = api(&server);
    let (device_code, user_code, interval) = start_device(&api, &client_id).await;
    assert_eq!(interval, Duration::from_secs(5));

    // Poll 1 after the interval: pending. Poll 2 only 1 s later: slow_down, so the SDK waits
    // 5 s longer. Before poll 3 the merchant approves on the verification page.
    let waits = Mutex::new(Vec::new());
    let sleep = scripted_sleep(&server, &waits, |n, wait| {
        let server = &server;
        let user_code = user_code.clone();
        async move {
            match n {
                2 => Duration::from_secs(1),
                3 => {
                    let done = crate::device::approve_or_deny(server, &user_code, "approve").await;
                    assert!(done.contains("Device connected"));
                    wait
                }
                _ => wait,
            }
        }
    });
    let tokens = api
        .poll_device_token_with_sleep(&client_id, &device_code, interval, sleep)
        .await
        .unwrap();
    assert_eq!(
        *waits.lock().unwrap(),
        [
            Duration::from_secs(5),
            Duration::from_secs(5),
            Duration::from_secs(10)
        ]
    );
    assert_eq!(tokens.merchant_id.as_deref(), Some("DEMO"));
    assert!(tokens.refresh_token.is_some());
    let me = api
        .with_access_token(tokens.access_token.clone())
        .unwrap()
        .oauth_me()
        .await
        .unwrap();
    assert_eq!(me.client_id.as_deref(), Some(client_id.as_str()));

    // The device code yields tokens once.
    let clock = &server.clock;
    let err = api
        .poll_device_token_with_sleep(&client_id, &device_code, interval, |_| async {
            clock.advance(5_000);
        })
        .await
        .unwrap_err();
    assert_refused(&err, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn device_polling_ends_with_typed_errors_when_denied_or_expired() {
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let client_id = ClientId::new(client_id);
    let api = api(&server);

    let (device_code, user_code, interval) = start_device(&api, &client_id).await;
    let waits = Mutex::new(Vec::new());
    let sleep = scripted_sleep(&server, &waits, |n, wait| {
        let server = &server;
        let user_code = user_code.clone();
        async move {
            if n == 2 {
                crate::device::approve_or_deny(server, &user_code, "deny").await;
            }
            wait
        }
    });
    let err = api
        .poll_device_token_with_sleep(&client_id, &device_code, interval, sleep)
        .await
        .unwrap_err();
    assert_eq!(waits.lock().unwrap().len(), 2, "pending, then denied");
    match &err {
        SdkError::Device(DeviceFlowError::AccessDenied { description }) => {
            assert!(description.is_some(), "{err:?}");
        }
        other => panic!("expected access_denied, got {other:?}"),
    }
    assert_eq!(err.oauth_error_code(), Some("access_denied"));

    // Nobody approves: after the device code's 15 minutes, expired_token.
    let (device_code, _, interval) = start_device(&api, &client_id).await;
    let clock = &server.clock;
    let err = api
        .poll_device_token_with_sleep(&client_id, &device_code, interval, |wait| async move {
            clock.advance(i64::try_from(wait.as_millis()).unwrap() + 60_000);
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, SdkError::Device(DeviceFlowError::ExpiredToken { .. })),
        "{err:?}"
    );
    assert_eq!(err.oauth_error_code(), Some("expired_token"));
}
