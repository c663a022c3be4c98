//! [`OauthApi`]: the four operations of UltraCart's `OauthApi`, named and shaped like the
//! official SDKs' (`oauth_access_token`, `oauth_revoke`, `oauth_device_authorize`, `oauth_me`),
//! plus typed conveniences for the common flows (`exchange_code`, `refresh`; device polling is in
//! [`crate::device`]).

use std::{fmt, time::SystemTime};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use reqwest::{
    header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT},
    Method, RequestBuilder,
};
use ucoauth_wire::{
    params::{grant_type, header, API_VERSION},
    paths, OauthDeviceAuthorizationResponse, OauthMeResponse, OauthRevokeSuccessResponse,
    OauthTokenResponse,
};
use url::form_urlencoded;

use crate::{
    config::{ClientAuthMethod, Configuration},
    error::SdkError,
    pkce::PkceVerifier,
    response::RawResponse,
    token_set::TokenSet,
    types::{AccessToken, AuthorizationCode, ClientId, RedirectUrl, RefreshToken},
};

/// The optional form fields of [`OauthApi::oauth_access_token`], as in the official SDKs' `opts`.
/// `Debug` redacts the secret ones.
#[derive(Clone, Default)]
pub struct AccessTokenOpts {
    /// `code`: the authorization code (grant `authorization_code`).
    pub code: Option<String>,
    /// `redirect_uri`: the one sent to `/oauth/authorize`, if one was (grant `authorization_code`).
    pub redirect_uri: Option<String>,
    /// `refresh_token` (grant `refresh_token`).
    pub refresh_token: Option<String>,
    /// `device_code` (grant `urn:ietf:params:oauth:grant-type:device_code`).
    pub device_code: Option<String>,
    /// `code_verifier`: the PKCE verifier (RFC 7636 §4.5); not in UltraCart's SDKs.
    pub code_verifier: Option<String>,
}

impl fmt::Debug for AccessTokenOpts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hide = |value: &Option<String>| value.as_ref().map(|_| "[redacted]");
        f.debug_struct("AccessTokenOpts")
            .field("code", &hide(&self.code))
            .field("redirect_uri", &self.redirect_uri)
            .field("refresh_token", &hide(&self.refresh_token))
            .field("device_code", &hide(&self.device_code))
            .field("code_verifier", &hide(&self.code_verifier))
            .finish()
    }
}

/// Which credentials a request carries.
#[derive(Clone, Copy)]
enum Credentials<'a> {
    /// Token, revoke and device endpoints (global security in UltraCart's spec): the client
    /// secret if configured, and whichever of the three UltraCart schemes are configured.
    Client { client_id: &'a str },
    /// `/oauth/me` (scheme `ultraCartOauth`): the bearer token; without one, the simple or
    /// browser key, which ucoauth also accepts there.
    Resource,
}

/// The OAuth operations. Cheap to clone; share one per configuration.
///
/// ```no_run
/// # async fn run() -> Result<(), ucoauth_sdk::SdkError> {
/// use ucoauth_sdk::{Configuration, OauthApi};
///
/// let api = OauthApi::new(
///     Configuration::builder()
///         .base_url("http://127.0.0.1:8080/rest/v2")
///         .build()?,
/// );
/// # let _ = api; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct OauthApi {
    config: Configuration,
}

impl OauthApi {
    /// Operations over `config`.
    pub fn new(config: Configuration) -> Self {
        Self { config }
    }

    /// The configuration in use.
    pub fn configuration(&self) -> &Configuration {
        &self.config
    }

    /// The same API authenticated with `token` as bearer, e.g. for [`Self::oauth_me`] with a
    /// token from a [`crate::TokenSource`]. Fails if the token cannot be an HTTP header value.
    pub fn with_access_token(&self, token: AccessToken) -> Result<Self, SdkError> {
        Ok(Self {
            config: self.config.with_access_token(token)?,
        })
    }

