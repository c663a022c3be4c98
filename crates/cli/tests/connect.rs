//! `ucoauth connect`, `token` and `me` end to end: the real `ucoauth` binary against the real
//! server (in this process, on a loopback port, with a temporary SQLite file), with the browser
//! played over HTTP: sign-in form, consent form, and the final 303 to the CLI's own listener.

use std::{
    path::{Path, PathBuf},
    process::{Output, Stdio},
    sync::Arc,
    time::Duration,
};

use reqwest::{header, redirect::Policy, Client, StatusCode};
use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt as _, AsyncReadExt as _, BufReader},
    process::{Child, Command},
};
use ucoauth_server::{
    admin::{self, NewApplication},
    clock::{Clock as _, SystemClock},
    config::ServerConfig,
    domain::secret::Pepper,
    store::{Store, StoreOptions},
    AppState,
};
use url::Url;

const LOGIN: &str = "demo";
const PASSWORD: &str = "correct horse battery";
/// Bounds every wait, so a broken flow fails instead of hanging.
const LIMIT: Duration = Duration::from_secs(60);

struct Server {
    base: String,
    api: String,
    store: Store,
    pepper: Pepper,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("ucoauth.db").display());
        let store = Store::open(&url, StoreOptions::default()).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let pepper = Pepper::generate();
        let config = ServerConfig::new(Url::parse(&base).unwrap(), pepper.clone());
        let state = AppState::new(store.clone(), config, Arc::new(SystemClock));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(ucoauth_server::serve(listener, state, async {
            let _ = rx.await;
        }));
        admin::create_merchant(
            &store,
            admin::NewMerchant {
                merchant_id: "DEMO".into(),
                name: "Demo Company".into(),
                login: LOGIN.into(),
                password: PASSWORD.into(),
            },
            SystemClock.now(),
        )
        .await
        .unwrap();
        Self {
            api: format!("{base}/rest/v2"),
            base,
            store,
            pepper,
            shutdown: Some(tx),
            _dir: dir,
        }
    }

    /// Registers an application with the one redirect URI; returns its client_id.
    async fn app(&self, name: &str, redirect_uri: &str) -> String {
        let created = admin::create_application(
            &self.store,
            &self.pepper,
            NewApplication {
                name: name.into(),
                redirect_uris: vec![redirect_uri.into()],
                scopes: vec!["item_read".into(), "order_read".into()],
                ..Default::default()
            },
            SystemClock.now(),
        )
        .await
        .unwrap();
        created.application.client_id
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

    /// Plays the browser from the authorize URL to the redirect back to the application:
    /// sign in, then decide on the consent page. Returns the `Location` of the final 303.
    async fn play_browser(&self, authorize_url: &str, decision: &str) -> String {
        let browser = Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .build()
            .unwrap();
        let first = browser
            .get(authorize_url)
            .header(header::ACCEPT, "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(first.status(), StatusCode::TEMPORARY_REDIRECT, "to sign-in");
        let login_url = format!("{}{}", self.base, location(&first));
        let return_to = Url::parse(&login_url)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "return_to")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        let login_page = browser.get(&login_url).send().await.unwrap();
        assert_eq!(login_page.status(), StatusCode::OK);
        let mut form = hidden_fields(&login_page.text().await.unwrap());
        form.push(("login".into(), LOGIN.into()));
        form.push(("password".into(), PASSWORD.into()));
        let signed_in = browser
            .post(format!("{}/login", self.base))
            .form(&form)
            .send()
            .await
            .unwrap();
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
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn location(r: &reqwest::Response) -> String {
    r.headers()[header::LOCATION].to_str().unwrap().to_owned()
}

/// Every `<input type="hidden" name=".." value="..">` in `html` (values here need no unescaping
/// beyond `&amp;`, `&#x2F;`-free tokens and paths).
fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\"")
        .skip(1)
        .filter_map(|rest| {
            let tag = &rest[..rest.find('>')?];
            let attr = |name: &str| {
                let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
                let end = start + tag[start..].find('"')?;
                Some(
                    tag[start..end]
                        .replace("&#38;", "&")
                        .replace("&amp;", "&")
                        .replace("&#61;", "=")
                        .replace("&#34;", "\"")
                        .replace("&quot;", "\""),
                )
            };
            Some((attr("name")?, attr("value").unwrap_or_default()))
        })
        .collect()
}

