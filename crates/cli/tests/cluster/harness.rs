//! Real `ucoauth serve` processes on loopback ports sharing one database, and an HTTP client
//! that plays the browser and the application against any of them.

use std::{
    path::PathBuf,
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use reqwest::{header, redirect::Policy, Client, Response, StatusCode};
use serde_json::Value;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};
use ucoauth_server::{
    admin,
    clock::{Clock, SystemClock},
    domain::{
        model::{Merchant, User},
        password,
        secret::{self, Pepper, Purpose},
    },
    store::{Store, StoreOptions},
};
pub use ucoauth_testkit::{
    html::{hidden_fields, location, query_param},
    Backend, PgCluster, TestDatabase,
};
use url::Url;

pub const REDIRECT_URI: &str = "https://app.example/callback";
pub const LOGIN: &str = "demo";
pub const PASSWORD: &str = "correct horse battery";
/// The issuer every node is configured with, as behind one load balancer. Never requested.
pub const PUBLIC_URL: &str = "http://ucoauth.test";

/// Runs `scenario` once per backend, as `<scenario>::sqlite` and `<scenario>::postgres`.
macro_rules! on_both_backends {
    ($scenario:ident) => {
        mod $scenario {
            use $crate::harness::Backend;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::harness::bounded(super::$scenario(Backend::Sqlite)).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::harness::bounded(super::$scenario(Backend::Postgres)).await;
            }
        }
    };
}
pub(crate) use on_both_backends;

/// Every scenario finishes within two minutes or fails.
pub async fn bounded(scenario: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(120), scenario)
        .await
        .expect("the scenario did not finish within 120 s");
}

/// How many nodes a scenario runs on `backend`: SQLite is embedded, one node per file;
/// PostgreSQL is where several nodes share the load.
pub fn node_count(backend: Backend) -> usize {
    match backend {
        Backend::Sqlite => 1,
        Backend::Postgres => 3,
    }
}

/// One database, the nodes serving it, and what was seeded into it.
pub struct Deployment {
    /// First, so the nodes are killed before the database is dropped (fields drop in order).
    pub nodes: Vec<Node>,
    pub db: TestDatabase,
    pub pepper: Pepper,
    /// A store opened by the test itself, for seeding and for looking at the outcome.
    pub store: Store,
    pub client_id: String,
    /// The DEMO merchant's user.
    pub user_id: String,
    /// Node logs.
    dir: tempfile::TempDir,
    /// Set when the scenario owns its PostgreSQL cluster (to stop and start it).
    pub cluster: Option<Arc<PgCluster>>,
}

impl Deployment {
    /// A fresh database on `backend` with the DEMO merchant (login `demo`) and one application.
    /// `None` when PostgreSQL tests are switched off (`UCOAUTH_TEST_POSTGRES=skip`).
    pub async fn new(backend: Backend) -> Option<Self> {
        let db = TestDatabase::create(backend).await?;
        Some(Self::on(db, None).await)
    }

    /// Like [`Deployment::new`] on PostgreSQL, but on a private cluster the scenario may stop
    /// and start.
    pub async fn on_private_cluster() -> Option<Self> {
        if ucoauth_testkit::postgres_skipped("a scenario that restarts PostgreSQL") {
            return None;
        }
        let cluster = Arc::new(tokio::task::spawn_blocking(PgCluster::start).await.unwrap());
        let db = TestDatabase::postgres_on(&cluster.admin_url(), Some(cluster.clone())).await;
        Some(Self::on(db, Some(cluster)).await)
    }

