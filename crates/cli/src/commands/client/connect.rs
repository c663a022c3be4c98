//! `ucoauth connect`: authorize this terminal as an application and save the tokens.
//!
//! Browser flow (default), RFC 8252 "OAuth for native apps":
//! 1. listen on 127.0.0.1 (any free port, or `--redirect-port`); the redirect URI is
//!    `http://127.0.0.1:PORT/callback`;
//! 2. build the authorize URL with the SDK (fresh `state`, PKCE S256) and check it with the
//!    server once (a plain GET, no session): a refused client_id or redirect URI is reported
//!    now instead of in a browser tab nobody reads;
//! 3. print the URL, open a browser when there is one, and wait (`--timeout`, default 300 s);
//! 4. take the first callback whose `state` matches (compared in constant time), exchange its
//!    code with the PKCE verifier, save the tokens, answer the browser, ask `/oauth/me`.
//!
//! Device flow (`--device`, RFC 8628): start it, show the user code, the verification link and
//! a QR code, poll until the merchant decides, then save and ask `/oauth/me` the same way.

use std::{
    io::IsTerminal as _,
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail};
use clap::Args;
use reqwest::{header, redirect::Policy, StatusCode};
use ucoauth_sdk::{
    AuthorizationCode, AuthorizeUrl, ClientId, DeviceCode, OauthApi, OauthMeResponse, RedirectUrl,
    SdkError, TokenSet, DEFAULT_DEVICE_INTERVAL,
};
use url::Url;

use super::{
    loopback::{Callback, CallbackListener},
    progress::Progress,
    store::{Connection, TokenFile},
    ClientSecretArgs, ConnectionView, TokenFileArgs,
};
use crate::output;

/// How long the browser flow waits for the browser, unless `--timeout` says otherwise.
const DEFAULT_BROWSER_TIMEOUT: Duration = Duration::from_secs(300);

/// Connect to an OAuth server as an application (browser or device flow) and save the tokens
///
/// The browser flow listens on http://127.0.0.1:PORT/callback for the browser's return. That
/// exact redirect URI must be registered for the application: plain http is allowed for
/// loopback addresses. Servers that match redirect URIs exactly (ucoauth does) need a fixed
/// port: register e.g. http://127.0.0.1:8765/callback and pass --redirect-port 8765.
///
/// The device flow (--device) needs no browser on this machine: it prints a short code, the
/// verification link and a QR code, and waits while someone approves on another device.
///
/// The tokens go to the token file (see --token-file), written readable by you only (0600),
/// one entry per base URL and client_id, so several connections can coexist. Use them with
/// `ucoauth me` and `ucoauth token ...`. No database or server settings are involved.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ConnectArgs {
    /// The server's API base URL, e.g. http://127.0.0.1:8080/rest/v2 or
    /// https://secure.ultracart.com/rest/v2 (a bare origin gets /rest/v2).
    #[arg(long, env = "UCOAUTH_BASE_URL", value_name = "URL")]
    pub base_url: String,
    /// The application's client_id.
    #[arg(long, env = "UCOAUTH_CLIENT_ID", value_name = "ID")]
    pub client_id: String,
    #[command(flatten)]
    pub secret: ClientSecretArgs,
    /// A permission to ask for (repeat for several). Without any, the application's registered
    /// permissions apply.
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// The loopback port for the browser's return [default: any free port]. The redirect URI
    /// http://127.0.0.1:PORT/callback must be registered for the application.
    #[arg(long, value_name = "PORT", conflicts_with = "device")]
    pub redirect_port: Option<u16>,
    /// Do not try to open a browser; only print the URL.
    #[arg(long)]
    pub no_browser: bool,
    /// Use the device flow (RFC 8628): approve on another device with a short code.
    #[arg(long)]
    pub device: bool,
    /// With --device: do not draw the verification link as a QR code.
    #[arg(long)]
    pub no_qr: bool,
    /// Give up after this many seconds [default: 300 for the browser flow; the device code's
    /// lifetime for --device].
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: Option<u64>,
    #[command(flatten)]
    pub file: TokenFileArgs,
    /// Print the result as JSON (instructions still go to standard error).
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: ConnectArgs) -> anyhow::Result<()> {
    let base_url = super::normalize_base_url(&args.base_url)?;
    super::warn_if_cleartext(&base_url);
    if args.client_id.trim().is_empty() {
        bail!("--client-id is empty; pass the application's client_id");
    }
    let file = TokenFile::locate(args.file.token_file.clone())?;
    let api = super::api(&base_url, &args.secret)?;
    let client_id = ClientId::new(args.client_id.trim());
    // Held from before the tokens exist until they are saved: no other ucoauth writes meanwhile.
    let mut lock = file.lock()?;
    let _held = lock.acquire()?;

    let tokens = if args.device {
        device_flow(&api, &client_id, &args, &base_url).await?
    } else {
        browser_flow(&api, &client_id, &args, &base_url, &file).await?
    };
    finish(&api, &base_url, &client_id, tokens, &file, args.json).await
}

