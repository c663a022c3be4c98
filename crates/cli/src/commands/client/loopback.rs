//! The one-shot loopback listener the browser comes back to (RFC 8252 §7.3).
//!
//! It listens on 127.0.0.1 only, answers `GET /callback?...` and nothing else, and hands the
//! first callback that carries the right `state` to the caller together with the open
//! connection, so the browser's page can say how the connection ended. Callbacks with a wrong
//! or missing `state` (another tab, a stale link, a forged request) get an error page and are
//! otherwise ignored: the wait goes on for the real one.
//!
//! This is a deliberately tiny HTTP/1.1 server: one request per connection, a bounded request
//! head, a read timeout, and `Connection: close`.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
    sync::{mpsc, Semaphore},
};
use ucoauth_sdk::{verify_state, CsrfState};

/// The path of the redirect URI.
pub const CALLBACK_PATH: &str = "/callback";
/// The most of a request head that is read.
const MAX_HEAD: usize = 16 * 1024;
/// How long a connection may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections read at once (browsers open a few speculative ones).
const MAX_CONNECTIONS: usize = 16;

/// What the browser brought back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callback {
    /// `?code=...&state=...`
    Code(String),
    /// `?error=...&error_description=...&state=...`
    Error {
        code: String,
        description: Option<String>,
    },
}

/// The browser's connection, to answer once the outcome is known.
pub struct Browser {
    stream: TcpStream,
}

impl Browser {
    /// Sends a small HTML page and closes the connection. Failures are ignored: the browser may
    /// be gone, and the outcome is printed in the terminal anyway.
    pub async fn answer(mut self, status: u16, title: &str, message: &str) {
        let _ = respond(&mut self.stream, status, title, message).await;
    }
}

/// The bound listener.
pub struct CallbackListener {
    listener: TcpListener,
    addr: SocketAddr,
}

impl CallbackListener {
    /// Listens on 127.0.0.1:`port` (0: any free port).
    pub async fn bind(port: u16) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| {
                format!(
                    "cannot listen on 127.0.0.1:{port} for the browser's return; \
                     is another program using it? Choose another --redirect-port \
                     (and register that redirect URI)"
                )
            })?;
        let addr = listener.local_addr()?;
        Ok(Self { listener, addr })
    }

    /// `http://127.0.0.1:PORT/callback`.
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}{CALLBACK_PATH}", self.addr.port())
    }

    /// Waits (forever; wrap it in a timeout) for a callback with `state`.
    pub async fn wait(&self, state: &CsrfState) -> anyhow::Result<(Callback, Browser)> {
        let (tx, mut rx) = mpsc::channel::<(Request, TcpStream)>(MAX_CONNECTIONS);
        let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    let (stream, _) = accepted.context("the loopback listener failed")?;
                    // Past the limit, new connections are dropped rather than queued.
                    let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else { continue };
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let _permit = permit;
                        let mut stream = stream;
                        match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
                            Ok(Ok(request)) => { let _ = tx.send((request, stream)).await; }
                            Ok(Err(status)) => {
                                let _ = respond(&mut stream, status, "Bad request",
                                    "This is ucoauth's sign-in listener; it did not understand that request.").await;
                            }
                            Err(_) => {}
                        }
                    });
                }
                Some((request, mut stream)) = rx.recv() => {
                    match classify(&request, state) {
                        Verdict::Done(callback) => return Ok((callback, Browser { stream })),
                        Verdict::Reject { status, title, message, warn } => {
                            if warn {
                                eprintln!("warning: ignored a request to the callback: {message}");
                            }
                            let _ = respond(&mut stream, status, title, &message).await;
                        }
                    }
                }
            }
        }
    }
}

/// The parts of a request that matter.
#[derive(Debug)]
struct Request {
    method: String,
    target: String,
}

enum Verdict {
    Done(Callback),
    Reject {
        status: u16,
        title: &'static str,
        message: String,
        /// Worth telling the terminal about (a callback, not a favicon).
        warn: bool,
    },
}

fn classify(request: &Request, expected: &CsrfState) -> Verdict {
    let (path, query) = request
        .target
        .split_once('?')
        .unwrap_or((request.target.as_str(), ""));
    if path != CALLBACK_PATH {
        return Verdict::Reject {
            status: 404,
            title: "Not found",
            message: "Nothing here. The sign-in comes back to /callback.".into(),
            warn: false,
        };
    }
    if request.method != "GET" {
        return Verdict::Reject {
            status: 405,
            title: "Method not allowed",
            message: "The sign-in comes back with GET.".into(),
            warn: false,
        };
    }
    let mut code = Vec::new();
    let mut state = Vec::new();
    let mut error = Vec::new();
    let mut description = Vec::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match name.as_ref() {
            "code" => code.push(value.into_owned()),
            "state" => state.push(value.into_owned()),
            "error" => error.push(value.into_owned()),
            "error_description" => description.push(value.into_owned()),
            _ => {}
        }
    }
    let reject = |message: &str| Verdict::Reject {
        status: 400,
        title: "Not this sign-in",
        message: message.to_owned(),
        warn: true,
    };
    if code.len() > 1 || state.len() > 1 || error.len() > 1 || description.len() > 1 {
        return reject("the callback repeats a parameter, so it cannot be trusted");
    }
    // A callback without our state is not the answer to our request (RFC 6749 §10.12).
    match state.first() {
        Some(received) if verify_state(expected, received) => {}
        Some(_) => {
            return reject(
                "the state does not match the sign-in this ucoauth connect started \
                 (an old tab or link?); finish the sign-in in the window ucoauth opened",
            )
        }
        None => return reject("the callback carries no state"),
    }
    if let Some(error) = error.into_iter().next() {
        return Verdict::Done(Callback::Error {
            code: error,
            description: description.into_iter().next(),
        });
    }
    match code.into_iter().next() {
        Some(code) if !code.is_empty() => Verdict::Done(Callback::Code(code)),
        _ => reject("the callback has neither code nor error"),
    }
}

