//! The client side: `ucoauth connect`, `ucoauth token ...`, `ucoauth me`.
//!
//! These commands talk to an OAuth server (ucoauth or UltraCart) as an application would,
//! through `ucoauth-sdk`, and keep the tokens they get in the token file ([`store`]).
//!
//! - `connect`: the browser flow with a loopback redirect ([`loopback`]), or the device flow.
//! - `token`: show, refresh, revoke, list what is saved.
//! - `me`: who a saved connection is connected to.
//! - `progress`: the waiting indicator.

pub mod connect;
pub mod me;
pub mod token;

mod loopback;
mod progress;
mod store;

use std::{error::Error as _, path::PathBuf, time::SystemTime};

use anyhow::{anyhow, bail};
use clap::Args;
use serde::Serialize;
use ucoauth_sdk::{
    ClientAuthMethod, ClientId, ClientSecret, Configuration, OauthApi, SdkError, TokenSet,
    TokenSource,
};
use url::Url;

use self::store::{Connection, TokenFile};

/// Where the tokens are kept.
#[derive(Debug, Args)]
pub struct TokenFileArgs {
    /// The token file [default: $XDG_CONFIG_HOME/ucoauth/tokens.json, else
    /// ~/.config/ucoauth/tokens.json]. It is written readable by you only (0600).
    #[arg(long, env = "UCOAUTH_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

/// The application's secret, for servers or applications that require it.
#[derive(Debug, Args)]
pub struct ClientSecretArgs {
    /// The application's client_secret, if it must authenticate (sent with HTTP Basic). Prefer
    /// the environment variable: arguments are visible to other users in the process list.
    /// It is never saved in the token file.
    #[arg(
        long,
        env = "UCOAUTH_CLIENT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub client_secret: Option<String>,
}

/// Which saved connection a command works on.
#[derive(Debug, Args)]
pub struct SelectArgs {
    /// The server's API base URL of the saved connection (needed only when several are saved).
    #[arg(long, env = "UCOAUTH_BASE_URL", value_name = "URL")]
    pub base_url: Option<String>,
    /// The client_id of the saved connection (needed only when several are saved).
    #[arg(long, env = "UCOAUTH_CLIENT_ID", value_name = "ID")]
    pub client_id: Option<String>,
}

/// The saved connection the selection names. Call it with the file's lock held when the
/// command may write the file afterwards.
pub(crate) fn selected(file: &TokenFile, select: &SelectArgs) -> anyhow::Result<Connection> {
    let base_url = select
        .base_url
        .as_deref()
        .map(normalize_base_url)
        .transpose()?;
    let connections = file.load()?;
    let connection = store::select(
        &connections,
        base_url.as_deref(),
        select.client_id.as_deref(),
        file.path(),
    )?;
    Ok(connection.clone())
}

/// A [`TokenSource`] over a saved connection that saves every refreshed set to the file before
/// the new access token is used.
pub(crate) fn token_source(
    api: OauthApi,
    connection: &Connection,
    file: &TokenFile,
) -> TokenSource {
    let (file, base_url, client_id) = (
        file.clone(),
        connection.base_url.clone(),
        connection.client_id.clone(),
    );
    TokenSource::new(
        api,
        ClientId::new(connection.client_id.clone()),
        connection.tokens.clone(),
    )
    .on_refresh(move |tokens: &TokenSet| file.update_tokens(&base_url, &client_id, tokens))
}

/// The API base URL as the SDK wants it: `http(s)://host[:port]/path` without a trailing `/`.
/// A bare origin (`http://127.0.0.1:8080`) gets UltraCart's `/rest/v2`.
pub fn normalize_base_url(raw: &str) -> anyhow::Result<String> {
    let mut url = Url::parse(raw.trim()).map_err(|e| {
        anyhow!(
            "--base-url {raw:?} is not a URL ({e}); expected e.g. http://127.0.0.1:8080/rest/v2"
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        bail!("--base-url {raw:?} must be an http or https URL, e.g. https://secure.ultracart.com/rest/v2");
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        bail!("--base-url {raw:?} must not carry a query, a fragment or user information");
    }
    if url.path() == "/" || url.path().is_empty() {
        url.set_path(ucoauth_wire::paths::API_BASE);
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// Warns when tokens would travel in clear text to a host that is not this machine.
pub fn warn_if_cleartext(base_url: &str) {
    let Ok(url) = Url::parse(base_url) else {
        return;
    };
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    if url.scheme() == "http" && !loopback {
        eprintln!(
            "warning: {base_url} is plain http on another host: tokens will cross the network \
             unencrypted. Use https."
        );
    }
}

/// The SDK client for `base_url`, with the secret if one was given.
pub fn api(base_url: &str, secret: &ClientSecretArgs) -> anyhow::Result<OauthApi> {
    let mut builder = Configuration::builder().base_url(base_url);
    if let Some(secret) = secret.client_secret.as_deref().filter(|s| !s.is_empty()) {
        builder = builder.client_secret(
            ClientSecret::new(secret),
            ClientAuthMethod::ClientSecretBasic,
        );
    }
    Ok(OauthApi::new(builder.build()?))
}

/// An SDK failure as one line: what was being done, what the server or network said, and what
/// to try.
pub fn explain(err: SdkError, doing: &str, base_url: &str) -> anyhow::Error {
    let status = err.status().map(|s| s.as_u16());
    let hint = match (&err, err.oauth_error_code(), status) {
        (_, Some("invalid_client"), _) | (_, _, Some(401)) if doing.contains("/oauth/me") => {
            "the access token was refused: the connection was revoked or has expired; \
             run `ucoauth connect` again"
        }
        (_, Some("invalid_client"), _) => {
            "the server does not accept this client_id: check it, and pass --client-secret \
             (or UCOAUTH_CLIENT_SECRET) if the application requires its secret"
        }
        (_, Some("invalid_grant"), _) if doing.contains("refresh") => {
            "the refresh token no longer works (revoked, expired, or already used by another \
             copy of these tokens); run `ucoauth connect` again"
        }
        (_, Some("unauthorized_client"), _) => {
            "the application may not use this flow; check its settings on the server"
        }
        (SdkError::Transport(_), _, _) => "is the server running, and is --base-url right?",
        (_, _, Some(404)) => "is --base-url right? It should end in /rest/v2",
        (_, _, Some(429)) => "the server is rate limiting; wait a little and try again",
        (SdkError::NoRefreshToken, _, _) => "run `ucoauth connect` again",
        (SdkError::Persist(_), _, _) => {
            "the server rotated the tokens but they could not be saved, so the saved refresh \
             token no longer works; fix the token file's location and run `ucoauth connect` again"
        }
        _ => "",
    };
    let mut message = format!("{doing} at {base_url} failed: {err}");
    // reqwest keeps the useful part ("connection refused") in the source chain.
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    if !hint.is_empty() {
        message.push_str(" (");
        message.push_str(hint);
        message.push(')');
    }
    anyhow!(message)
}

/// A saved connection as the commands print it. Tokens are redacted unless revealed.
#[derive(Debug, Serialize)]
pub struct ConnectionView {
    pub base_url: String,
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_name: Option<String>,
    pub scopes: Vec<String>,
    /// Seconds since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Seconds left on the access token (0 once expired).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
    pub access_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub token_file: String,
}

/// What a redacted token is shown as.
pub const REDACTED: &str = "[redacted; --reveal shows it]";

impl ConnectionView {
    pub fn new(connection: &Connection, file: &TokenFile, reveal: bool) -> Self {
        let tokens = &connection.tokens;
        let show = |secret: &str| {
            if reveal {
                secret.to_owned()
            } else {
                REDACTED.to_owned()
            }
        };
        Self {
            base_url: connection.base_url.clone(),
            client_id: connection.client_id.clone(),
            merchant_id: tokens.merchant_id.clone(),
            merchant_name: connection.merchant_name.clone(),
            application_name: connection.application_name.clone(),
            scopes: tokens.scopes().map(str::to_owned).collect(),
            expires_at: tokens.expires_at.map(store::epoch_seconds),
            expires_in: tokens
                .expires_in(SystemTime::now())
                .map(|left| left.as_secs()),
            access_token: show(tokens.access_token.secret()),
            refresh_token: tokens.refresh_token.as_ref().map(|t| show(t.secret())),
            token_file: file.path().display().to_string(),
        }
    }

    pub fn text(&self) -> String {
        let merchant = match (&self.merchant_id, &self.merchant_name) {
            (Some(id), Some(name)) => format!("{id} ({name})"),
            (Some(id), None) => id.clone(),
            _ => "(unknown)".to_owned(),
        };
        let expiry = match self.expires_in {
            Some(0) => "expired (the next use refreshes it)".to_owned(),
            Some(left) => format!(
                "in {}",
                progress::human_duration(std::time::Duration::from_secs(left))
            ),
            None => "not stated by the server".to_owned(),
        };
        let mut out = format!(
            "server:         {}\nclient_id:      {}\n",
            self.base_url, self.client_id
        );
        if let Some(app) = &self.application_name {
            out.push_str(&format!("application:    {app}\n"));
        }
        out.push_str(&format!(
            "merchant:       {merchant}\nscopes:         {}\naccess token:   {}\nexpires:        {expiry}\nrefresh token:  {}\ntoken file:     {}",
            self.scopes.join(" "),
            self.access_token,
            self.refresh_token.as_deref().unwrap_or("(none)"),
            self.token_file
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_normalised() {
        for (given, expected) in [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/rest/v2"),
            ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/rest/v2"),
            (
                "http://127.0.0.1:8080/rest/v2/",
                "http://127.0.0.1:8080/rest/v2",
            ),
            (
                "https://secure.ultracart.com/rest/v2",
                "https://secure.ultracart.com/rest/v2",
            ),
            (
                "HTTPS://Auth.Example:443/x/rest/v2",
                "https://auth.example/x/rest/v2",
            ),
        ] {
            assert_eq!(normalize_base_url(given).unwrap(), expected, "{given}");
        }
        for bad in [
            "127.0.0.1:8080",
            "ftp://h/rest/v2",
            "http://h/rest/v2?x=1",
            "http://u:p@h/rest/v2",
            "not a url",
        ] {
            assert!(normalize_base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn explanations_name_the_step_and_suggest_a_fix() {
        let refused = SdkError::Api {
            status: reqwest::StatusCode::BAD_REQUEST,
            uc_rest_error: Some("refresh token revoked".into()),
            body: String::new(),
            error_response: None,
            oauth_error: Some(Box::new(ucoauth_sdk::OauthTokenResponse::error(
                "invalid_grant",
                "refresh token revoked",
            ))),
        };
        let text = explain(refused, "refreshing the tokens", "http://h/rest/v2").to_string();
        assert!(
            text.starts_with("refreshing the tokens at http://h/rest/v2 failed: "),
            "{text}"
        );
        assert!(
            text.contains("invalid_grant: refresh token revoked"),
            "{text}"
        );
        assert!(text.contains("run `ucoauth connect` again"), "{text}");
    }
}
