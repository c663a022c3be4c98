//! `ucoauth connect`, `token` and `me` end to end: the real `ucoauth` binary against a real
//! `ucoauth serve` process (loopback port, temporary SQLite file, merchant and applications made
//! with `ucoauth merchant create` / `ucoauth app create`), with the browser played over HTTP by a
//! cookie-keeping client: sign-in form, consent form (or the `/device` verification page), and
//! the final 303 to the CLI's own loopback listener.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
    process::{Output, Stdio},
    time::Duration,
};

use reqwest::{header, redirect::Policy, Client, StatusCode};
use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader},
    process::{Child, Command},
};
use ucoauth_testkit::html::{hidden_fields, location};
use url::Url;

const BIN: &str = env!("CARGO_BIN_EXE_ucoauth");
const LOGIN: &str = "demo";
const PASSWORD: &str = "correct horse battery";
/// Bounds every wait, so a broken flow fails instead of hanging.
const LIMIT: Duration = Duration::from_secs(60);

/// Every test finishes within two minutes or fails.
async fn bounded(test: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(120), test)
        .await
        .expect("the test did not finish within 120 s");
}

/// A database with the DEMO merchant, made and served by the `ucoauth` binary.
struct Server {
    /// First, so the server is killed before its directory is removed.
    process: Option<Child>,
    base: String,
    api: String,
    dir: tempfile::TempDir,
}