/// Reads the request line and headers (up to the blank line); the body, if any, is ignored.
async fn read_head(stream: &mut TcpStream) -> Result<Request, u16> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 2048];
    loop {
        let n = stream.read(&mut buf).await.map_err(|_| 400u16)?;
        if n == 0 {
            return Err(400);
        }
        head.extend_from_slice(buf.get(..n).unwrap_or_default());
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            break;
        }
        if head.len() > MAX_HEAD {
            return Err(431);
        }
    }
    let text = String::from_utf8_lossy(&head);
    let line = text.lines().next().unwrap_or_default();
    let mut parts = line.split(' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(method), Some(target), Some(version))
            if version.starts_with("HTTP/1.") && target.starts_with('/') =>
        {
            Ok(Request {
                method: method.to_owned(),
                target: target.to_owned(),
            })
        }
        _ => Err(400),
    }
}

async fn respond(
    stream: &mut TcpStream,
    status: u16,
    title: &str,
    message: &str,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    };
    let body = page(title, message);
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\n\
         Content-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\n\
         Cache-Control: no-store\r\n\
         Referrer-Policy: no-referrer\r\n\
         X-Content-Type-Options: nosniff\r\n\
         Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.flush().await?;
    stream.shutdown().await
}

/// The page shown in the browser. Everything shown is escaped: the error text comes from the URL.
fn page(title: &str, message: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} - ucoauth</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;line-height:1.5}}</style>\
         </head><body><h1>{title}</h1><p>{message}</p>\
         <p>You can close this window and return to the terminal.</p></body></html>\n",
        title = escape(title),
        message = escape(message),
    )
}

/// HTML-escapes text for element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(target: &str) -> Request {
        Request {
            method: "GET".into(),
            target: target.into(),
        }
    }

    fn state() -> CsrfState {
        CsrfState::new("s-123")
    }

    #[test]
    fn a_code_with_the_right_state_is_the_answer() {
        match classify(&get("/callback?code=c%2B1&state=s-123&iss=x"), &state()) {
            Verdict::Done(Callback::Code(code)) => assert_eq!(code, "c+1"),
            _ => panic!("expected the code"),
        }
    }

    #[test]
    fn an_error_with_the_right_state_ends_the_wait() {
        let verdict = classify(
            &get(
                "/callback?error=access_denied&error_description=The+merchant+said+no&state=s-123",
            ),
            &state(),
        );
        match verdict {
            Verdict::Done(Callback::Error { code, description }) => {
                assert_eq!(code, "access_denied");
                assert_eq!(description.as_deref(), Some("The merchant said no"));
            }
            _ => panic!("expected the error"),
        }
    }

    #[test]
    fn wrong_missing_or_repeated_state_and_other_paths_are_ignored() {
        for target in [
            "/callback?code=c&state=s-124",
            "/callback?code=c&state=",
            "/callback?code=c",
            "/callback?error=access_denied",
            "/callback?code=c&state=s-123&state=s-123",
            "/callback?code=c&code=d&state=s-123",
            "/callback?state=s-123",
            "/callback?code=&state=s-123",
            "/favicon.ico",
            "/callback/x?code=c&state=s-123",
        ] {
            assert!(
                matches!(classify(&get(target), &state()), Verdict::Reject { .. }),
                "{target}"
            );
        }
        let post = Request {
            method: "POST".into(),
            target: "/callback?code=c&state=s-123".into(),
        };
        assert!(matches!(
            classify(&post, &state()),
            Verdict::Reject { status: 405, .. }
        ));
    }

    #[test]
    fn the_page_escapes_what_came_from_the_url() {
        let html = page("Refused", "<script>alert('x')</script> & \"more\"");
        assert!(!html.contains("<script>"));
        assert!(
            html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;more&quot;")
        );
        assert!(html.contains("You can close this window"));
    }

    #[tokio::test]
    async fn answers_junk_and_strangers_then_returns_the_real_callback() {
        let listener = CallbackListener::bind(0).await.unwrap();
        let uri = listener.redirect_uri();
        assert!(uri.starts_with("http://127.0.0.1:") && uri.ends_with("/callback"));
        let addr = listener.addr;
        let expected = state();
        let waiting = tokio::spawn(async move {
            let (callback, browser) = listener.wait(&expected).await.unwrap();
            browser.answer(200, "Connected", "Connected to DEMO.").await;
            callback
        });
        let send = |raw: &'static str| async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            stream.write_all(raw.as_bytes()).await.unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await.unwrap();
            answer
        };
        // A connection that never says anything does not block the others.
        let _idle = TcpStream::connect(addr).await.unwrap();
        let junk = send("NOT HTTP\r\n\r\n").await;
        assert!(junk.starts_with("HTTP/1.1 400 "), "{junk}");
        let favicon = send("GET /favicon.ico HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(favicon.starts_with("HTTP/1.1 404 "), "{favicon}");
        let forged = send("GET /callback?code=evil&state=nope HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(forged.starts_with("HTTP/1.1 400 "), "{forged}");
        let real = send("GET /callback?code=good&state=s-123 HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(real.starts_with("HTTP/1.1 200 OK\r\n"), "{real}");
        assert!(real.contains("Connection: close\r\n"));
        assert!(real.contains("Connected to DEMO."));
        assert_eq!(waiting.await.unwrap(), Callback::Code("good".into()));
    }
}
