//! [`Configuration`]: where the server is and which credentials to attach.
//!
//! Mirrors the official SDKs' `Configuration`/`ApiClient`: a base URL ending in `/rest/v2`
//! (each operation's URL is `base + path`, as in every official SDK), the three UltraCart auth
//! schemes, and the `X-UltraCart-Api-Version` header that their helper constructors send.
//!
//! ```no_run
//! use std::time::Duration;
//! use ucoauth_sdk::{ClientAuthMethod, ClientSecret, Configuration};
//!
//! let config = Configuration::builder()
//!     .base_url("http://127.0.0.1:8080/rest/v2")
//!     .client_secret(ClientSecret::new("s3cret"), ClientAuthMethod::ClientSecretBasic)
//!     .timeout(Duration::from_secs(10))
//!     .build()?;
//! # Ok::<(), ucoauth_sdk::SdkError>(())
//! ```

use std::time::Duration;

use reqwest::header::HeaderValue;
use ucoauth_wire::paths::ULTRACART_BASE_URL;

use crate::{
    error::SdkError,
    types::{AccessToken, ApiKey, ClientSecret},
};

/// Default time allowed for one request, from connecting to the last byte of the body.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// `User-Agent` sent unless [`ConfigurationBuilder::user_agent`] says otherwise.
pub const DEFAULT_USER_AGENT: &str = concat!("ucoauth-sdk/", env!("CARGO_PKG_VERSION"));

/// How the `client_secret` travels to the token, revoke and device endpoints (RFC 6749 §2.3.1;
/// the names are RFC 7591's `token_endpoint_auth_method` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthMethod {
    /// `Authorization: Basic base64(urlencode(client_id) ":" urlencode(client_secret))`.
    /// The RFC's preferred method. It takes the `Authorization` header, so a configured access
    /// token is not sent to these endpoints.
    ClientSecretBasic,
    /// A `client_secret` form field next to `client_id`.
    ClientSecretPost,
}

/// Connection settings shared by every operation. Cheap to clone (the HTTP client is shared).
#[derive(Debug, Clone)]
pub struct Configuration {
    base_url: String,
    simple_key: Option<ApiKey>,
    browser_key: Option<ApiKey>,
    access_token: Option<AccessToken>,
    client_secret: Option<(ClientSecret, ClientAuthMethod)>,
    send_api_version: bool,
    timeout: Option<Duration>,
    user_agent: String,
    http: reqwest::Client,
}

impl Configuration {
    /// Starts from the defaults: UltraCart production, no credentials, version header on,
    /// 30 s timeout.
    pub fn builder() -> ConfigurationBuilder {
        ConfigurationBuilder::default()
    }

    /// The base URL without a trailing `/`, e.g. `https://secure.ultracart.com/rest/v2`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `base + path`, the way the official SDKs build operation URLs.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// The per-request timeout, if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The configured bearer access token, if any.
    pub fn access_token(&self) -> Option<&AccessToken> {
        self.access_token.as_ref()
    }

    pub(crate) fn simple_key(&self) -> Option<&ApiKey> {
        self.simple_key.as_ref()
    }

    pub(crate) fn browser_key(&self) -> Option<&ApiKey> {
        self.browser_key.as_ref()
    }

    pub(crate) fn client_secret(&self) -> Option<&(ClientSecret, ClientAuthMethod)> {
        self.client_secret.as_ref()
    }

    pub(crate) fn sends_api_version(&self) -> bool {
        self.send_api_version
    }

    pub(crate) fn user_agent(&self) -> &str {
        &self.user_agent
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The same configuration with a different bearer token (checked like at build time).
    pub(crate) fn with_access_token(&self, token: AccessToken) -> Result<Self, SdkError> {
        check_header_value("access token", token.secret())?;
        Ok(Self {
            access_token: Some(token),
            ..self.clone()
        })
    }
}

/// Builds a [`Configuration`]. Every setter is optional.
#[derive(Debug)]
pub struct ConfigurationBuilder {
    base_url: String,
    simple_key: Option<ApiKey>,
    browser_key: Option<ApiKey>,
    access_token: Option<AccessToken>,
    client_secret: Option<(ClientSecret, ClientAuthMethod)>,
    send_api_version: bool,
    timeout: Option<Duration>,
    user_agent: String,
    http: Option<reqwest::Client>,
}

impl Default for ConfigurationBuilder {
    fn default() -> Self {
        Self {
            base_url: ULTRACART_BASE_URL.to_owned(),
            simple_key: None,
            browser_key: None,
            access_token: None,
            client_secret: None,
            send_api_version: true,
            timeout: Some(DEFAULT_TIMEOUT),
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            http: None,
        }
    }
}

impl ConfigurationBuilder {
    /// The API base, ending in `/rest/v2` (trailing `/` characters are dropped).
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// Sends `x-ultracart-simple-key` (scheme `ultraCartSimpleApiKey`).
    pub fn simple_key(mut self, key: impl Into<String>) -> Self {
        self.simple_key = Some(ApiKey::new(key));
        self
    }