impl Server {
    /// A fresh SQLite database with the DEMO merchant (login `demo`); not serving yet.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = Self {
            process: None,
            base: String::new(),
            api: String::new(),
            dir,
        };
        let out = server.admin(
            &[
                "merchant",
                "create",
                "--merchant-id",
                "DEMO",
                "--name",
                "Demo Company",
                "--login",
                LOGIN,
                "--password-stdin",
            ],
            &format!("{PASSWORD}\n"),
        );
        assert!(
            out.status.success(),
            "merchant create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        server
    }

    /// A management command on this server's database.
    fn admin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = std::process::Command::new(BIN)
            .env_clear()
            .env(
                "UCOAUTH_DATABASE",
                format!("sqlite://{}/ucoauth.db", self.dir.path().display()),
            )
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// Registers an application (`ucoauth app create`) with one redirect URI and the
    /// permissions item_read and order_read; returns its client_id.
    fn app(&self, name: &str, redirect_uri: &str) -> String {
        let out = self.admin(
            &[
                "app",
                "create",
                "--name",
                name,
                "--redirect-uri",
                redirect_uri,
                "--scope",
                "item_read",
                "--scope",
                "order_read",
                "--json",
            ],
            "",
        );
        assert!(
            out.status.success(),
            "app create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let created: Value = serde_json::from_slice(&out.stdout).unwrap();
        created["client_id"].as_str().unwrap().to_owned()
    }

    /// Starts `ucoauth serve` on a free loopback port and waits for its address.
    async fn serve(mut self) -> Self {
        let log = std::fs::File::create(self.dir.path().join("serve.log")).unwrap();
        let mut child = Command::new(BIN)
            .env_clear()
            .env(
                "UCOAUTH_DATABASE",
                format!("sqlite://{}/ucoauth.db", self.dir.path().display()),
            )
            .args(["serve", "--bind", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(LIMIT, stdout.next_line())
            .await
            .expect("the server printed its address in time")
            .unwrap()
            .unwrap_or_else(|| panic!("serve ended early:\n{}", self.log()));
        let base = first
            .strip_prefix("ucoauth listening on ")
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .to_owned();
        // Keep reading standard output so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
        self.api = format!("{base}/rest/v2");
        self.base = base;
        self.process = Some(child);
        self
    }

    /// The server's log so far, for failure messages.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    /// `GET /oauth/me` with `token`; the status and the body.
    async fn me(&self, token: &str) -> (StatusCode, Value) {
        let r = Client::new()
            .get(format!("{}/oauth/me", self.api))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// A browser: keeps cookies, does not follow redirects (each hop is checked).
    fn browser() -> Client {
        Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .build()
            .unwrap()
    }

    /// Fills and submits the sign-in page at `login_path` (relative to the server).
    async fn sign_in(&self, browser: &Client, login_path: &str) -> reqwest::Response {
        let page = browser
            .get(format!("{}{login_path}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK, "sign-in page");
        let mut form = hidden_fields(&page.text().await.unwrap());
        form.push(("login".into(), LOGIN.into()));
        form.push(("password".into(), PASSWORD.into()));
        browser
            .post(format!("{}/login", self.base))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// Plays the browser from the authorize URL to the redirect back to the application:
    /// sign in, then decide on the consent page. Returns the `Location` of the final 303.
    async fn play_browser(&self, authorize_url: &str, decision: &str) -> String {
        let browser = Self::browser();
        let first = browser
            .get(authorize_url)
            .header(header::ACCEPT, "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(first.status(), StatusCode::TEMPORARY_REDIRECT, "to sign-in");
        let login_path = location(&first);
        let return_to = Url::parse(&format!("{}{login_path}", self.base))
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "return_to")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        let signed_in = self.sign_in(&browser, &login_path).await;
        assert_eq!(signed_in.status(), StatusCode::SEE_OTHER, "signed in");
        let consent = browser
            .get(format!("{}{return_to}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(consent.status(), StatusCode::OK, "consent page");
        let mut form = hidden_fields(&consent.text().await.unwrap());
        form.push(("decision".into(), decision.into()));
        let decided = browser
            .post(format!("{}/oauth/authorize", self.api))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(decided.status(), StatusCode::SEE_OTHER, "back to the app");
        location(&decided)
    }

    /// Plays the person at the verification page: opens the link that carries the code,
    /// submits the code form, signs in, decides. Returns the final page's HTML.
    async fn play_device_page(&self, verification_uri_complete: &str, decision: &str) -> String {
        let browser = Self::browser();
        let entry = browser.get(verification_uri_complete).send().await.unwrap();
        assert_eq!(entry.status(), StatusCode::OK, "code entry page");
        // The code is pre-filled in the visible field; the form carries its CSRF token.
        let user_code = Url::parse(verification_uri_complete)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "user_code")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        let html = entry.text().await.unwrap();
        assert!(html.contains(&format!("value=\"{user_code}\"")), "{html}");
        let mut form = hidden_fields(&html);
        form.push(("user_code".into(), user_code));
        let entered = browser
            .post(format!("{}/device", self.base))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(entered.status(), StatusCode::SEE_OTHER, "on to sign-in");
        let signed_in = self.sign_in(&browser, &location(&entered)).await;
        assert_eq!(signed_in.status(), StatusCode::SEE_OTHER, "signed in");
        let consent = browser
            .get(format!("{}{}", self.base, location(&signed_in)))
            .send()
            .await
            .unwrap();
        assert_eq!(consent.status(), StatusCode::OK, "device consent page");
        let mut form = hidden_fields(&consent.text().await.unwrap());
        form.push(("decision".into(), decision.into()));
        let decided = browser
            .post(format!("{}/device/decision", self.base))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(decided.status(), StatusCode::SEE_OTHER, "decided");
        let done = browser
            .get(format!("{}{}", self.base, location(&decided)))
            .send()
            .await
            .unwrap();
        assert_eq!(done.status(), StatusCode::OK);
        done.text().await.unwrap()
    }
}

/// A port that was free a moment ago, for the redirect URI that must be registered in advance.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `ucoauth` binary with a clean environment (no inherited UCOAUTH_* settings, no
/// XDG_CONFIG_HOME, no display), run in `home`, with `home` as HOME.
fn ucoauth(home: &Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("HOME", home)
        .current_dir(home)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs a short `ucoauth` command to completion.
async fn run(home: &Path, args: &[&str]) -> Output {
    let output = tokio::time::timeout(LIMIT, ucoauth(home).args(args).output())
        .await
        .expect("the command finished in time")
        .unwrap();
    output
}

fn stdout_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// A running `ucoauth` command whose standard error is read as it comes.
struct Running {
    child: Child,
    stderr_head: String,
    /// Keeps draining standard error so the child never blocks on a full pipe.
    stderr_tail: tokio::task::JoinHandle<String>,
}

impl Running {
    /// Spawns `ucoauth ARGS` and reads standard error until `wanted` finds what it looks for in
    /// a line.
    async fn start<T>(
        home: &Path,
        args: &[&str],
        mut wanted: impl FnMut(&str) -> Option<T>,
    ) -> (Self, T) {
        let mut child = ucoauth(home).args(args).spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut stderr_head = String::new();
        let found = tokio::time::timeout(LIMIT, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                stderr_head.push_str(&line);
                stderr_head.push('\n');
                if let Some(found) = wanted(&line) {
                    return Some(found);
                }
            }
            None
        })
        .await
        .unwrap_or_else(|_| panic!("{args:?} printed nothing usable in time:\n{stderr_head}"));
        let found = found.unwrap_or_else(|| {
            panic!("{args:?} ended without printing what was expected; stderr:\n{stderr_head}")
        });
        let mut rest = lines.into_inner();
        let stderr_tail = tokio::spawn(async move {
            let mut text = String::new();
            let _ = rest.read_to_string(&mut text).await;
            text
        });
        (
            Self {
                child,
                stderr_head,
                stderr_tail,
            },
            found,
        )
    }

    /// Waits for the command to end; its exit status, stdout and whole stderr.
    async fn finish(mut self) -> (std::process::ExitStatus, String, String) {
        let mut stdout = String::new();
        let mut out = self.child.stdout.take().unwrap();
        let status = tokio::time::timeout(LIMIT, async {
            out.read_to_string(&mut stdout).await.unwrap();
            self.child.wait().await.unwrap()
        })
        .await
        .expect("the command finished in time");
        let tail = self.stderr_tail.await.unwrap();
        (status, stdout, format!("{}{tail}", self.stderr_head))
    }
}

/// `ucoauth connect` (browser flow, --json) waiting for the browser, and the authorize URL it
/// printed.
async fn start_connect(
    home: &Path,
    server: &Server,
    client_id: &str,
    port: u16,
    file: &Path,
    timeout_seconds: u64,
) -> (Running, String) {
    let (port, timeout, file) = (
        port.to_string(),
        timeout_seconds.to_string(),
        file.display().to_string(),
    );
    Running::start(
        home,
        &[
            "connect",
            "--base-url",
            &server.api,
            "--client-id",
            client_id,
            "--no-browser",
            "--redirect-port",
            &port,
            "--timeout",
            &timeout,
            "--json",
            "--token-file",
            &file,
        ],
        |line| {
            let at = line.find("http://")?;
            line.contains("/oauth/authorize?")
                .then(|| line[at..].trim().to_owned())
        },
    )
    .await
}

/// `ucoauth connect --device --json` waiting for the approval, and the verification link with
/// the code it printed.
async fn start_device_connect(
    home: &Path,
    server: &Server,
    client_id: &str,
    file: &Path,
) -> (Running, String) {
    let file = file.display().to_string();
    Running::start(
        home,
        &[
            "connect",
            "--device",
            "--base-url",
            &server.api,
            "--client-id",
            client_id,
            "--json",
            "--token-file",
            &file,
        ],
        |line| {
            let at = line.find("http://")?;
            line.contains("/device?user_code=")
                .then(|| line[at..].trim().to_owned())
        },
    )
    .await
}

fn token_file_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn saved_tokens(path: &Path) -> Vec<Value> {
    token_file_json(path)["connections"]
        .as_array()
        .unwrap()
        .clone()
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `--token-file FILE` as arguments.
fn file_args(file: &Path) -> [String; 2] {
    ["--token-file".into(), file.display().to_string()]
}

fn args<'a>(fixed: &[&'a str], file: &'a [String; 2]) -> Vec<&'a str> {
    let mut all = fixed.to_vec();
    all.extend(file.iter().map(String::as_str));
    all
}

/// Connect through the CLI and the played browser; returns connect's JSON output.
async fn connect_ok(
    home: &Path,
    server: &Server,
    client_id: &str,
    port: u16,
    file: &Path,
) -> Value {
    let (connecting, authorize_url) = start_connect(home, server, client_id, port, file, 60).await;
    // The URL the person is asked to open: this client, the loopback redirect URI, a fresh
    // state and a PKCE S256 challenge.
    let url = Url::parse(&authorize_url).unwrap();
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no {name} in {authorize_url}"))
    };
    assert!(authorize_url.starts_with(&format!("{}/oauth/authorize?", server.api)));
    assert_eq!(param("response_type"), "code");
    assert_eq!(param("client_id"), client_id);
    assert_eq!(
        param("redirect_uri"),
        format!("http://127.0.0.1:{port}/callback")
    );
    assert_eq!(param("code_challenge_method"), "S256");
    assert_eq!(param("code_challenge").len(), 43);
    assert!(param("state").len() >= 22);
    let back = server.play_browser(&authorize_url, "approve").await;
    let expected = format!("http://127.0.0.1:{port}/callback?");
    assert!(back.starts_with(&expected), "{back}");
    // The last hop: the browser follows the 303 to the CLI's listener.
    let page = Client::new().get(&back).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("You can close this window"), "{html}");
    assert!(html.contains("merchant DEMO"), "{html}");
    let (status, stdout, stderr) = connecting.finish().await;
    assert!(
        status.success(),
        "exit {status:?}\nstdout: {stdout}\nstderr: {stderr}\nserver log:\n{}",
        server.log()
    );
    // Off a terminal the progress indicator is one plain line.
    assert!(
        stderr.contains("Waiting for the browser to come back (up to "),
        "{stderr}"
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[tokio::test]
async fn connect_then_show_refresh_me_and_revoke() {
    bounded(connect_then_show_refresh_me_and_revoke_()).await;
}

async fn connect_then_show_refresh_me_and_revoke_() {
    let server = Server::new();
    let home = tempfile::tempdir().unwrap();
    let port = free_port();
    let client_id = server.app("Item Sync", &format!("http://127.0.0.1:{port}/callback"));
    let server = server.serve().await;
    let file: PathBuf = home.path().join("conf/tokens.json");
    let fa = file_args(&file);

    // connect: the authorize URL carries PKCE S256 and the loopback redirect URI.
    let connected = connect_ok(home.path(), &server, &client_id, port, &file).await;
    assert_eq!(connected["merchant_id"], "DEMO", "{connected}");
    assert_eq!(connected["merchant_name"], "Demo Company");
    assert_eq!(connected["application_name"], "Item Sync");
    assert_eq!(
        connected["scopes"],
        serde_json::json!(["item_read", "order_read"])
    );
    assert_eq!(connected["base_url"], server.api.as_str());
    assert_eq!(connected["access_token"], "[redacted; --reveal shows it]");
    assert!(!connected.to_string().contains("\"access_token\":\"\""));

    // The token file: 0600, holds tokens the server accepts, keyed by base URL + client_id.
    assert_eq!(mode(&file), 0o600);
    let saved = saved_tokens(&file);
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0]["base_url"], server.api.as_str());
    assert_eq!(saved[0]["client_id"], client_id.as_str());
    assert_eq!(saved[0]["tokens"]["merchant_id"], "DEMO");
    let access = saved[0]["tokens"]["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let refresh = saved[0]["tokens"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(access.len() >= 43 && refresh.len() >= 43);
    let (status, me) = server.me(&access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["merchant_id"], "DEMO");

    // token show: redacted by default, the real values with --reveal.
    let shown = stdout_json(&run(home.path(), &args(&["token", "show", "--json"], &fa)).await);
    assert_eq!(shown["merchant_id"], "DEMO");
    assert_eq!(shown["access_token"], "[redacted; --reveal shows it]");
    assert_eq!(shown["refresh_token"], "[redacted; --reveal shows it]");
    assert!(shown["expires_in"].as_u64().unwrap() > 3500);
    let text = run(home.path(), &args(&["token", "show"], &fa)).await;
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("DEMO") && !text.contains(&access), "{text}");
    let revealed = stdout_json(
        &run(
            home.path(),
            &args(&["token", "show", "--json", "--reveal"], &fa),
        )
        .await,
    );
    assert_eq!(revealed["access_token"], access.as_str());
    assert_eq!(revealed["refresh_token"], refresh.as_str());

    // token refresh: rotated, saved, and the saved tokens are the ones that work.
    let refreshed = stdout_json(
        &run(
            home.path(),
            &args(&["token", "refresh", "--json", "--reveal"], &fa),
        )
        .await,
    );
    let new_access = refreshed["access_token"].as_str().unwrap().to_owned();
    let new_refresh = refreshed["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(new_access, access);
    assert_ne!(new_refresh, refresh);
    let saved = saved_tokens(&file);
    assert_eq!(saved[0]["tokens"]["access_token"], new_access.as_str());
    assert_eq!(saved[0]["tokens"]["refresh_token"], new_refresh.as_str());
    assert_eq!(saved[0]["merchant_name"], "Demo Company", "names are kept");
    assert_eq!(mode(&file), 0o600);
    assert_eq!(server.me(&new_access).await.0, StatusCode::OK);

    // me, as JSON (UltraCart's OauthMeResponse) and as text.
    let me = stdout_json(&run(home.path(), &args(&["me", "--json"], &fa)).await);
    assert_eq!(me["merchant_id"], "DEMO");
    assert_eq!(me["merchant_name"], "Demo Company");
    assert_eq!(me["client_id"], client_id.as_str());
    let text = run(home.path(), &args(&["me"], &fa)).await;
    assert!(text.status.success());
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("merchant DEMO (Demo Company)"), "{text}");

    // An access token past its expiry: `me` refreshes first and saves the new set.
    let mut contents = token_file_json(&file);
    contents["connections"][0]["tokens"]["expires_at"] = Value::from(1_000_000_000u64);
    std::fs::write(&file, serde_json::to_vec(&contents).unwrap()).unwrap();
    let me = stdout_json(&run(home.path(), &args(&["me", "--json"], &fa)).await);
    assert_eq!(me["merchant_id"], "DEMO");
    let saved = saved_tokens(&file);
    let auto_access = saved[0]["tokens"]["access_token"].as_str().unwrap();
    assert_ne!(auto_access, new_access, "me refreshed the expired token");
    assert!(saved[0]["tokens"]["expires_at"].as_u64().unwrap() > 1_000_000_000);
    assert_eq!(server.me(auto_access).await.0, StatusCode::OK);
    let auto_access = auto_access.to_owned();

    // revoke: the grant ends at the server and the entry leaves the file.
    let revoked = stdout_json(&run(home.path(), &args(&["token", "revoke", "--json"], &fa)).await);
    assert_eq!(revoked["revoked"], true, "{revoked}");
    assert_eq!(revoked["removed"], true);
    assert_eq!(revoked["merchant_id"], "DEMO");
    assert!(saved_tokens(&file).is_empty());
    assert_eq!(server.me(&auto_access).await.0, StatusCode::UNAUTHORIZED);

    // Nothing saved any more: clear errors, non-zero exit.
    for command in [&["me"][..], &["token", "show"], &["token", "refresh"]] {
        let failed = run(home.path(), &args(command, &fa)).await;
        assert!(!failed.status.success(), "{command:?}");
        let stderr = String::from_utf8(failed.stderr).unwrap();
        assert!(
            stderr.starts_with("error: no saved connection in ")
                && stderr.contains("ucoauth connect"),
            "{command:?}: {stderr}"
        );
    }
}

#[tokio::test]
async fn several_connections_coexist_and_are_chosen_by_client_id() {
    bounded(several_connections_coexist_and_are_chosen_by_client_id_()).await;
}

async fn several_connections_coexist_and_are_chosen_by_client_id_() {
    let server = Server::new();
    let home = tempfile::tempdir().unwrap();
    let (port_a, port_b) = (free_port(), free_port());
    let app_a = server.app("App A", &format!("http://127.0.0.1:{port_a}/callback"));
    let app_b = server.app("App B", &format!("http://127.0.0.1:{port_b}/callback"));
    let server = server.serve().await;
    // The default location: $HOME/.config/ucoauth/tokens.json (no --token-file here).
    let file = home.path().join(".config/ucoauth/tokens.json");
    let a = connect_ok(home.path(), &server, &app_a, port_a, &file).await;
    let b = connect_ok(home.path(), &server, &app_b, port_b, &file).await;
    assert_eq!(a["application_name"], "App A");
    assert_eq!(b["application_name"], "App B");
    assert_eq!(saved_tokens(&file).len(), 2);
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(file.parent().unwrap()), 0o700);

    let ambiguous = run(home.path(), &["token", "show"]).await;
    assert!(!ambiguous.status.success());
    let stderr = String::from_utf8(ambiguous.stderr).unwrap();
    assert!(stderr.contains("2 saved connections match"), "{stderr}");
    assert!(
        stderr.contains(&app_a) && stderr.contains(&app_b),
        "{stderr}"
    );

    let me_b = stdout_json(&run(home.path(), &["me", "--json", "--client-id", &app_b]).await);
    assert_eq!(me_b["application_name"], "App B");
    let listed = stdout_json(&run(home.path(), &["token", "list", "--json"]).await);
    assert_eq!(listed.as_array().unwrap().len(), 2);

    // Revoking one leaves the other working.
    let revoked = stdout_json(
        &run(
            home.path(),
            &[
                "token",
                "revoke",
                "--json",
                "--client-id",
                &app_a,
                "--base-url",
                &server.base,
            ],
        )
        .await,
    );
    assert_eq!(revoked["revoked"], true);
    let left = saved_tokens(&file);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["client_id"], app_b.as_str());
    let me = stdout_json(&run(home.path(), &["me", "--json"]).await);
    assert_eq!(me["application_name"], "App B");
}

#[tokio::test]
async fn a_denied_authorization_is_an_error_and_saves_nothing() {
    bounded(async {
        let server = Server::new();
        let home = tempfile::tempdir().unwrap();
        let port = free_port();
        let client_id = server.app("Item Sync", &format!("http://127.0.0.1:{port}/callback"));
        let server = server.serve().await;
        denied(&server, home.path(), &client_id, port).await;
    })
    .await;
}

async fn denied(server: &Server, home: &Path, client_id: &str, port: u16) {
    let file = home.join("tokens.json");
    let (connecting, authorize_url) = start_connect(home, server, client_id, port, &file, 60).await;
    let back = server.play_browser(&authorize_url, "deny").await;
    assert!(back.contains("error=access_denied"), "{back}");
    let page = Client::new().get(&back).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    let html = page.text().await.unwrap();
    assert!(html.contains("access_denied") && html.contains("You can close this window"));
    let (status, stdout, stderr) = connecting.finish().await;
    assert!(!status.success());
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("error: the authorization was denied (access_denied)"),
        "{stderr}"
    );
    assert!(!file.exists() || saved_tokens(&file).is_empty());
}

#[tokio::test]
async fn an_unregistered_redirect_uri_is_reported_before_any_browser_is_involved() {
    bounded(an_unregistered_redirect_uri_is_reported_before_any_browser_is_involved_()).await;
}

async fn an_unregistered_redirect_uri_is_reported_before_any_browser_is_involved_() {
    let server = Server::new();
    let home = tempfile::tempdir().unwrap();
    let registered = free_port();
    let client_id = server.app(
        "Item Sync",
        &format!("http://127.0.0.1:{registered}/callback"),
    );
    let server = server.serve().await;
    let other = free_port();
    let file = home.path().join("tokens.json");
    let other_text = other.to_string();
    let failed = run(
        home.path(),
        &args(
            &[
                "connect",
                "--base-url",
                &server.api,
                "--client-id",
                &client_id,
                "--redirect-port",
                &other_text,
                "--no-browser",
            ],
            &file_args(&file),
        ),
    )
    .await;
    assert!(!failed.status.success());
    let stderr = String::from_utf8(failed.stderr).unwrap();
    assert!(
        stderr.contains("the server refused the authorization request")
            && stderr.contains(&format!(
                "Register the redirect URI http://127.0.0.1:{other}/callback"
            ))
            && stderr.contains("plain http is allowed on loopback"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("/oauth/authorize?"),
        "no URL to open: {stderr}"
    );

    // Without --redirect-port the message says how to pick a fixed one.
    let failed = run(
        home.path(),
        &args(
            &[
                "connect",
                "--base-url",
                &server.base,
                "--client-id",
                &client_id,
                "--no-browser",
            ],
            &file_args(&file),
        ),
    )
    .await;
    let stderr = String::from_utf8(failed.stderr).unwrap();
    assert!(!failed.status.success());
    assert!(stderr.contains("--redirect-port PORT"), "{stderr}");

    // An unknown client_id is reported the same way.
    let failed = run(
        home.path(),
        &args(
            &[
                "connect",
                "--base-url",
                &server.api,
                "--client-id",
                "nope",
                "--no-browser",
            ],
            &file_args(&file),
        ),
    )
    .await;
    let stderr = String::from_utf8(failed.stderr).unwrap();
    assert!(!failed.status.success());
    assert!(stderr.contains("not registered"), "{stderr}");
    assert!(!file.exists());
}

#[tokio::test]
async fn an_unreachable_server_and_a_bad_base_url_fail_with_one_line() {
    let home = tempfile::tempdir().unwrap();
    let dead = format!("http://127.0.0.1:{}/rest/v2", free_port());
    let file = file_args(&home.path().join("tokens.json"));
    let failed = run(
        home.path(),
        &args(
            &[
                "connect",
                "--base-url",
                &dead,
                "--client-id",
                "c",
                "--no-browser",
            ],
            &file,
        ),
    )
    .await;
    assert!(!failed.status.success());
    let stderr = String::from_utf8(failed.stderr).unwrap();
    assert!(
        stderr.starts_with("error: cannot reach the server"),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");

    let failed = run(
        home.path(),
        &args(
            &[
                "connect",
                "--base-url",
                "127.0.0.1:8080",
                "--client-id",
                "c",
            ],
            &file,
        ),
    )
    .await;
    assert!(!failed.status.success());
    let stderr = String::from_utf8(failed.stderr).unwrap();
    assert!(stderr.contains("is not a URL"), "{stderr}");
}

#[tokio::test]
async fn a_callback_with_the_wrong_state_is_refused_and_connect_ends_with_a_clear_error() {
    bounded(async {
        let server = Server::new();
        let home = tempfile::tempdir().unwrap();
        let port = free_port();
        let client_id = server.app("Item Sync", &format!("http://127.0.0.1:{port}/callback"));
        let server = server.serve().await;
        let file = home.path().join("tokens.json");
        let (connecting, authorize_url) =
            start_connect(home.path(), &server, &client_id, port, &file, 4).await;
        // A real code from a real approval, but delivered with another state (a stale tab, a
        // forged link): the listener refuses it and does not exchange the code.
        let back = server.play_browser(&authorize_url, "approve").await;
        let mut forged = Url::parse(&back).unwrap();
        let pairs: Vec<(String, String)> = forged
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "state" {
                    "not-the-state-connect-sent".to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        assert!(pairs.iter().any(|(k, _)| k == "code"), "{back}");
        forged.query_pairs_mut().clear().extend_pairs(pairs);
        let page = Client::new().get(forged).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::BAD_REQUEST);
        let html = page.text().await.unwrap();
        assert!(
            html.contains("the state does not match the sign-in this ucoauth connect started"),
            "{html}"
        );
        // The wait goes on for the real answer, which never comes here: a clear error, exit 1.
        let (status, stdout, stderr) = connecting.finish().await;
        assert_eq!(status.code(), Some(1), "{stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        assert!(
            stderr.contains("warning: ignored a request to the callback: the state does not match"),
            "{stderr}"
        );
        assert!(
            stderr.contains("error: no answer from the browser within 4 s (--timeout)"),
            "{stderr}"
        );
        assert!(!file.exists() || saved_tokens(&file).is_empty());
    })
    .await;
}

#[tokio::test]
async fn device_connect_is_approved_on_the_verification_page_then_used_and_revoked() {
    bounded(async {
        let server = Server::new();
        let home = tempfile::tempdir().unwrap();
        let client_id = server.app("Label Printer", "https://printer.example/callback");
        let server = server.serve().await;
        let file = home.path().join("tokens.json");
        let fa = file_args(&file);

        let (running, link) = start_device_connect(home.path(), &server, &client_id, &file).await;
        assert!(
            link.starts_with(&format!("{}/device?user_code=", server.base)),
            "{link}"
        );
        let done = server.play_device_page(&link, "approve").await;
        assert!(done.contains("Device connected"), "{done}");
        let (status, stdout, stderr) = running.finish().await;
        assert!(
            status.success(),
            "exit {status:?}\nstdout: {stdout}\nstderr: {stderr}\nserver log:\n{}",
            server.log()
        );
        // The code and the page to type it in, and the plain progress line (not a terminal:
        // no spinner, no QR code).
        let user_code = link.rsplit('=').next().unwrap();
        assert!(
            stderr.contains(&format!("To connect, open {}/device\n", server.base)),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!("and enter the code:  {user_code}")),
            "{stderr}"
        );
        assert!(
            stderr.contains("Waiting for the approval (up to "),
            "{stderr}"
        );
        assert!(!stderr.contains('▀') && !stderr.contains('\r'), "{stderr}");

        let connected: Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(connected["merchant_id"], "DEMO", "{connected}");
        assert_eq!(connected["application_name"], "Label Printer");
        assert_eq!(connected["client_id"], client_id.as_str());
        assert_eq!(connected["access_token"], "[redacted; --reveal shows it]");
        assert_eq!(mode(&file), 0o600);

        // The saved tokens work, refresh, identify and revoke like the browser flow's.
        let shown = stdout_json(
            &run(
                home.path(),
                &args(&["token", "show", "--json", "--reveal"], &fa),
            )
            .await,
        );
        let access = shown["access_token"].as_str().unwrap().to_owned();
        assert_eq!(server.me(&access).await.0, StatusCode::OK);
        let refreshed = stdout_json(
            &run(
                home.path(),
                &args(&["token", "refresh", "--json", "--reveal"], &fa),
            )
            .await,
        );
        let new_access = refreshed["access_token"].as_str().unwrap().to_owned();
        assert_ne!(new_access, access);
        let me = stdout_json(&run(home.path(), &args(&["me", "--json"], &fa)).await);
        assert_eq!(me["merchant_id"], "DEMO");
        assert_eq!(me["application_name"], "Label Printer");
        let revoked =
            stdout_json(&run(home.path(), &args(&["token", "revoke", "--json"], &fa)).await);
        assert_eq!(revoked["revoked"], true, "{revoked}");
        assert_eq!(server.me(&new_access).await.0, StatusCode::UNAUTHORIZED);
        assert!(saved_tokens(&file).is_empty());
        assert_eq!(mode(&file), 0o600);
    })
    .await;
}

#[tokio::test]
async fn device_connect_denied_on_the_verification_page_fails_and_saves_nothing() {
    bounded(async {
        let server = Server::new();
        let home = tempfile::tempdir().unwrap();
        let client_id = server.app("Label Printer", "https://printer.example/callback");
        let server = server.serve().await;
        let file = home.path().join("tokens.json");
        let (running, link) = start_device_connect(home.path(), &server, &client_id, &file).await;
        let done = server.play_device_page(&link, "deny").await;
        assert!(done.contains("Access denied"), "{done}");
        let (status, stdout, stderr) = running.finish().await;
        assert_eq!(status.code(), Some(1), "{stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        assert!(
            stderr.contains("error: the authorization was denied (access_denied)"),
            "{stderr}"
        );
        assert!(!file.exists() || saved_tokens(&file).is_empty());
    })
    .await;
}

#[tokio::test]
async fn client_commands_need_no_database_or_server_settings() {
    // A config file that does not exist would stop every server-side command; the client
    // commands never read it.
    let home = tempfile::tempdir().unwrap();
    let out = ucoauth(home.path())
        .env("UCOAUTH_CONFIG", home.path().join("missing.toml"))
        .args(["token", "list", "--json"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        serde_json::json!([])
    );
    assert!(!home.path().join("ucoauth.db").exists());
    let text = run(home.path(), &["token", "list"]).await;
    assert!(text.status.success());
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.starts_with("no saved connections in ")
            && text.contains(".config/ucoauth/tokens.json"),
        "{text}"
    );
}
