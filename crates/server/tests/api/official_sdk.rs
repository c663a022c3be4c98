//! UltraCart's official Python SDK (`ultracart-rest-sdk` from PyPI), pointed at our base URL,
//! exchanges a code, refreshes, calls `oauth_me` and revokes without any error; and runs the
//! device flow (`oauth_device_authorize`, then `oauth_access_token` with the device grant).
//!
//! `.ci/run` installs the SDK into a virtualenv and sets `UCOAUTH_TEST_PYTHON` to its
//! interpreter. Without that variable the test is skipped locally, and fails under CI.

use serde_json::Value;

use crate::helpers::*;

/// The Python with the SDK, or `None` (skip) outside CI.
fn python() -> Option<std::ffi::OsString> {
    let python = std::env::var_os("UCOAUTH_TEST_PYTHON");
    if python.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "UCOAUTH_TEST_PYTHON must point at a Python with ultracart-rest-sdk under CI"
        );
        eprintln!("skipped: set UCOAUTH_TEST_PYTHON to a Python with ultracart-rest-sdk installed");
    }
    python
}

/// Runs a script of `tests/python/` and returns what it printed as JSON.
async fn run_script(python: &std::ffi::OsStr, script: &str, args: &[&str]) -> Value {
    let path = format!("{}/tests/python/{script}", env!("CARGO_MANIFEST_DIR"));
    let output = tokio::process::Command::new(python)
        .arg(&path)
        .args(args)
        .output()
        .await
        .expect("run the Python SDK script");
    assert!(
        output.status.success(),
        "the official SDK failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn the_official_python_sdk_runs_the_device_flow() {
    let Some(python) = python() else { return };
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;

    let device = run_script(
        &python,
        "ultracart_sdk_device.py",
        &["authorize", &server.api, &client_id],
    )
    .await;
    assert_eq!(device["type"], "OauthDeviceAuthorizationResponse");
    assert_eq!(device["expires_in"], 900);
    assert_eq!(device["interval"], 5);
    assert_eq!(
        device["verification_uri"],
        format!("{}/device", server.base).as_str()
    );
    let user_code = device["user_code"].as_str().unwrap();
    assert!(device["verification_uri_complete"]
        .as_str()
        .unwrap()
        .ends_with(&format!("?user_code={user_code}")));
    assert_eq!(device["pending"]["status"], 400);
    assert_eq!(device["pending"]["body"]["error"], "authorization_pending");

    crate::device::approve_or_deny(&server, user_code, "approve").await;
    server.clock.advance(5_000);
    let token = run_script(
        &python,
        "ultracart_sdk_device.py",
        &[
            "poll",
            &server.api,
            &client_id,
            device["device_code"].as_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(token["token_type"], "bearer");
    assert_eq!(token["expires_in"], "3600");
    assert_eq!(token["scope"], "item_read order_read");
    assert_eq!(token["merchant_id"], "DEMO");
    assert_eq!(token["has_access_token"], true);
    assert_eq!(token["has_refresh_token"], true);
}

#[tokio::test]
async fn the_official_python_sdk_completes_the_flow() {
    let Some(python) = python() else { return };
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let code = server.code_for(&client_id, &[]).await;
    let result = run_script(
        &python,
        "ultracart_sdk_flow.py",
        &[&server.api, &client_id, &code, REDIRECT_URI],
    )
    .await;
    assert_eq!(result["token_type"], "bearer");
    assert_eq!(result["expires_in"], "3600");
    assert_eq!(result["scope"], "item_read order_read");
    assert_eq!(result["merchant_id"], "DEMO");
    assert_eq!(result["refresh_rotated"], true);
    assert_eq!(result["access_rotated"], true);
    assert_eq!(result["me"]["merchant_id"], "DEMO");
    assert_eq!(result["me"]["merchant_name"], "Demo Company");
    assert_eq!(result["me"]["client_id"], client_id.as_str());
    assert_eq!(
        result["me"]["scopes"],
        serde_json::json!(["item_read", "order_read"])
    );
    assert_eq!(result["revoke"]["successful"], true);
    assert_eq!(result["revoke_again"]["successful"], false);
}