/// The browser flow up to the tokens, which it saves before answering the browser.
async fn browser_flow(
    api: &OauthApi,
    client_id: &ClientId,
    args: &ConnectArgs,
    base_url: &str,
    file: &TokenFile,
) -> anyhow::Result<TokenSet> {
    let listener = CallbackListener::bind(args.redirect_port.unwrap_or(0)).await?;
    let redirect_uri = listener.redirect_uri();
    let redirect = RedirectUrl::new(redirect_uri.clone())?;
    let request = AuthorizeUrl::builder(base_url, client_id)
        .redirect_uri(redirect.clone())
        .scopes(args.scopes.iter().map(String::as_str))
        .build()?;
    preflight(&request.url, &redirect_uri, args.redirect_port.is_some()).await?;

    eprintln!(
        "Open this URL in a browser to connect:\n\n    {}\n",
        request.url
    );
    if !args.no_browser && open_browser(&request.url) {
        eprintln!("(A browser window should have opened.)");
    }
    let timeout = args
        .timeout
        .map_or(DEFAULT_BROWSER_TIMEOUT, Duration::from_secs);
    let deadline = Instant::now() + timeout;
    let progress = Progress::start("Waiting for the browser to come back", deadline);
    let waited = tokio::select! {
        waited = tokio::time::timeout(timeout, listener.wait(&request.state)) => waited,
        _ = tokio::signal::ctrl_c() => {
            progress.finish();
            bail!("cancelled; nothing was saved");
        }
    };
    progress.finish();
    let (callback, browser) = match waited {
        Ok(result) => result?,
        Err(_) => bail!(
            "no answer from the browser within {} s (--timeout). If the server's page said the \
             redirect_uri does not match, register {redirect_uri} for the application (plain \
             http is allowed on loopback) and pass --redirect-port {}",
            timeout.as_secs(),
            url::Url::parse(&redirect_uri)
                .ok()
                .and_then(|u| u.port())
                .unwrap_or_default()
        ),
    };
    let code = match callback {
        Callback::Code(code) => code,
        Callback::Error { code, description } => {
            let text = authorization_error_text(&code, description.as_deref());
            browser.answer(400, "Not connected", &text).await;
            bail!("{text}");
        }
    };
    let exchanged = api
        .exchange_code(
            client_id,
            &AuthorizationCode::new(code),
            Some(&redirect),
            Some(request.pkce_verifier),
        )
        .await;
    let tokens = match exchanged {
        Ok(tokens) => tokens,
        Err(err) => {
            let err = super::explain(err, "exchanging the authorization code", base_url);
            browser
                .answer(400, "Not connected", &format!("{err:#}"))
                .await;
            return Err(err);
        }
    };
    // "A credential is on disk before it is used": save, then tell the browser.
    if let Err(err) = save_new(file, base_url, client_id, &tokens) {
        browser.answer(500, "Not saved", &format!("{err:#}")).await;
        return Err(err);
    }
    let whom = tokens
        .merchant_id
        .as_deref()
        .map(|m| format!(" to merchant {m}"))
        .unwrap_or_default();
    browser
        .answer(200, "Connected", &format!("ucoauth is connected{whom}."))
        .await;
    Ok(tokens)
}

/// The device flow up to the tokens.
async fn device_flow(
    api: &OauthApi,
    client_id: &ClientId,
    args: &ConnectArgs,
    base_url: &str,
) -> anyhow::Result<TokenSet> {
    let started = api
        .oauth_device_authorize(client_id.as_str(), &args.scopes.join(" "))
        .await
        .map_err(|e| super::explain(e, "starting the device flow", base_url))?;
    let device_code = started
        .device_code
        .clone()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| anyhow!("the server's device authorization answer has no device_code"))?;
    let user_code = started.user_code.clone().unwrap_or_default();
    let verification_uri = started.verification_uri.clone().unwrap_or_default();
    eprintln!("To connect, open {verification_uri}\nand enter the code:  {user_code}\n");
    if let Some(complete) = started.verification_uri_complete.as_deref() {
        eprintln!("Or open this link, which carries the code:\n    {complete}\n");
        if !args.no_qr && std::io::stderr().is_terminal() {
            if let Some(qr) = qr_code(complete) {
                eprintln!("{qr}");
            }
        }
    }
    let interval = started
        .interval
        .and_then(|s| u64::try_from(s).ok())
        .filter(|s| *s > 0)
        .map_or(DEFAULT_DEVICE_INTERVAL, Duration::from_secs);
    let lifetime = started
        .expires_in
        .and_then(|s| u64::try_from(s).ok())
        .filter(|s| *s > 0)
        .map(Duration::from_secs);
    let timeout = match (args.timeout, lifetime) {
        (Some(seconds), _) => Duration::from_secs(seconds),
        (None, Some(lifetime)) => lifetime,
        (None, None) => Duration::from_secs(900),
    };
    let device_code = DeviceCode::new(device_code);
    let deadline = Instant::now() + timeout;
    let progress = Progress::start("Waiting for the approval", deadline);
    let polled = tokio::select! {
        polled = tokio::time::timeout(
            timeout,
            api.poll_device_token(client_id, &device_code, interval),
        ) => polled,
        _ = tokio::signal::ctrl_c() => {
            progress.finish();
            bail!("cancelled; nothing was saved");
        }
    };
    progress.finish();
    match polled {
        Ok(Ok(tokens)) => Ok(tokens),
        Ok(Err(SdkError::Device(ended))) => {
            let description = ended.description().map(str::to_owned);
            Err(anyhow!(authorization_error_text(
                ended.code(),
                description.as_deref()
            )))
        }
        Ok(Err(err)) => Err(super::explain(
            err,
            "waiting for the device approval",
            base_url,
        )),
        Err(_) => bail!(
            "nobody approved within {} s (--timeout); run `ucoauth connect --device` again",
            timeout.as_secs()
        ),
    }
}

