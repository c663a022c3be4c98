//! A small W3C WebDriver client over reqwest, enough to drive Debian's headless Chromium
//! through `chromedriver`: start the driver on a free loopback port, open a session, navigate,
//! find elements, type, click, read, take screenshots, and stop everything afterwards.
//!
//! Every call has a timeout, so a stuck browser fails the test instead of hanging it.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use reqwest::Client;
use serde_json::{json, Value};

/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where Chromium and chromedriver are installed.
pub struct Tools {
    pub chromium: PathBuf,
    pub chromedriver: PathBuf,
}

/// Finds `chromium` and `chromedriver` on `PATH` (Debian: `apt-get install -y chromium
/// chromium-driver`).
pub fn find_tools() -> Option<Tools> {
    let which = |name: &str| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|candidate| candidate.is_file())
        })
    };
    Some(Tools {
        chromium: which("chromium")?,
        chromedriver: which("chromedriver")?,
    })
}

/// A running chromedriver; killed on drop if [`Driver::stop`] was not reached.
pub struct Driver {
    child: tokio::process::Child,
    base: String,
    http: Client,
}

impl Driver {
    /// Starts chromedriver on a free loopback port and waits (at most 15 s) until it is ready.
    pub async fn start(tools: &Tools, log: &Path) -> Result<Self, String> {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
            probe.local_addr().map_err(|e| e.to_string())?.port()
        };
        let log_file = std::fs::File::create(log).map_err(|e| e.to_string())?;
        let child = tokio::process::Command::new(&tools.chromedriver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", tools.chromedriver.display()))?;
        let driver = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .map_err(|e| e.to_string())?,
        };
        for _ in 0..150 {
            let ready = driver
                .http
                .get(format!("{}/status", driver.base))
                .send()
                .await
                .ok();
            if let Some(r) = ready {
                if let Ok(body) = r.json::<Value>().await {
                    if body["value"]["ready"] == true {
                        return Ok(driver);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err("chromedriver did not become ready within 15 s".into())
    }

    /// Opens a headless Chromium with a fresh profile in `profile`.
    pub async fn session(&self, tools: &Tools, profile: &Path) -> Result<Session, String> {
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {"pageLoad": 20000, "script": 5000, "implicit": 0},
            "goog:chromeOptions": {
                "binary": tools.chromium,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    "--force-device-scale-factor=1",
                    "--window-size=1000,900",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }
        }}});
        let body = call(
            &self.http,
            "POST",
            &format!("{}/session", self.base),
            Some(caps),
        )
        .await?;
        let id = body["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no sessionId in {body}"))?;
        Ok(Session {
            http: self.http.clone(),
            url: format!("{}/session/{id}", self.base),
        })
    }

    /// Stops chromedriver and waits for it to exit.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

/// One browser.
#[derive(Clone)]
pub struct Session {
    http: Client,
    url: String,
}

/// An element on the current page.
pub struct Element {
    session: Session,
    id: String,
}

async fn call(
    http: &Client,
    method: &str,
    url: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let request = match method {
        "GET" => http.get(url),
        "DELETE" => http.delete(url),
        _ => http.post(url).json(&body.unwrap_or_else(|| json!({}))),
    };
    let response = request
        .send()
        .await
        .map_err(|e| format!("{method} {url}: {e}"))?;
    let status = response.status();
    let value: Value = response
        .json()
        .await
        .map_err(|e| format!("{method} {url}: unreadable answer: {e}"))?;
    if !status.is_success() {
        return Err(format!("{method} {url}: {status}: {}", value["value"]));
    }
    Ok(value["value"].clone())
}

impl Session {
    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        call(&self.http, method, &format!("{}{path}", self.url), body).await
    }

    pub async fn goto(&self, url: &str) -> Result<(), String> {
        self.cmd("POST", "/url", Some(json!({"url": url})))
            .await
            .map(|_| ())
    }

    pub async fn current_url(&self) -> Result<String, String> {
        Ok(self
            .cmd("GET", "/url", None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    pub async fn source(&self) -> Result<String, String> {
        Ok(self
            .cmd("GET", "/source", None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    pub async fn title(&self) -> Result<String, String> {
        Ok(self
            .cmd("GET", "/title", None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// The first element matching `css`, waiting up to 5 s for it to appear.
    pub async fn find(&self, css: &str) -> Result<Element, String> {
        let mut last = String::new();
        for _ in 0..50 {
            match self
                .cmd(
                    "POST",
                    "/element",
                    Some(json!({"using": "css selector", "value": css})),
                )
                .await
            {
                Ok(v) => {
                    let id = v[ELEMENT]
                        .as_str()
                        .ok_or_else(|| format!("no element reference in {v}"))?;
                    return Ok(Element {
                        session: self.clone(),
                        id: id.to_owned(),
                    });
                }
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("no element {css:?}: {last}"))
    }

    /// A PNG of the viewport.
    pub async fn screenshot(&self) -> Result<Vec<u8>, String> {
        let b64 = self.cmd("GET", "/screenshot", None).await?;
        STANDARD
            .decode(b64.as_str().unwrap_or_default())
            .map_err(|e| e.to_string())
    }

    /// Closes the browser.
    pub async fn quit(&self) -> Result<(), String> {
        self.cmd("DELETE", "", None).await.map(|_| ())
    }
}

impl Element {
    fn path(&self, rest: &str) -> String {
        format!("/element/{}{rest}", self.id)
    }

    pub async fn click(&self) -> Result<(), String> {
        self.session
            .cmd("POST", &self.path("/click"), None)
            .await
            .map(|_| ())
    }

    pub async fn clear(&self) -> Result<(), String> {
        self.session
            .cmd("POST", &self.path("/clear"), None)
            .await
            .map(|_| ())
    }

    /// Types `text` into the element.
    pub async fn send_keys(&self, text: &str) -> Result<(), String> {
        self.session
            .cmd("POST", &self.path("/value"), Some(json!({"text": text})))
            .await
            .map(|_| ())
    }

    pub async fn text(&self) -> Result<String, String> {
        Ok(self
            .session
            .cmd("GET", &self.path("/text"), None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }
}
