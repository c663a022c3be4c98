//! The `ucoauth` binary itself: layered settings, `config check`, `serve` picking up a config
//! file and stopping on SIGTERM, completions and help.

use std::{path::Path, process::Stdio, time::Duration};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_ucoauth");

/// The binary in `dir` with a clean environment (no UCOAUTH_* from the caller).
fn ucoauth(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(BIN);
    cmd.current_dir(dir).env_clear();
    cmd
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn check_json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn config_check_applies_flag_over_env_over_file_over_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "ucoauth.toml",
        r#"
        bind = "127.0.0.1:9000"
        profile = "strict"
        access_token_ttl = "30m"
        refresh_grace = 5
        public_url = "https://file.example.test"
        "#,
    );
    let out = ucoauth(dir.path())
        .env("UCOAUTH_CONFIG", &file)
        .env("UCOAUTH_ACCESS_TOKEN_TTL", "10m")
        .env("UCOAUTH_BIND", "127.0.0.1:9100")
        .args(["config", "check", "--json", "--bind", "127.0.0.1:9200"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = check_json(&out);
    assert_eq!(report["valid"], true);
    let s = &report["settings"];
    let is = |name: &str, value: &str, source: &str| {
        assert_eq!(s[name]["value"], value, "{name}: {s}");
        assert_eq!(s[name]["source"], source, "{name}: {s}");
    };
    is("bind", "127.0.0.1:9200", "flag");
    is("access_token_ttl", "10m", "env");
    is("profile", "strict", "file");
    is("refresh_grace", "5s", "file");
    is("public_url", "https://file.example.test/", "file");
    is("code_ttl", "1m", "default");
    is("database", "sqlite://ucoauth.db", "default");
    is("config_file", file.to_str().unwrap(), "env");
    // Checking created nothing.
    assert!(!dir.path().join("ucoauth.db").exists());
    assert!(!dir.path().join("ucoauth.db.pepper").exists());
}

#[test]
fn config_check_lists_every_problem_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "bad.toml",
        "profile = \"lenient\"\ncode_ttl = \"2h\"\ndatabase = \"mysql://x\"\n",
    );
    let out = ucoauth(dir.path())
        .args(["--config", file.to_str().unwrap(), "config", "check"])
        .args(["--refresh-grace", "soon"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "profile (file)",
        "code_ttl (file)",
        "database (file)",
        "refresh_grace (flag)",
        "4 problems",
    ] {
        assert!(stderr.contains(needle), "{needle} missing:\n{stderr}");
    }

    let typo = write(dir.path(), "typo.toml", "acess_token_ttl = \"1h\"\n");
    let out = ucoauth(dir.path())
        .args([
            "--config",
            typo.to_str().unwrap(),
            "config",
            "check",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report = check_json(&out);
    assert_eq!(report["valid"], false);
    assert!(report["problems"][0]
        .as_str()
        .unwrap()
        .contains("acess_token_ttl"));
}

#[test]
fn config_check_never_prints_a_pepper_and_warns_about_an_open_file() {
    let dir = tempfile::tempdir().unwrap();
    let pepper = "a1".repeat(32);
    let previous = "b2".repeat(32);
    let file = write(
        dir.path(),
        "secret.toml",
        &format!("pepper = \"{pepper}\"\ndatabase = \"postgres://u:hunter2@db.example/uc\"\n"),
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    for json in [false, true] {
        let mut cmd = ucoauth(dir.path());
        cmd.env("UCOAUTH_PREVIOUS_PEPPERS", &previous).args([
            "--config",
            file.to_str().unwrap(),
            "config",
            "check",
        ]);
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains(&pepper) && !all.contains(&previous) && !all.contains("hunter2"));
        assert!(all.contains("[redacted]"));
        #[cfg(unix)]
        assert!(all.contains("chmod 600"), "{all}");
    }
}

#[test]
fn config_check_shows_the_rate_limits_and_where_they_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "limits.toml",
        r#"
        login_per_ip_per_minute = 12
        token_per_client_per_second = 0
        device_verify_per_ip = "20/10m"
        "#,
    );
    let out = ucoauth(dir.path())
        .env("UCOAUTH_TOKEN_FAILURES_PER_IP_PER_MINUTE", "60")
        .args([
            "--config",
            file.to_str().unwrap(),
            "config",
            "check",
            "--json",
        ])
        .args(["--device-poll-per-ip", "100/1m"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = &check_json(&out)["settings"];
    let is = |name: &str, value: &str, source: &str| {
        assert_eq!(s[name]["value"], value, "{name}: {s}");
        assert_eq!(s[name]["source"], source, "{name}: {s}");
    };
    is("rate_limits", "on", "default");
    is("login_per_ip_per_minute", "12", "file");
    is("token_per_client_per_second", "0 (off)", "file");
    is("token_failures_per_ip_per_minute", "60", "env");
    is("login_failures_per_account_per_minute", "5", "default");
    is("device_verify_per_ip", "20/10m", "file");
    is("device_poll_per_ip", "100/1m", "flag");
    is("device_verify_per_session", "10/15m", "default");

    let out = ucoauth(dir.path())
        .args([
            "config",
            "check",
            "--no-rate-limits",
            "--device-authorize-per-ip",
            "many",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("device_authorize_per_ip (flag)"),
        "{stderr}"
    );
    let out = ucoauth(dir.path())
        .args(["config", "check", "--json", "--no-rate-limits"])
        .output()
        .unwrap();
    let s = &check_json(&out)["settings"];
    assert_eq!(s["rate_limits"]["source"], "flag", "{s}");
    assert!(s["rate_limits"]["value"]
        .as_str()
        .unwrap()
        .starts_with("off"));
}

#[tokio::test]
async fn serve_enforces_a_rate_limit_set_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "ucoauth.toml",
        "bind = \"127.0.0.1:0\"\ntoken_failures_per_ip_per_minute = 2\n",
    );
    let mut child = tokio::process::Command::new(BIN)
        .current_dir(dir.path())
        .env_clear()
        .args(["--config", file.to_str().unwrap(), "serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), stdout.next_line())
        .await
        .expect("the server prints its address")
        .unwrap()
        .unwrap();
    let addr = first
        .strip_prefix("ucoauth listening on ")
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_owned();
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = client
            .post(format!("{addr}/rest/v2/oauth/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("client_id", "nobody"),
                ("code", "x"),
            ])
            .send()
            .await
            .unwrap();
        statuses.push((r.status().as_u16(), r.headers().contains_key("retry-after")));
    }
    // The file allows two failures a minute from one address; the third request is refused.
    assert!(statuses[0].0 != 429 && statuses[1].0 != 429, "{statuses:?}");
    assert_eq!(statuses[2], (429, true), "{statuses:?}");
    child.kill().await.unwrap();
}

#[tokio::test]
async fn serve_takes_its_settings_from_the_file_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "ucoauth.toml",
        r#"
        bind = "127.0.0.1:0"
        profile = "strict"
        public_url = "https://file.example.test"
        log_format = "json"
        "#,
    );
    let mut child = tokio::process::Command::new(BIN)
        .current_dir(dir.path())
        .env_clear()
        .env("UCOAUTH_PUBLIC_URL", "https://env.example.test")
        .args(["--config", file.to_str().unwrap(), "serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), stdout.next_line())
        .await
        .expect("the server prints its address")
        .unwrap()
        .unwrap();
    let addr = first
        .strip_prefix("ucoauth listening on ")
        .and_then(|r| r.split(' ').next())
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_owned();

    let metadata: Value = reqwest::get(format!("{addr}/.well-known/oauth-authorization-server"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The environment overrides the file; the file overrides the default.
    assert_eq!(metadata["issuer"], "https://env.example.test");
    assert_eq!(
        metadata["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );

    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the server stops after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status:?}");
    let mut stderr = String::new();
    use tokio::io::AsyncReadExt;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    // --log-format json from the file: every log line is a JSON object.
    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let messages: Vec<&str> = lines
        .iter()
        .filter_map(|v| v["fields"]["message"].as_str())
        .collect();
    assert!(messages.contains(&"listening"), "{messages:?}");
    assert!(messages.contains(&"stopped"), "{messages:?}");
}

#[test]
fn completions_are_printed_for_each_shell() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = ucoauth(dir.path())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.len() > 1000, "{shell}: {} bytes", script.len());
        for word in ["ucoauth", "serve", "resource-server", "previous-pepper"] {
            assert!(script.contains(word), "{shell} script lacks {word}");
        }
    }
    let out = ucoauth(dir.path())
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn every_command_has_a_long_help_with_examples() {
    let dir = tempfile::tempdir().unwrap();
    let commands: &[&[&str]] = &[
        &[],
        &["serve"],
        &["merchant", "create"],
        &["app", "create"],
        &["app", "list"],
        &["app", "show"],
        &["app", "update"],
        &["app", "rotate-secret"],
        &["app", "delete"],
        &["app", "resource-server"],
        &["audit"],
        &["janitor"],
        &["grant", "list"],
        &["grant", "revoke"],
        &["key", "create"],
        &["key", "list"],
        &["key", "revoke"],
        &["user", "add"],
        &["user", "list"],
        &["user", "remove"],
        &["user", "passwd"],
        &["config", "check"],
        &["completions"],
        &["connect"],
        &["token"],
        &["token", "show"],
        &["token", "refresh"],
        &["token", "revoke"],
        &["token", "list"],
        &["me"],
    ];
    for command in commands {
        let out = ucoauth(dir.path())
            .args(*command)
            .arg("--help")
            .output()
            .unwrap();
        assert!(out.status.success(), "{command:?}");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            help.contains("EXAMPLES"),
            "{command:?} --help has no examples:\n{help}"
        );
        assert!(help.contains("Usage: ucoauth"), "{command:?}");
    }
}