    /// Sends `x-ultracart-browser-key` (scheme `ultraCartBrowserApiKey`).
    pub fn browser_key(mut self, key: impl Into<String>) -> Self {
        self.browser_key = Some(ApiKey::new(key));
        self
    }

    /// Sends `Authorization: Bearer <token>` (scheme `ultraCartOauth`).
    pub fn access_token(mut self, token: AccessToken) -> Self {
        self.access_token = Some(token);
        self
    }

    /// Authenticates the application with its secret on the token, revoke and device endpoints.
    /// UltraCart's own SDKs never send one; ucoauth accepts it and some applications require it.
    pub fn client_secret(mut self, secret: ClientSecret, method: ClientAuthMethod) -> Self {
        self.client_secret = Some((secret, method));
        self
    }

    /// Whether to send `X-UltraCart-Api-Version: 2017-03-01` (default: yes).
    pub fn api_version_header(mut self, send: bool) -> Self {
        self.send_api_version = send;
        self
    }

    /// Time allowed for one request (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// No per-request timeout at all.
    pub fn no_timeout(mut self) -> Self {
        self.timeout = None;
        self
    }

    /// Replaces the `User-Agent` (default `ucoauth-sdk/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Uses this `reqwest` client (proxies, custom roots). The timeout and headers above still
    /// apply per request. The default client follows no redirects: a token endpoint that
    /// redirects is answered as [`SdkError::Api`], not followed with the credentials.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Checks the values and builds the configuration.
    pub fn build(self) -> Result<Configuration, SdkError> {
        let base_url = self.base_url.trim_end_matches('/').to_owned();
        let parsed = url::Url::parse(&base_url).map_err(|source| SdkError::InvalidUrl {
            url: base_url.clone(),
            source,
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(SdkError::InvalidConfig(format!(
                "the base URL must be http or https, not {:?}",
                parsed.scheme()
            )));
        }
        check_header_value("User-Agent", &self.user_agent)?;
        for (what, key) in [
            ("simple key", &self.simple_key),
            ("browser key", &self.browser_key),
        ] {
            if let Some(key) = key {
                check_header_value(what, key.secret())?;
            }
        }
        if let Some(token) = &self.access_token {
            check_header_value("access token", token.secret())?;
        }
        let http = match self.http {
            Some(client) => client,
            None => reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| SdkError::InvalidConfig(format!("HTTP client: {e}")))?,
        };
        Ok(Configuration {
            base_url,
            simple_key: self.simple_key,
            browser_key: self.browser_key,
            access_token: self.access_token,
            client_secret: self.client_secret,
            send_api_version: self.send_api_version,
            timeout: self.timeout,
            user_agent: self.user_agent,
            http,
        })
    }
}

/// Refuses values that cannot be an HTTP header (line breaks, control characters), naming the
/// setting but never echoing a secret.
fn check_header_value(what: &str, value: &str) -> Result<(), SdkError> {
    HeaderValue::from_str(value).map(drop).map_err(|_| {
        SdkError::InvalidConfig(format!(
            "the {what} contains characters not allowed in an HTTP header"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_point_at_ultracart_with_the_version_header_and_30s() {
        let config = Configuration::builder().build().unwrap();
        assert_eq!(config.base_url(), "https://secure.ultracart.com/rest/v2");
        assert_eq!(
            config.endpoint("/oauth/token"),
            "https://secure.ultracart.com/rest/v2/oauth/token"
        );
        assert!(config.sends_api_version());
        assert_eq!(config.timeout(), Some(Duration::from_secs(30)));
        assert_eq!(
            config.user_agent(),
            format!("ucoauth-sdk/{}", env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn trailing_slashes_are_stripped_like_the_official_sdks() {
        let config = Configuration::builder()
            .base_url("http://127.0.0.1:8080/rest/v2//")
            .build()
            .unwrap();
        assert_eq!(
            config.endpoint("/oauth/me"),
            "http://127.0.0.1:8080/rest/v2/oauth/me"
        );
    }

    #[test]
    fn bad_values_are_refused_without_echoing_secrets() {
        assert!(matches!(
            Configuration::builder().base_url("not a url").build(),
            Err(SdkError::InvalidUrl { .. })
        ));
        assert!(matches!(
            Configuration::builder().base_url("ftp://h/rest/v2").build(),
            Err(SdkError::InvalidConfig(_))
        ));
        let err = Configuration::builder()
            .simple_key("key\nX-Evil: 1")
            .build()
            .unwrap_err();
        assert!(!err.to_string().contains("Evil"), "{err}");
    }

    #[test]
    fn debug_output_hides_credentials() {
        let config = Configuration::builder()
            .simple_key("simple-123")
            .browser_key("browser-456")
            .access_token(AccessToken::new("token-789"))
            .client_secret(
                ClientSecret::new("secret-0"),
                ClientAuthMethod::ClientSecretPost,
            )
            .build()
            .unwrap();
        let shown = format!("{config:?}");
        for secret in ["simple-123", "browser-456", "token-789", "secret-0"] {
            assert!(!shown.contains(secret), "{secret} leaked: {shown}");
        }
    }
}
