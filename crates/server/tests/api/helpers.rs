//! The test harness: start a server, seed it, and play the browser.

use std::{
    io::Write,
    sync::{Arc, Mutex, OnceLock},
};

use reqwest::{header, redirect::Policy, Client, Response, StatusCode};
use serde_json::Value;
use ucoauth_server::{
    admin::{self, NewApplication},
    clock::{Clock, MockClock},
    config::ServerConfig,
    domain::{profile::Profile, secret::Pepper},
    store::{Store, StoreOptions},
    AppState,
};
pub use ucoauth_testkit::html::{hidden_fields, hidden_value, location, query_param, unescape};
use ucoauth_testkit::TestDatabase;
use url::Url;

pub const LOGIN: &str = "demo";
pub const PASSWORD: &str = "correct horse battery";
pub const REDIRECT_URI: &str = "https://app.example/callback";

/// Everything the server logged in this process, at trace level.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap()).into_owned()
}

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || LogWriter(sink.clone()))
            .try_init();
        buffer
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A running server with its own fresh database and a clock the test controls. The backend is
/// SQLite unless `UCOAUTH_TEST_BACKEND=postgres` (see `ucoauth_testkit`): the same tests run
/// against both.
pub struct TestServer {
    pub base: String,
    pub api: String,
    pub clock: MockClock,
    pub store: Store,
    pub pepper: Pepper,
    /// Dropped after the server (field order): on PostgreSQL, dropping it drops the database.
    pub db: TestDatabase,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut ServerConfig)) -> Self {
        log_buffer();
        let db = TestDatabase::from_env().await;
        let store = Store::open(&db.url, StoreOptions::default()).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let pepper = Pepper::generate();
        let mut config = ServerConfig::new(Url::parse(&base).unwrap(), pepper.clone());
        adjust(&mut config);
        let clock = MockClock::new();
        let state = AppState::new(store.clone(), config, Arc::new(clock.clone()));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(ucoauth_server::serve(listener, state, async {
            let _ = rx.await;
        }));
        let server = Self {
            api: format!("{base}/rest/v2"),
            base,
            clock,
            store,
            pepper,
            db,
            shutdown: Some(tx),
        };
        server
            .seed_merchant("DEMO", "Demo Company", LOGIN, PASSWORD)
            .await;
        server
    }

    /// The server's current time.
    pub fn clock_now(&self) -> i64 {
        self.clock.now()
    }

    /// The value of the metrics sample `series` (name and labels, exactly); 0 when absent.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = self
            .client()
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|v| v.split(' ').next()?.parse().ok())
            .unwrap_or(0.0)
    }

    pub async fn seed_merchant(&self, id: &str, name: &str, login: &str, password: &str) {
        admin::create_merchant(
            &self.store,
            admin::NewMerchant {
                merchant_id: id.into(),
                name: name.into(),
                login: login.into(),
                password: password.into(),
            },
            self.clock.now(),
        )
        .await
        .unwrap();
    }

    /// Registers an application; returns (client_id, client_secret).
    pub async fn app(&self, adjust: impl FnOnce(&mut NewApplication)) -> (String, String) {
        let mut input = NewApplication {
            name: "Item Sync".into(),
            description: "Keeps items in sync.".into(),
            developer_name: "Acme Dev".into(),
            developer_email: "dev@acme.example".into(),
            developer_url: "https://acme.example".into(),
            redirect_uris: vec![REDIRECT_URI.into()],
            scopes: vec!["item_read".into(), "order_read".into()],
            ..Default::default()
        };
        adjust(&mut input);
        let created = admin::create_application(
            &self.store,
            &self.pepper,
            input,
            &ucoauth_server::domain::audit::Actor::operator(),
            self.clock.now(),
        )
        .await
        .unwrap();
        (created.application.client_id, created.client_secret)
    }

    /// A browser: keeps cookies, does not follow redirects (tests look at each hop).
    pub fn browser(&self) -> Client {
        Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .build()
            .unwrap()
    }

    /// An API client without cookies.
    pub fn client(&self) -> Client {
        Client::builder().redirect(Policy::none()).build().unwrap()
    }

    pub fn authorize_url(&self, params: &[(&str, &str)]) -> String {
        Url::parse_with_params(&format!("{}/oauth/authorize", self.api), params)
            .unwrap()
            .to_string()
    }

    /// Signs `browser` in through the login form.
    pub async fn sign_in(&self, browser: &Client, return_to: &str) -> Response {
        let page = browser
            .get(format!("{}/login", self.base))
            .query(&[("return_to", return_to)])
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        let csrf = hidden_value(&html, "csrf_token");
        browser
            .post(format!("{}/login", self.base))
            .form(&[
                ("login", LOGIN),
                ("password", PASSWORD),
                ("csrf_token", csrf.as_str()),
                ("return_to", return_to),
            ])
            .send()
            .await
            .unwrap()
    }

    /// Runs the browser side of the code flow (authorize → login → consent → decision) and
    /// returns the redirect back to the application.
    pub async fn consent(&self, browser: &Client, params: &[(&str, &str)], decision: &str) -> Url {
        self.consent_at(browser, &self.authorize_url(params), decision)
            .await
    }

    /// [`Self::consent`] from a ready authorize URL (e.g. one an SDK built).
    pub async fn consent_at(&self, browser: &Client, authorize_url: &str, decision: &str) -> Url {
        let first = browser.get(authorize_url).send().await.unwrap();
        let consent_html = if first.status() == StatusCode::TEMPORARY_REDIRECT {
            let login = location(&first);
            let return_to = Url::parse(&format!("{}{login}", self.base))
                .unwrap()
                .query_pairs()
                .find(|(k, _)| k == "return_to")
                .map(|(_, v)| v.into_owned())
                .unwrap();
            let signed_in = self.sign_in(browser, &return_to).await;
            assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
            assert_eq!(location(&signed_in), return_to);
            let page = browser
                .get(format!("{}{return_to}", self.base))
                .send()
                .await
                .unwrap();
            assert_eq!(page.status(), StatusCode::OK);
            page.text().await.unwrap()
        } else {
            assert_eq!(
                first.status(),
                StatusCode::OK,
                "authorize should show consent"
            );
            first.text().await.unwrap()
        };
        let answer = self.decide(browser, &consent_html, decision).await;
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        Url::parse(&location(&answer)).unwrap()
    }

    /// Submits the consent form found in `html` with `decision`.
    pub async fn decide(&self, browser: &Client, html: &str, decision: &str) -> Response {
        let mut form = hidden_fields(html);
        form.push(("decision".into(), decision.into()));
        browser
            .post(format!("{}/oauth/authorize", self.api))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// The whole browser flow for `client_id`; returns the authorization code.
    pub async fn code_for(&self, client_id: &str, extra: &[(&str, &str)]) -> String {
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT_URI),
            ("state", "st-1"),
        ];
        params.extend_from_slice(extra);
        let back = self.consent(&self.browser(), &params, "approve").await;
        query_param(&back, "code").expect("the redirect carries a code")
    }

    /// POSTs a form to an API path (e.g. `/oauth/token`).
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.client()
            .post(format!("{}{path}", self.api))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Exchanges a code; returns the response body (asserting 200).
    pub async fn exchange(&self, client_id: &str, code: &str) -> Value {
        let r = self
            .post_form(
                "/oauth/token",
                &[
                    ("client_id", client_id),
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", REDIRECT_URI),
                ],
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    pub async fn refresh(&self, client_id: &str, refresh_token: &str) -> Response {
        self.post_form(
            "/oauth/token",
            &[
                ("client_id", client_id),
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .await
    }

    pub async fn me(&self, access_token: &str) -> Response {
        self.client()
            .get(format!("{}/oauth/me", self.api))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap()
    }

    /// Registers an application with the resource-server permission; returns its credentials.
    pub async fn resource_server(&self) -> (String, String) {
        let (id, secret) = self
            .app(|a| {
                a.name = "Item API".into();
                a.scopes = vec!["item_read".into()];
            })
            .await;
        assert!(self
            .store
            .set_resource_server(id.clone(), true, self.clock.now())
            .await
            .unwrap());
        (id, secret)
    }

    /// `POST /oauth/introspect` as `caller` (HTTP Basic) for `token`.
    pub async fn introspect(&self, caller: &(String, String), token: &str) -> Response {
        self.client()
            .post(format!("{}/oauth/introspect", self.api))
            .basic_auth(&caller.0, Some(&caller.1))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap()
    }

    /// A token pair from the whole flow.
    pub async fn tokens(&self, client_id: &str) -> (String, String) {
        let code = self.code_for(client_id, &[]).await;
        let body = self.exchange(client_id, &code).await;
        (
            body["access_token"].as_str().unwrap().to_owned(),
            body["refresh_token"].as_str().unwrap().to_owned(),
        )
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Asserts an `ErrorResponse` with `status`, its `error_code`, and a `UC-REST-ERROR` header.
pub async fn assert_error_response(r: Response, status: StatusCode) -> Value {
    assert_eq!(r.status(), status);
    assert!(
        r.headers().contains_key("uc-rest-error"),
        "UC-REST-ERROR missing"
    );
    assert_eq!(
        r.headers()[header::CONTENT_TYPE].to_str().unwrap(),
        "application/json"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(
        body["error"]["error_code"],
        status.as_u16().to_string(),
        "{body}"
    );
    assert!(body["error"]["developer_message"].is_string(), "{body}");
    assert!(body["error"]["user_message"].is_string(), "{body}");
    assert_no_nulls(&body);
    body
}

/// Asserts a token-endpoint OAuth error with `status` and `code`, and `UC-REST-ERROR`.
pub async fn assert_oauth_error(r: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(r.status(), status);
    let header = r
        .headers()
        .get("uc-rest-error")
        .expect("UC-REST-ERROR missing")
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    assert_eq!(body["error_description"], header.as_str());
    assert!(body.get("access_token").is_none());
    assert_no_nulls(&body);
    body
}

pub fn assert_no_nulls(v: &Value) {
    match v {
        Value::Null => panic!("JSON null in a response"),
        Value::Array(a) => a.iter().for_each(assert_no_nulls),
        Value::Object(o) => o.values().for_each(assert_no_nulls),
        _ => {}
    }
}

/// Profile override shorthand for `TestServer::start_with`.
pub fn strict(config: &mut ServerConfig) {
    config.profile = Profile::Strict;
}

impl TestServer {
    /// A browser signed in as `login` (through the login form).
    pub async fn signed_in_as(&self, login: &str, password: &str) -> Client {
        let browser = self.browser();
        let page = browser
            .get(format!("{}/login", self.base))
            .send()
            .await
            .unwrap();
        let csrf = hidden_value(&page.text().await.unwrap(), "csrf_token");
        let r = browser
            .post(format!("{}/login", self.base))
            .form(&[
                ("login", login),
                ("password", password),
                ("csrf_token", csrf.as_str()),
                ("return_to", "/"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "sign-in as {login}");
        browser
    }

    /// A browser signed in as the seeded merchant user.
    pub async fn back_office(&self) -> Client {
        self.signed_in_as(LOGIN, PASSWORD).await
    }

    /// GETs a page; returns its status and HTML.
    pub async fn page(&self, browser: &Client, path: &str) -> (StatusCode, String) {
        let r = browser
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// POSTs a back-office form with the CSRF token found on `from` (a page path).
    pub async fn submit(
        &self,
        browser: &Client,
        from: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> Response {
        let (status, html) = self.page(browser, from).await;
        assert_eq!(status, StatusCode::OK, "{from}: {html}");
        let csrf = hidden_value(&html, "csrf_token");
        let mut form: Vec<(&str, &str)> = vec![("csrf_token", csrf.as_str())];
        form.extend_from_slice(fields);
        browser
            .post(format!("{}{action}", self.base))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// A simple key for `merchant_id` with `scopes`, made through the shared admin code.
    pub async fn simple_key(&self, merchant_id: &str, scopes: &[&str]) -> String {
        admin::create_key(
            &self.store,
            &self.pepper,
            admin::NewKey {
                merchant_id: merchant_id.into(),
                name: "test key".into(),
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                created_by: None,
            },
            None,
            &ucoauth_server::domain::audit::Actor::operator(),
            self.clock.now(),
        )
        .await
        .unwrap()
        .secret
    }
}

/// The text inside the element with `id` (up to its first closing tag), unescaped.
pub fn element_text(html: &str, id: &str) -> Option<String> {
    let start = html.find(&format!("id=\"{id}\""))?;
    let open_end = start + html[start..].find('>')? + 1;
    let close = open_end + html[open_end..].find("</")?;
    Some(unescape(&html[open_end..close]))
}

impl TestServer {
    /// Adds a user to an existing merchant.
    pub async fn seed_merchant_user(&self, merchant_id: &str, login: &str, password: &str) {
        admin::add_user(
            &self.store,
            &ucoauth_server::domain::audit::Actor::operator(),
            merchant_id,
            login,
            password.into(),
            self.clock.now(),
        )
        .await
        .unwrap();
    }
}
