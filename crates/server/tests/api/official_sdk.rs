//! UltraCart's official Python SDK (`ultracart-rest-sdk` from PyPI), pointed at our base URL,
//! exchanges a code, refreshes, calls `oauth_me` and revokes without any error.
//!
//! `.ci/run` installs the SDK into a virtualenv and sets `UCOAUTH_TEST_PYTHON` to its
//! interpreter. Without that variable the test is skipped locally, and fails under CI.

use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn the_official_python_sdk_completes_the_flow() {
    let Some(python) = std::env::var_os("UCOAUTH_TEST_PYTHON") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "UCOAUTH_TEST_PYTHON must point at a Python with ultracart-rest-sdk under CI"
        );
        eprintln!("skipped: set UCOAUTH_TEST_PYTHON to a Python with ultracart-rest-sdk installed");
        return;
    };
    let server = TestServer::start().await;
    let (client_id, _) = server.app(|_| {}).await;
    let code = server.code_for(&client_id, &[]).await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/ultracart_sdk_flow.py"
    );
    let output = tokio::process::Command::new(python)
        .arg(script)
        .arg(&server.api)
        .arg(&client_id)
        .arg(&code)
        .arg(REDIRECT_URI)
        .output()
        .await
        .expect("run the Python SDK script");
    assert!(
        output.status.success(),
        "the official SDK failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_slice(&output.stdout).unwrap();
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