    /// `POST {base}/oauth/token` (`oauthAccessToken`): the raw token request, any grant.
    ///
    /// Form fields in the order `client_id`, `grant_type`, `code`, `redirect_uri`,
    /// `refresh_token`, `device_code`, `code_verifier` (absent ones omitted), then
    /// `client_secret` if configured as [`ClientAuthMethod::ClientSecretPost`].
    ///
    /// A refusal is [`SdkError::Api`] with [`SdkError::oauth_error_code`] set when the server
    /// used the RFC 6749 §5.2 shape. A successful answer may lack fields; they are `None`.
    ///
    /// ```no_run
    /// # async fn run(api: ucoauth_sdk::OauthApi) -> Result<(), ucoauth_sdk::SdkError> {
    /// use ucoauth_sdk::AccessTokenOpts;
    ///
    /// let token = api
    ///     .oauth_access_token(
    ///         "5e31ce86e17f02015a35257c47151544",
    ///         "refresh_token",
    ///         AccessTokenOpts {
    ///             refresh_token: Some("a7f3...".into()),
    ///             ..AccessTokenOpts::default()
    ///         },
    ///     )
    ///     .await?;
    /// println!("expires in {:?} s", token.expires_in_seconds());
    /// # Ok(()) }
    /// ```
    pub async fn oauth_access_token(
        &self,
        client_id: &str,
        grant_type: &str,
        opts: AccessTokenOpts,
    ) -> Result<OauthTokenResponse, SdkError> {
        let mut form = vec![("client_id", client_id), ("grant_type", grant_type)];
        for (name, value) in [
            ("code", &opts.code),
            ("redirect_uri", &opts.redirect_uri),
            ("refresh_token", &opts.refresh_token),
            ("device_code", &opts.device_code),
            ("code_verifier", &opts.code_verifier),
        ] {
            if let Some(value) = value {
                form.push((name, value));
            }
        }
        self.post_form(paths::TOKEN, client_id, form)
            .await?
            .into_token_result()
    }

    /// `POST {base}/oauth/revoke` (`oauthRevoke`): ends the application's authorization for the
    /// merchant. `token` may be the access or the refresh token.
    ///
    /// ```no_run
    /// # async fn run(api: ucoauth_sdk::OauthApi, tokens: ucoauth_sdk::TokenSet) -> Result<(), ucoauth_sdk::SdkError> {
    /// let answer = api
    ///     .oauth_revoke("5e31ce86e17f02015a35257c47151544", tokens.access_token.secret())
    ///     .await?;
    /// assert_eq!(answer.successful, Some(true));
    /// # Ok(()) }
    /// ```
    pub async fn oauth_revoke(
        &self,
        client_id: &str,
        token: &str,
    ) -> Result<OauthRevokeSuccessResponse, SdkError> {
        let form = vec![("client_id", client_id), ("token", token)];
        self.post_form(paths::REVOKE, client_id, form)
            .await?
            .into_result()
    }

    /// `POST {base}/oauth/device/authorize` (`oauthDeviceAuthorize`): starts the device flow
    /// (RFC 8628 §3.1). `scope` is UltraCart's application-level scope (e.g. `crm`). Continue
    /// with [`Self::poll_device_token`].
    ///
    /// ```no_run
    /// # async fn run(api: ucoauth_sdk::OauthApi) -> Result<(), ucoauth_sdk::SdkError> {
    /// let started = api
    ///     .oauth_device_authorize("5e31ce86e17f02015a35257c47151544", "crm")
    ///     .await?;
    /// println!("enter {:?} at {:?}", started.user_code, started.verification_uri);
    /// # Ok(()) }
    /// ```
    pub async fn oauth_device_authorize(
        &self,
        client_id: &str,
        scope: &str,
    ) -> Result<OauthDeviceAuthorizationResponse, SdkError> {
        let form = vec![("client_id", client_id), ("scope", scope)];
        self.post_form(paths::DEVICE_AUTHORIZE, client_id, form)
            .await?
            .into_result()
    }

