//! End to end in a real browser: Debian's headless Chromium, driven through chromedriver,
//! signs in to the back office, registers an application, runs the authorization flow in the
//! same browser, sees the application under Authorized Applications, revokes it, and the
//! token is refused. Along the way it takes a screenshot of each page.
//!
//! Needs `chromium` and `chromedriver` on PATH (`.ci/run` installs them). Without them the test
//! is skipped with a message locally, and fails when `CI` is set. Nothing is downloaded: the
//! browser gets a fresh profile and no network features. Screenshots go to a temporary folder,
//! or to `UCOAUTH_SCREENSHOTS_DIR` when set (`docs/screenshots` refreshes the README's).

use std::{sync::Arc, time::Duration};

use reqwest::StatusCode;
use serde_json::Value;
use url::Url;

use crate::{helpers::*, webdriver::*};

/// The whole browser run may take this long; then it fails and everything is stopped.
const BUDGET: Duration = Duration::from_secs(150);

#[tokio::test]
async fn a_merchant_uses_the_back_office_and_the_oauth_flow_in_chromium() {
    let Some(tools) = find_tools() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium and chromedriver must be installed under CI: apt-get install -y chromium chromium-driver"
        );
        eprintln!("skipped: chromium and chromedriver are not installed (apt-get install -y chromium chromium-driver)");
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let shots = match std::env::var_os("UCOAUTH_SCREENSHOTS_DIR") {
        Some(dir) => std::path::PathBuf::from(dir),
        None => scratch.path().join("screenshots"),
    };
    std::fs::create_dir_all(&shots).unwrap();
    let log = scratch.path().join("chromedriver.log");

    let driver = Driver::start(&tools, &log)
        .await
        .expect("chromedriver starts");
    let session = match driver
        .session(&tools, &scratch.path().join("profile"))
        .await
    {
        Ok(s) => s,
        Err(e) => {
            driver.stop().await;
            panic!(
                "no browser session: {e}\nchromedriver log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
    };
    let server = Arc::new(TestServer::start().await);
    let run = tokio::spawn(scenario(server.clone(), session.clone(), shots.clone()));
    let abort = run.abort_handle();
    let outcome = tokio::time::timeout(BUDGET, run).await;
    // Whatever happened, close the browser and stop the driver before reporting.
    let _ = tokio::time::timeout(Duration::from_secs(10), session.quit()).await;
    driver.stop().await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Ok(Err(e)) => panic!("the browser scenario did not finish: {e}"),
        Err(_) => {
            abort.abort();
            panic!("the browser scenario took longer than {BUDGET:?}");
        }
    }
    for name in SHOTS {
        let png = std::fs::read(shots.join(name)).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name} is a PNG");
    }
}

/// The screenshots the scenario takes, in order.
const SHOTS: [&str; 14] = [
    "01-sign-in.png",
    "02-home.png",
    "03-applications-empty.png",
    "04-register-errors.png",
    "05-application-created.png",
    "06-application.png",
    "07-consent.png",
    "08-authorized.png",
    "09-key-created.png",
    "10-keys.png",
    "11-users.png",
    "12-password.png",
    "13-delete-confirm.png",
    "14-applications.png",
];

async fn shot(session: &Session, dir: &std::path::Path, name: &str) {
    assert!(SHOTS.contains(&name), "{name} is listed in SHOTS");
    let png = session.screenshot().await.unwrap();
    std::fs::write(dir.join(name), png).unwrap();
}