/// A port that was free a moment ago, for the redirect URI that must be registered in advance.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `ucoauth` binary with a clean environment: no inherited UCOAUTH_* settings, no display.
fn ucoauth(home: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ucoauth"));
    for name in [
        "UCOAUTH_BASE_URL",
        "UCOAUTH_CLIENT_ID",
        "UCOAUTH_CLIENT_SECRET",
        "UCOAUTH_TOKEN_FILE",
        "XDG_CONFIG_HOME",
        "DISPLAY",
        "WAYLAND_DISPLAY",
    ] {
        command.env_remove(name);
    }
    command
        .env("HOME", home)
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

/// A running `ucoauth connect` whose authorize URL has been read from standard error.
struct Connecting {
    child: Child,
    authorize_url: String,
    stderr_head: String,
    /// Keeps draining standard error so the child never blocks on a full pipe.
    stderr_tail: tokio::task::JoinHandle<String>,
}

impl Connecting {
    async fn start(home: &Path, server: &Server, client_id: &str, port: u16, file: &Path) -> Self {
        let port = port.to_string();
        let mut child = ucoauth(home)
            .args([
                "connect",
                "--base-url",
                &server.api,
                "--client-id",
                client_id,
                "--no-browser",
                "--redirect-port",
                &port,
                "--timeout",
                "60",
                "--json",
                "--token-file",
            ])
            .arg(file)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut stderr_head = String::new();
        let authorize_url = tokio::time::timeout(LIMIT, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                stderr_head.push_str(&line);
                stderr_head.push('\n');
                if let Some(at) = line.find("http://") {
                    if line.contains("/oauth/authorize?") {
                        return Some(line[at..].trim().to_owned());
                    }
                }
            }
            None
        })
        .await
        .expect("the authorize URL was printed in time");
        let authorize_url = authorize_url.unwrap_or_else(|| {
            panic!("connect ended without printing an authorize URL; stderr:\n{stderr_head}")
        });
        let mut rest = lines.into_inner();
        let stderr_tail = tokio::spawn(async move {
            let mut text = String::new();
            let _ = rest.read_to_string(&mut text).await;
            text
        });
        Self {
            child,
            authorize_url,
            stderr_head,
            stderr_tail,
        }
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
        .expect("connect finished in time");
        let tail = self.stderr_tail.await.unwrap();
        (status, stdout, format!("{}{tail}", self.stderr_head))
    }
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
    let connecting = Connecting::start(home, server, client_id, port, file).await;
    let back = server
        .play_browser(&connecting.authorize_url, "approve")
        .await;
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
        "exit {status:?}\nstdout: {stdout}\nstderr: {stderr}"
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[tokio::test]
async fn connect_then_show_refresh_me_and_revoke() {
    let server = Server::start().await;
    let home = tempfile::tempdir().unwrap();
    let port = free_port();
    let client_id = server
        .app("Item Sync", &format!("http://127.0.0.1:{port}/callback"))
        .await;
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
    let server = Server::start().await;
    let home = tempfile::tempdir().unwrap();
    let (port_a, port_b) = (free_port(), free_port());
    let app_a = server
        .app("App A", &format!("http://127.0.0.1:{port_a}/callback"))
        .await;
    let app_b = server
        .app("App B", &format!("http://127.0.0.1:{port_b}/callback"))
        .await;
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
    let server = Server::start().await;
    let home = tempfile::tempdir().unwrap();
    let port = free_port();
    let client_id = server
        .app("Item Sync", &format!("http://127.0.0.1:{port}/callback"))
        .await;
    let file = home.path().join("tokens.json");
    let connecting = Connecting::start(home.path(), &server, &client_id, port, &file).await;
    let back = server.play_browser(&connecting.authorize_url, "deny").await;
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
    let server = Server::start().await;
    let home = tempfile::tempdir().unwrap();
    let registered = free_port();
    let client_id = server
        .app(
            "Item Sync",
            &format!("http://127.0.0.1:{registered}/callback"),
        )
        .await;
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