    /// `GET {base}/oauth/me` (`oauthMe`): which merchant authorized the configured access
    /// token, and with which scopes.
    ///
    /// ```no_run
    /// # async fn run(api: ucoauth_sdk::OauthApi, tokens: ucoauth_sdk::TokenSet) -> Result<(), ucoauth_sdk::SdkError> {
    /// let me = api.with_access_token(tokens.access_token)?.oauth_me().await?;
    /// println!("merchant {:?}, scopes {:?}", me.merchant_id, me.scopes);
    /// # Ok(()) }
    /// ```
    pub async fn oauth_me(&self) -> Result<OauthMeResponse, SdkError> {
        let request = self.request(Method::GET, paths::ME, Credentials::Resource)?;
        self.send(request).await?.into_result()
    }

    /// Redeems an authorization code (RFC 6749 §4.1.3): `grant_type=authorization_code`.
    /// Pass the `redirect_uri` if the authorize request had one, and the PKCE verifier if it had
    /// a challenge (the verifier is consumed: it is good for one exchange).
    ///
    /// ```no_run
    /// # async fn run(api: ucoauth_sdk::OauthApi, request: ucoauth_sdk::AuthorizeUrl) -> Result<(), ucoauth_sdk::SdkError> {
    /// use ucoauth_sdk::{AuthorizationCode, ClientId, RedirectUrl};
    ///
    /// // `request` came from AuthorizeUrl::builder(..).build(); the browser came back with `code`.
    /// let redirect = RedirectUrl::new("http://127.0.0.1:9000/callback").expect("valid URL");
    /// let tokens = api
    ///     .exchange_code(
    ///         &ClientId::new("5e31ce86e17f02015a35257c47151544"),
    ///         &AuthorizationCode::new("SplxlOBeZQQYbYS6WxSbIA"),
    ///         Some(&redirect),
    ///         Some(request.pkce_verifier),
    ///     )
    ///     .await?;
    /// # let _ = tokens; Ok(()) }
    /// ```
    pub async fn exchange_code(
        &self,
        client_id: &ClientId,
        code: &AuthorizationCode,
        redirect_uri: Option<&RedirectUrl>,
        pkce_verifier: Option<PkceVerifier>,
    ) -> Result<TokenSet, SdkError> {
        let opts = AccessTokenOpts {
            code: Some(code.secret().to_owned()),
            redirect_uri: redirect_uri.map(|uri| uri.as_str().to_owned()),
            code_verifier: pkce_verifier.map(PkceVerifier::into_secret),
            ..AccessTokenOpts::default()
        };
        let sent_at = SystemTime::now();
        let response = self
            .oauth_access_token(client_id.as_str(), grant_type::AUTHORIZATION_CODE, opts)
            .await?;
        TokenSet::from_response(response, sent_at)
    }