/// Types into the field `css` (clearing it first).
async fn fill(session: &Session, css: &str, text: &str) {
    let field = session.find(css).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

async fn click(session: &Session, css: &str) {
    session.find(css).await.unwrap().click().await.unwrap();
}

/// Waits (at most 10 s) until the browser's address starts with `prefix`; returns it.
async fn wait_for_url(session: &Session, prefix: &str) -> String {
    let mut url = String::new();
    for _ in 0..100 {
        url = session.current_url().await.unwrap();
        if url.starts_with(prefix) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    url
}

/// Waits (at most 10 s) until the page contains `text`; returns the page.
async fn wait_for_text(session: &Session, text: &str) -> String {
    let mut page = String::new();
    for _ in 0..100 {
        page = session.source().await.unwrap();
        if page.contains(text) {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the page never showed {text:?}:\n{page}");
}

/// Waits (at most 10 s) until the page no longer contains `text` (the browser has left the
/// page that showed it); returns the page.
async fn wait_for_absence(session: &Session, text: &str) -> String {
    let mut page = String::new();
    for _ in 0..100 {
        page = session.source().await.unwrap();
        if !page.contains(text) {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the page still shows what it should have left behind:\n{page}");
}

/// A stand-in for the application's own web server: its redirect URI answers here.
async fn callback_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/callback",
        axum::routing::get(|| async {
            axum::response::Html("<!doctype html><title>Connected</title><p>Connected.</p>")
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/callback")
}

async fn scenario(server: Arc<TestServer>, s: Session, shots: std::path::PathBuf) {
    let base = &server.base;
    let redirect_uri = callback_server().await;

    // Sign in.
    s.goto(&format!("{base}/login")).await.unwrap();
    shot(&s, &shots, "01-sign-in.png").await;
    fill(&s, "#login", LOGIN).await;
    fill(&s, "#password", PASSWORD).await;
    click(&s, "form[action='/login'] button[type=submit]").await;
    wait_for_text(&s, "Signed in as").await;
    assert_eq!(s.current_url().await.unwrap(), format!("{base}/"));
    shot(&s, &shots, "02-home.png").await;

    // Developer Applications: empty, then a registration with a mistake, then a good one.
    click(&s, "nav a[href='/applications']").await;
    wait_for_text(&s, "No developer applications yet.").await;
    shot(&s, &shots, "03-applications-empty.png").await;
    click(&s, "#new-application").await;
    fill(&s, "#name", "Item Sync").await;
    fill(
        &s,
        "#description",
        "Keeps your catalogue in sync with the warehouse.",
    )
    .await;
    fill(&s, "#developer_name", "Acme Dev").await;
    fill(&s, "#developer_email", "dev@acme.example").await;
    fill(&s, "#developer_url", "https://acme.example").await;
    fill(&s, "#redirect_uris", "http://app.example/callback").await;
    click(&s, "#scope-item_read").await;
    click(&s, "#scope-order_read").await;
    click(&s, "#save-application").await;
    let message = s
        .find("#redirect_uris-error")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(message.contains("must use https"), "{message}");
    shot(&s, &shots, "04-register-errors.png").await;
    fill(&s, "#redirect_uris", &redirect_uri).await;
    click(&s, "#save-application").await;
    let client_id = s.find("#client-id").await.unwrap().text().await.unwrap();
    let secret = s.find("#secret").await.unwrap().text().await.unwrap();
    assert_eq!((client_id.len(), secret.len()), (32, 64));
    shot(&s, &shots, "05-application-created.png").await;
    // The secret is shown once: the next page must not carry it.
    click(&s, "#continue").await;
    let page = wait_for_absence(&s, &secret).await;
    assert!(page.contains(&client_id), "{page}");
    shot(&s, &shots, "06-application.png").await;

    // The authorization flow in the same browser (already signed in): consent, then back to
    // the application with a code.
    let authorize = Url::parse_with_params(
        &format!("{}/oauth/authorize", server.api),
        [
            ("response_type", "code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("state", "browser-state"),
        ],
    )
    .unwrap();
    s.goto(authorize.as_str()).await.unwrap();
    wait_for_text(&s, "Allow <strong>Item Sync</strong>").await;
    shot(&s, &shots, "07-consent.png").await;
    click(&s, "button[name=decision][value=approve]").await;
    let landed = Url::parse(&wait_for_url(&s, &redirect_uri).await).unwrap();
    assert!(
        landed.as_str().starts_with(&redirect_uri),
        "{landed}: {}",
        s.source().await.unwrap()
    );
    assert_eq!(
        query_param(&landed, "state").as_deref(),
        Some("browser-state")
    );
    let code = query_param(&landed, "code").expect("a code");
    assert_eq!(s.title().await.unwrap(), "Connected");

    // The application's back end exchanges the code (with its secret) and calls /oauth/me.
    let r = server
        .post_form(
            "/oauth/token",
            &[
                ("client_id", &client_id),
                ("client_secret", &secret),
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &redirect_uri),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let tokens: Value = r.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(server.me(&access).await.status(), StatusCode::OK);

    // Authorized Applications: it is there; revoke it; the token is refused at once.
    s.goto(&format!("{base}/authorized")).await.unwrap();
    let page = s.source().await.unwrap();
    assert!(
        page.contains("Item Sync") && page.contains("item_read"),
        "{page}"
    );
    shot(&s, &shots, "08-authorized.png").await;
    click(&s, "button[id^='revoke-']").await;
    let page = wait_for_text(&s, "Access was revoked").await;
    assert!(page.contains("No authorized applications."));
    let r = server.me(&access).await;
    assert_error_response(r, StatusCode::UNAUTHORIZED).await;

    // API keys: create one (shown once), and it answers /oauth/me.
    click(&s, "nav a[href='/keys']").await;
    fill(&s, "#name", "nightly export").await;
    click(&s, "#scope-order_read").await;
    click(&s, "#create-key").await;
    let key = s.find("#secret").await.unwrap().text().await.unwrap();
    shot(&s, &shots, "09-key-created.png").await;
    click(&s, "#continue").await;
    let page = wait_for_absence(&s, &key).await;
    assert!(page.contains("nightly export"), "{page}");
    shot(&s, &shots, "10-keys.png").await;
    let r = server
        .client()
        .get(format!("{}/oauth/me", server.api))
        .header("x-ultracart-simple-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let me: Value = r.json().await.unwrap();
    assert_eq!(me["scopes"], serde_json::json!(["order_read"]));

    // Users: add one, open its password form.
    click(&s, "nav a[href='/users']").await;
    fill(&s, "#login", "ann").await;
    fill(&s, "#password", "ann's long password").await;
    fill(&s, "#password_confirm", "ann's long password").await;
    click(&s, "#add-user").await;
    wait_for_text(&s, "The user was added.").await;
    shot(&s, &shots, "11-users.png").await;
    click(&s, "a[aria-label='Change the password of ann']").await;
    shot(&s, &shots, "12-password.png").await;

    // Delete the application after the confirmation.
    s.goto(&format!("{base}/applications/{client_id}/delete"))
        .await
        .unwrap();
    shot(&s, &shots, "13-delete-confirm.png").await;
    click(&s, "#confirm-delete").await;
    wait_for_text(&s, "The application was deleted").await;
    shot(&s, &shots, "14-applications.png").await;

    // Sign out: the back office asks to sign in again.
    // The click returns before the navigation ends: wait for the address to change.
    click(&s, "#sign-out").await;
    let url = wait_for_url(&s, &format!("{base}/login")).await;
    assert!(url.starts_with(&format!("{base}/login")), "{url}");
    s.goto(&format!("{base}/keys")).await.unwrap();
    let url = wait_for_url(&s, &format!("{base}/login?return_to=")).await;
    assert!(
        url.starts_with(&format!("{base}/login?return_to=")),
        "{url}"
    );
}