/// Saves new tokens (the browser flow saves before answering the browser; the device flow here),
/// asks `/oauth/me`, remembers the names it gives, and prints the result.
async fn finish(
    api: &OauthApi,
    base_url: &str,
    client_id: &ClientId,
    tokens: TokenSet,
    file: &TokenFile,
    json: bool,
) -> anyhow::Result<()> {
    let mut connection = match file
        .load()?
        .into_iter()
        .find(|c| c.base_url == base_url && c.client_id == client_id.as_str())
    {
        Some(saved) if saved.tokens == tokens => saved,
        _ => {
            save_new(file, base_url, client_id, &tokens)?;
            Connection::new(base_url.to_owned(), client_id.as_str().to_owned(), tokens)
        }
    };
    let me = identify(api, &connection.tokens, base_url)
        .await
        .map_err(|e| {
            anyhow!(
                "{e:#} (the tokens were saved in {}; `ucoauth token revoke` removes them)",
                file.path().display()
            )
        })?;
    connection.merchant_name.clone_from(&me.merchant_name);
    connection.application_name.clone_from(&me.application_name);
    if connection.tokens.merchant_id.is_none() {
        connection.tokens.merchant_id.clone_from(&me.merchant_id);
    }
    if connection.tokens.scope.is_none() {
        connection.tokens.scope = me.scopes.as_ref().map(|s| s.join(" "));
    }
    file.upsert(connection.clone())?;
    let mut view = ConnectionView::new(&connection, file, false);
    if let Some(scopes) = me.scopes {
        view.scopes = scopes;
    }
    output::print(json, &view, || {
        let merchant = match (&view.merchant_id, &view.merchant_name) {
            (Some(id), Some(name)) => format!("merchant {id} ({name})"),
            (Some(id), None) => format!("merchant {id}"),
            _ => "the merchant".to_owned(),
        };
        let app = view
            .application_name
            .as_deref()
            .map(|a| format!(" as application \"{a}\""))
            .unwrap_or_default();
        format!(
            "Connected to {merchant}{app}.\nScopes: {}\nTokens saved in {} (show them with `ucoauth token show`).",
            view.scopes.join(" "),
            view.token_file
        )
    })
}

fn save_new(
    file: &TokenFile,
    base_url: &str,
    client_id: &ClientId,
    tokens: &TokenSet,
) -> anyhow::Result<()> {
    file.upsert(Connection::new(
        base_url.to_owned(),
        client_id.as_str().to_owned(),
        tokens.clone(),
    ))
}

/// `GET /oauth/me` with the new access token.
async fn identify(
    api: &OauthApi,
    tokens: &TokenSet,
    base_url: &str,
) -> anyhow::Result<OauthMeResponse> {
    api.with_access_token(tokens.access_token.clone())?
        .oauth_me()
        .await
        .map_err(|e| super::explain(e, "asking /oauth/me who the tokens belong to", base_url))
}