    /// Trades a refresh token for new tokens (RFC 6749 §6). If the server does not rotate the
    /// refresh token, the returned set keeps the one passed in. Store the result: ucoauth rotates
    /// refresh tokens, and the old one stops working. [`crate::TokenSource`] does this for you.
    ///
    /// ```no_run
    /// # async fn run(api: ucoauth_sdk::OauthApi, old: ucoauth_sdk::TokenSet) -> Result<(), ucoauth_sdk::SdkError> {
    /// use ucoauth_sdk::ClientId;
    ///
    /// let client_id = ClientId::new("5e31ce86e17f02015a35257c47151544");
    /// if let Some(refresh_token) = &old.refresh_token {
    ///     let fresh = api.refresh(&client_id, refresh_token).await?;
    ///     # let _ = fresh;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn refresh(
        &self,
        client_id: &ClientId,
        refresh_token: &RefreshToken,
    ) -> Result<TokenSet, SdkError> {
        let opts = AccessTokenOpts {
            refresh_token: Some(refresh_token.secret().to_owned()),
            ..AccessTokenOpts::default()
        };
        let sent_at = SystemTime::now();
        let response = self
            .oauth_access_token(client_id.as_str(), grant_type::REFRESH_TOKEN, opts)
            .await?;
        let mut tokens = TokenSet::from_response(response, sent_at)?;
        if tokens.refresh_token.is_none() {
            tokens.refresh_token = Some(refresh_token.clone());
        }
        Ok(tokens)
    }

    /// A form POST to `path` with client credentials.
    async fn post_form(
        &self,
        path: &str,
        client_id: &str,
        mut form: Vec<(&str, &str)>,
    ) -> Result<RawResponse, SdkError> {
        if let Some((secret, ClientAuthMethod::ClientSecretPost)) = self.config.client_secret() {
            form.push(("client_secret", secret.secret()));
        }
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = self
            .request(Method::POST, path, Credentials::Client { client_id })?
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            )
            .body(body);
        self.send(request).await
    }

    /// A request to `{base}{path}` with the default headers and `credentials`.
    fn request(
        &self,
        method: Method,
        path: &str,
        credentials: Credentials<'_>,
    ) -> Result<RequestBuilder, SdkError> {
        let config = &self.config;
        let mut request = config
            .http()
            .request(method, config.endpoint(path))
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .header(USER_AGENT, plain_header(config.user_agent())?);
        if let Some(timeout) = config.timeout() {
            request = request.timeout(timeout);
        }
        if config.sends_api_version() {
            request = request.header(header::API_VERSION, HeaderValue::from_static(API_VERSION));
        }
        let bearer = match config.access_token() {
            Some(token) => Some(secret_header(&format!("Bearer {}", token.secret()))?),
            None => None,
        };
        let mut keys = Vec::new();
        if let Some(key) = config.simple_key() {
            keys.push((header::SIMPLE_KEY, secret_header(key.secret())?));
        }
        if let Some(key) = config.browser_key() {
            keys.push((header::BROWSER_KEY, secret_header(key.secret())?));
        }
        match credentials {
            Credentials::Client { client_id } => {
                let basic = match config.client_secret() {
                    Some((secret, ClientAuthMethod::ClientSecretBasic)) => {
                        Some(basic_auth(client_id, secret.secret())?)
                    }
                    _ => None,
                };
                // Basic and Bearer both need `Authorization`; client authentication wins here.
                if let Some(authorization) = basic.or(bearer) {
                    request = request.header(AUTHORIZATION, authorization);
                }
                for (name, value) in keys {
                    request = request.header(name, value);
                }
            }
            Credentials::Resource => match bearer {
                Some(authorization) => request = request.header(AUTHORIZATION, authorization),
                None => {
                    for (name, value) in keys {
                        request = request.header(name, value);
                    }
                }
            },
        }
        Ok(request)
    }

    async fn send(&self, request: RequestBuilder) -> Result<RawResponse, SdkError> {
        let response = request.send().await.map_err(SdkError::Transport)?;
        RawResponse::read(response).await
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`, RFC 6749 §2.3.1.
fn basic_auth(client_id: &str, secret: &str) -> Result<HeaderValue, SdkError> {
    let encode =
        |value: &str| form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>();
    let credentials = format!("{}:{}", encode(client_id), encode(secret));
    secret_header(&format!("Basic {}", STANDARD.encode(credentials)))
}

fn plain_header(value: &str) -> Result<HeaderValue, SdkError> {
    HeaderValue::from_str(value).map_err(|_| {
        SdkError::InvalidConfig("a header value contains characters HTTP does not allow".into())
    })
}

/// A header value marked sensitive, so HTTP-layer logging leaves it out.
fn secret_header(value: &str) -> Result<HeaderValue, SdkError> {
    let mut value = plain_header(value)?;
    value.set_sensitive(true);
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded_before_base64() {
        let value = basic_auth("cid", "s:c ret").unwrap();
        let expected = format!("Basic {}", STANDARD.encode("cid:s%3Ac+ret"));
        assert_eq!(value.to_str().unwrap(), expected);
        assert!(value.is_sensitive());
    }

    #[test]
    fn access_token_opts_debug_hides_secrets() {
        let opts = AccessTokenOpts {
            code: Some("the-code".into()),
            refresh_token: Some("the-refresh".into()),
            code_verifier: Some("the-verifier".into()),
            device_code: Some("the-device".into()),
            redirect_uri: Some("https://app.example/cb".into()),
        };
        let shown = format!("{opts:?}");
        for secret in ["the-code", "the-refresh", "the-verifier", "the-device"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("https://app.example/cb"));
    }
}