    async fn on(db: TestDatabase, cluster: Option<Arc<PgCluster>>) -> Self {
        let pepper = Pepper::generate();
        let store = Store::open(&db.url, StoreOptions::default())
            .await
            .expect("the test opens the database");
        let now = SystemClock.now();
        let user = admin::create_merchant(
            &store,
            admin::NewMerchant {
                merchant_id: "DEMO".into(),
                name: "Demo Company".into(),
                login: LOGIN.into(),
                password: PASSWORD.into(),
            },
            now,
        )
        .await
        .unwrap();
        let created = admin::create_application(
            &store,
            &pepper,
            admin::NewApplication {
                name: "Item Sync".into(),
                redirect_uris: vec![REDIRECT_URI.into()],
                scopes: vec!["item_read".into(), "order_read".into()],
                ..Default::default()
            },
            &ucoauth_server::domain::audit::Actor::operator(),
            now,
        )
        .await
        .unwrap();
        Self {
            nodes: Vec::new(),
            db,
            pepper,
            store,
            client_id: created.application.client_id,
            user_id: user.user_id,
            dir: tempfile::tempdir().unwrap(),
            cluster,
        }
    }

    /// Starts `count` more nodes with extra `serve` arguments.
    pub async fn start_nodes(&mut self, count: usize, extra: &[&str]) {
        for _ in 0..count {
            let index = self.nodes.len();
            let node = self.spawn_node(index, extra).await;
            self.nodes.push(node);
        }
    }

    async fn spawn_node(&self, index: usize, extra: &[&str]) -> Node {
        let log = self.dir.path().join(format!("node-{index}.log"));
        let mut node = Node::spawn(&self.db.url, &self.pepper, &log, extra).await;
        node.extra = extra.iter().map(|s| s.to_string()).collect();
        node
    }

    /// Kills node `index` with SIGKILL: no shutdown, no flushing, nothing.
    pub async fn kill_node(&mut self, index: usize) {
        let node = &mut self.nodes[index];
        node.child.start_kill().unwrap();
        node.child.wait().await.unwrap();
    }

    /// Starts node `index` again (on a new port), with the arguments it had.
    pub async fn restart_node(&mut self, index: usize) {
        let extra = self.nodes[index].extra.clone();
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        self.nodes[index] = self.spawn_node(index, &extra).await;
    }

    /// The last lines of every node's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            let text = std::fs::read_to_string(&node.log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            out.push_str(&format!(
                "--- {} ({})\n{tail}\n",
                node.base,
                node.log.display()
            ));
        }
        out
    }

    /// A signed-in browser session for the DEMO user, made the way sign-in makes one; returns
    /// the cookie value. Saves an argon2 verification per flow in the load scenarios.
    pub async fn session_for(&self, user_id: &str) -> String {
        let id = secret::new_token();
        let now = SystemClock.now();
        self.store
            .create_session(
                self.pepper.digest(Purpose::Session, &id),
                user_id.to_owned(),
                now,
                now + 3_600_000,
            )
            .await
            .unwrap();
        id
    }

    /// `count` merchants (`M0000`, ...) each with one user and one signed-in session; returns
    /// (merchant_id, session cookie) pairs. The users share one password hash, computed once.
    pub async fn seed_merchants(&self, count: usize) -> Vec<(String, String)> {
        let phc = tokio::task::spawn_blocking(|| password::hash(PASSWORD).unwrap())
            .await
            .unwrap();
        let now = SystemClock.now();
        let mut tasks = tokio::task::JoinSet::new();
        let mut seeded = Vec::with_capacity(count);
        for i in 0..count {
            let store = self.store.clone();
            let pepper = self.pepper.clone();
            let phc = phc.clone();
            tasks.spawn(async move {
                let merchant_id = format!("M{i:04}");
                store
                    .create_merchant(
                        Merchant {
                            merchant_id: merchant_id.clone(),
                            name: format!("Merchant {i}"),
                        },
                        now,
                    )
                    .await
                    .unwrap();
                let user_id = secret::new_id();
                store
                    .create_user(
                        User {
                            user_id: user_id.clone(),
                            merchant_id: merchant_id.clone(),
                            login: format!("user{i}"),
                        },
                        phc,
                        now,
                        ucoauth_server::domain::audit::Actor::operator(),
                    )
                    .await
                    .unwrap();
                let session = secret::new_token();
                store
                    .create_session(
                        pepper.digest(Purpose::Session, &session),
                        user_id,
                        now,
                        now + 3_600_000,
                    )
                    .await
                    .unwrap();
                (merchant_id, session)
            });
            if tasks.len() >= 50 {
                seeded.push(tasks.join_next().await.unwrap().unwrap());
            }
        }
        while let Some(done) = tasks.join_next().await {
            seeded.push(done.unwrap());
        }
        seeded
    }
}