/// One GET of the authorize URL without a session, redirects not followed. A server that
/// refuses the client_id or the redirect URI answers it with an error (400); one that accepts
/// them sends the browser to sign in. Only a refusal stops `connect`; anything else goes on.
async fn preflight(
    authorize_url: &str,
    redirect_uri: &str,
    fixed_port: bool,
) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .timeout(Duration::from_secs(15))
        .user_agent(ucoauth_sdk::DEFAULT_USER_AGENT)
        .build()?;
    let response = client
        .get(authorize_url)
        .header(header::ACCEPT, "application/json")
        .send()
        .await;
    let response = match response {
        Ok(response) => response,
        Err(e) => {
            let mut message = format!("cannot reach the server: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            bail!("{message} (is it running, and is --base-url right?)");
        }
    };
    let status = response.status();
    if status.is_redirection() {
        // An error sent back to our own redirect URI (bad scope, PKCE refused, ...).
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if let Some(query) = location
            .strip_prefix(redirect_uri)
            .and_then(|rest| rest.strip_prefix('?'))
        {
            let mut pairs = url::form_urlencoded::parse(query.as_bytes());
            if let Some((_, error)) = pairs.clone().find(|(k, _)| k == "error") {
                let description = pairs
                    .find(|(k, _)| k == "error_description")
                    .map(|(_, v)| v.into_owned());
                bail!(
                    "{}",
                    authorization_error_text(&error, description.as_deref())
                );
            }
        }
        return Ok(());
    }
    if !(status.is_client_error() || status == StatusCode::NOT_IMPLEMENTED) {
        return Ok(());
    }
    let header_reason = response
        .headers()
        .get("uc-rest-error")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: Option<ucoauth_sdk::ErrorResponse> = response.json().await.ok();
    let reason = header_reason
        .or_else(|| {
            body.and_then(|b| b.error)
                .and_then(|e| e.developer_message.or(e.user_message))
        })
        .unwrap_or_else(|| format!("HTTP {status}"));
    let mut message = format!("the server refused the authorization request: {reason}");
    if reason.to_ascii_lowercase().contains("redirect") {
        let port = Url::parse(redirect_uri)
            .ok()
            .and_then(|u| u.port())
            .unwrap_or_default();
        message.push_str(&format!(
            ". Register the redirect URI {redirect_uri} for the application (plain http is \
             allowed on loopback addresses)"
        ));
        if fixed_port {
            message.push('.');
        } else {
            message.push_str(&format!(
                "; servers that match redirect URIs exactly need a fixed port: register \
                 http://127.0.0.1:PORT/callback once and pass --redirect-port PORT (this run \
                 used the free port {port})."
            ));
        }
    } else if status == StatusCode::BAD_REQUEST && reason.contains("client_id") {
        message.push_str(". Check --client-id");
    }
    Err(anyhow!(message))
}

/// `error=access_denied` and friends as a sentence.
fn authorization_error_text(code: &str, description: Option<&str>) -> String {
    let meaning = match code {
        "access_denied" => "the authorization was denied",
        "invalid_scope" => "the server refused the requested scopes",
        "unauthorized_client" => "the application may not use this flow",
        "invalid_request" => "the server found the authorization request invalid",
        "unsupported_response_type" => "the server does not support this flow",
        "server_error" | "temporarily_unavailable" => "the server could not handle the request",
        "expired_token" => "the code expired before it was approved",
        _ => "the authorization failed",
    };
    // The description came through a URL: keep it to one printable line.
    let description = description
        .map(|d| {
            d.chars()
                .filter(|c| !c.is_control())
                .take(300)
                .collect::<String>()
        })
        .filter(|d| !d.is_empty());
    match description {
        Some(d) => format!("{meaning} ({code}): {d}"),
        None => format!("{meaning} ({code})"),
    }
}

/// Opens `url` in a browser when this machine has a display; true if a launcher started.
/// Never fails: the URL is printed anyway.
fn open_browser(url: &str) -> bool {
    let launcher = if cfg!(target_os = "macos") {
        Some("open")
    } else if cfg!(unix)
        && (std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some())
    {
        Some("xdg-open")
    } else {
        None
    };
    let Some(launcher) = launcher else {
        return false;
    };
    let spawned = std::process::Command::new(launcher)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    match spawned {
        Ok(mut child) => {
            // Reap it in the background so it does not linger as a zombie.
            std::thread::spawn(move || {
                let _ = child.wait();
            });
            true
        }
        Err(_) => false,
    }
}

/// `text` as a QR code in Unicode half blocks, or `None` if it does not fit in one.
fn qr_code(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_errors_read_as_sentences_and_stay_on_one_line() {
        assert_eq!(
            authorization_error_text("access_denied", Some("The merchant denied access.")),
            "the authorization was denied (access_denied): The merchant denied access."
        );
        assert_eq!(
            authorization_error_text("weird", None),
            "the authorization failed (weird)"
        );
        let text = authorization_error_text("access_denied", Some("a\r\nb\u{1b}[31m"));
        assert!(!text.contains('\n') && !text.contains('\u{1b}'), "{text:?}");
    }

    #[test]
    fn the_qr_code_is_drawn_with_half_blocks() {
        let qr = qr_code("http://127.0.0.1:8080/device?user_code=ABCD-EFGH").unwrap();
        assert!(qr.lines().count() > 10);
        assert!(qr.contains('▀') || qr.contains('▄'));
    }
}