/// One `ucoauth serve` process.
pub struct Node {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub pid: u32,
    child: Child,
    log: PathBuf,
    extra: Vec<String>,
}

impl Node {
    async fn spawn(database: &str, pepper: &Pepper, log: &PathBuf, extra: &[&str]) -> Self {
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_ucoauth"))
            .args(["serve", "--bind", "127.0.0.1:0", "--public-url", PUBLIC_URL])
            .args(["--database", database])
            .args(extra)
            // The pepper goes through the environment, never the command line.
            .env("UCOAUTH_PEPPER", pepper.to_hex())
            .env("UCOAUTH_LOG", "info")
            .env_remove("UCOAUTH_DATABASE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .kill_on_drop(true)
            .spawn()
            .expect("the ucoauth binary starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("node did not start within 30 s; see {}", log.display()))
            .unwrap()
            .unwrap_or_else(|| {
                panic!(
                    "node exited at start: {}",
                    std::fs::read_to_string(log).unwrap_or_default()
                )
            });
        // "ucoauth listening on http://127.0.0.1:PORT (public URL ..., profile ...)"
        let base = first
            .split_whitespace()
            .find(|w| w.starts_with("http://127.0.0.1:"))
            .unwrap_or_else(|| panic!("unexpected first line from ucoauth serve: {first}"))
            .to_owned();
        Self {
            base,
            pid: child.id().expect("a running child"),
            child,
            log: log.clone(),
            extra: Vec::new(),
        }
    }

    pub fn api(&self) -> String {
        format!("{}/rest/v2", self.base)
    }
}

/// An HTTP client without cookies, for the application side and for load.
pub fn client() -> Client {
    Client::builder()
        .redirect(Policy::none())
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(64)
        .build()
        .unwrap()
}

/// A browser: keeps cookies across nodes (cookies do not depend on the port).
pub fn browser() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A response that was not what the step expected.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// Which step of a flow; shown by `Debug` in failure messages.
    #[allow(dead_code)]
    pub step: &'static str,
    pub status: Option<StatusCode>,
    pub retry_after: Option<String>,
    pub uc_rest_error: bool,
    pub body: String,
}

impl Refusal {
    async fn from(step: &'static str, r: Response) -> Self {
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let retry_after = header("retry-after");
        let uc_rest_error = r.headers().contains_key("uc-rest-error");
        Self {
            step,
            status: Some(r.status()),
            retry_after,
            uc_rest_error,
            body: r.text().await.unwrap_or_default(),
        }
    }

    fn transport(step: &'static str, e: reqwest::Error) -> Self {
        Self {
            step,
            status: None,
            retry_after: None,
            uc_rest_error: false,
            body: e.to_string(),
        }
    }

    /// A 503 in UltraCart's `ErrorResponse` shape with `Retry-After`.
    pub fn is_shaped_503(&self) -> bool {
        let body: Value = serde_json::from_str(&self.body).unwrap_or_default();
        self.status == Some(StatusCode::SERVICE_UNAVAILABLE)
            && self.retry_after.is_some()
            && self.uc_rest_error
            && body["success"] == false
            && body["error"]["error_code"] == "503"
    }
}

/// The authorize parameters for the seeded application.
pub fn authorize_params<'a>(client_id: &'a str, state: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT_URI),
        ("state", state),
    ]
}

/// A code for `client_id`, from a browser already signed in with `session`: the consent page
/// from `page_node`, the approval posted to `post_node`.
pub async fn code_with_session(
    http: &Client,
    page_node: &Node,
    post_node: &Node,
    client_id: &str,
    session: &str,
) -> Result<String, Refusal> {
    let cookie = format!("ucoauth_session={session}");
    let page = http
        .get(format!("{}/oauth/authorize", page_node.api()))
        .query(&authorize_params(client_id, "st"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .map_err(|e| Refusal::transport("consent page", e))?;
    if page.status() != StatusCode::OK {
        return Err(Refusal::from("consent page", page).await);
    }
    let html = page
        .text()
        .await
        .map_err(|e| Refusal::transport("consent page", e))?;
    let mut form = hidden_fields(&html);
    form.push(("decision".into(), "approve".into()));
    let answer = http
        .post(format!("{}/oauth/authorize", post_node.api()))
        .header(header::COOKIE, &cookie)
        .form(&form)
        .send()
        .await
        .map_err(|e| Refusal::transport("approve", e))?;
    if answer.status() != StatusCode::SEE_OTHER {
        return Err(Refusal::from("approve", answer).await);
    }
    let back = Url::parse(&location(&answer)).expect("an absolute redirect");
    query_param(&back, "code").ok_or_else(|| Refusal {
        step: "approve",
        status: Some(StatusCode::SEE_OTHER),
        retry_after: None,
        uc_rest_error: false,
        body: format!("no code in {back}"),
    })
}

/// Exchanges a code at `node`; the token response on 200.
pub async fn exchange(
    http: &Client,
    node: &Node,
    client_id: &str,
    code: &str,
) -> Result<Value, Refusal> {
    token_request(
        http,
        node,
        "exchange",
        &[
            ("client_id", client_id),
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
        ],
    )
    .await
}

/// Refreshes at `node`; the token response on 200.
pub async fn refresh(
    http: &Client,
    node: &Node,
    client_id: &str,
    refresh_token: &str,
) -> Result<Value, Refusal> {
    token_request(
        http,
        node,
        "refresh",
        &[
            ("client_id", client_id),
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

async fn token_request(
    http: &Client,
    node: &Node,
    step: &'static str,
    form: &[(&str, &str)],
) -> Result<Value, Refusal> {
    let r = http
        .post(format!("{}/oauth/token", node.api()))
        .form(form)
        .send()
        .await
        .map_err(|e| Refusal::transport(step, e))?;
    if r.status() != StatusCode::OK {
        return Err(Refusal::from(step, r).await);
    }
    r.json().await.map_err(|e| Refusal::transport(step, e))
}

/// `GET /oauth/me` at `node`; the merchant id on 200.
pub async fn me(http: &Client, node: &Node, access_token: &str) -> Result<String, Refusal> {
    let r = http
        .get(format!("{}/oauth/me", node.api()))
        .bearer_auth(access_token)
        .send()
        .await
        .map_err(|e| Refusal::transport("me", e))?;
    if r.status() != StatusCode::OK {
        return Err(Refusal::from("me", r).await);
    }
    let body: Value = r.json().await.map_err(|e| Refusal::transport("me", e))?;
    Ok(body["merchant_id"].as_str().unwrap_or_default().to_owned())
}

/// `POST /oauth/revoke` at `node`; whether it answered `successful: true`.
pub async fn revoke(http: &Client, node: &Node, client_id: &str, token: &str) -> bool {
    let r = http
        .post(format!("{}/oauth/revoke", node.api()))
        .form(&[("client_id", client_id), ("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["successful"] == true
}

/// `GET /readyz` at `node`: its status, or `None` when the node did not answer.
pub async fn readyz(http: &Client, node: &Node) -> Option<StatusCode> {
    http.get(format!("{}/readyz", node.base))
        .send()
        .await
        .ok()
        .map(|r| r.status())
}

/// Polls `check` every 100 ms until it holds or `limit` passes; the time it took.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}
