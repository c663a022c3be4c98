//! A Rust client for UltraCart-compatible OAuth 2 servers: UltraCart's REST API v2 `OauthApi`
//! (`https://secure.ultracart.com/rest/v2`) and ucoauth.
//!
//! The operations are the official SDKs' own ([`OauthApi::oauth_access_token`],
//! [`OauthApi::oauth_revoke`], [`OauthApi::oauth_device_authorize`], [`OauthApi::oauth_me`]),
//! with the wire models from [`ucoauth_wire`]. On top sit typed helpers for each flow, newtypes
//! that keep secrets out of logs, and a [`TokenSource`] that refreshes for you.
//!
//! # Connect
//!
//! ```no_run
//! use ucoauth_sdk::{Configuration, OauthApi};
//!
//! let api = OauthApi::new(
//!     Configuration::builder()
//!         .base_url("http://127.0.0.1:8080/rest/v2") // default: UltraCart production
//!         .build()?,
//! );
//! # Ok::<(), ucoauth_sdk::SdkError>(())
//! ```
//! Every request sends `Accept: application/json`, `User-Agent: ucoauth-sdk/<version>` and
//! `X-UltraCart-Api-Version: 2017-03-01` (switch off with
//! [`ConfigurationBuilder::api_version_header`]), plus whichever credentials are configured:
//! simple key, browser key, bearer token, client secret (Basic or form, [`ClientAuthMethod`]).
//!
//! # Flow: authorization code (with PKCE)
//!
//! ```no_run
//! # async fn run(api: ucoauth_sdk::OauthApi) -> Result<(), ucoauth_sdk::SdkError> {
//! use ucoauth_sdk::{verify_state, AuthorizationCode, AuthorizeUrl, ClientId, RedirectUrl};
//!
//! let client_id = ClientId::new("5e31ce86e17f02015a35257c47151544");
//! let redirect = RedirectUrl::new("http://127.0.0.1:9000/callback").expect("valid URL");
//! let request = AuthorizeUrl::builder(api.configuration().base_url(), &client_id)
//!     .redirect_uri(redirect.clone())
//!     .scope("item_read")
//!     .build()?;
//! println!("Open {}", request.url);
//! // The browser comes back to the callback with ?code=...&state=...
//! # let (code, state) = (String::new(), String::new());
//! if !verify_state(&request.state, &state) {
//!     return Ok(()); // not the request we started: ignore it
//! }
//! let tokens = api
//!     .exchange_code(&client_id, &AuthorizationCode::new(code), Some(&redirect), Some(request.pkce_verifier))
//!     .await?;
//! # let _ = tokens; Ok(()) }
//! ```
//!
//! # Flow: refresh
//!
//! By hand with [`OauthApi::refresh`], or let a [`TokenSource`] do it: it refreshes shortly
//! before expiry, sends one refresh however many tasks ask at once, and saves the rotated tokens
//! before handing them out.
//!
//! ```no_run
//! # async fn run(api: ucoauth_sdk::OauthApi, client_id: ucoauth_sdk::ClientId) -> Result<(), Box<dyn std::error::Error>> {
//! use ucoauth_sdk::{TokenSet, TokenSource};
//!
//! let saved: TokenSet = serde_json::from_slice(&std::fs::read("tokens.json")?)?;
//! let source = TokenSource::new(api.clone(), client_id, saved)
//!     .on_refresh(|tokens| std::fs::write("tokens.json", serde_json::to_vec(tokens)?));
//! let me = api.with_access_token(source.access_token().await?)?.oauth_me().await?;
//! println!("connected to merchant {:?}", me.merchant_id);
//! # Ok(()) }
//! ```
//!
//! # Flow: device (RFC 8628)
//!
//! [`OauthApi::oauth_device_authorize`], show the user code, then
//! [`OauthApi::poll_device_token`], which honours `interval`, slows down on `slow_down`, and ends
//! with [`DeviceFlowError`] on `access_denied` / `expired_token`. Example on
//! [`OauthApi::poll_device_token`].
//!
//! # Flow: revoke
//!
//! [`OauthApi::oauth_revoke`] with the access or refresh token ends the application's
//! authorization for that merchant.
//!
//! # Flow: who am I
//!
//! [`OauthApi::oauth_me`] names the merchant and the granted scopes of the configured token.
//!
//! # Errors
//!
//! [`SdkError`] keeps "the server said no" ([`SdkError::Api`], with the status, the
//! `UC-REST-ERROR` header, the raw body and [`SdkError::oauth_error_code`]) apart from "no answer"
//! ([`SdkError::Transport`]) and "an answer that could not be read" ([`SdkError::Decode`], with
//! the bytes). Odd answers (HTML error pages, truncated or empty bodies, numbers where strings
//! belong, missing fields) become values or errors, never panics.
//!
//! # Layout
//!
//! - `config`: [`Configuration`], [`ConfigurationBuilder`], [`ClientAuthMethod`].
//! - `api`: [`OauthApi`]'s operations and the code/refresh helpers; `device`: device polling.
//! - `authorize_url`: [`AuthorizeUrl`], [`verify_state`]; `pkce`: [`PkceVerifier`].
//! - `types`: the newtypes; `token_set`: [`TokenSet`]; `token_source`: [`TokenSource`].
//! - `error`: [`SdkError`]; `response`: how answers become values or errors.

mod api;
mod authorize_url;
mod config;
mod device;
mod error;
mod pkce;
mod response;
mod token_set;
mod token_source;
mod types;

pub use api::{AccessTokenOpts, OauthApi};
pub use authorize_url::{verify_state, AuthorizeUrl, AuthorizeUrlBuilder};
pub use config::{
    ClientAuthMethod, Configuration, ConfigurationBuilder, DEFAULT_TIMEOUT, DEFAULT_USER_AGENT,
};
pub use device::{DeviceFlowError, DEFAULT_DEVICE_INTERVAL, SLOW_DOWN_INCREMENT};
pub use error::{BoxError, SdkError};
pub use pkce::{InvalidPkceVerifier, PkceVerifier, PKCE_METHOD_S256};
pub use token_set::TokenSet;
pub use token_source::{TokenSource, DEFAULT_REFRESH_MARGIN};
pub use types::{
    AccessToken, ApiKey, AuthorizationCode, ClientId, ClientSecret, CsrfState, DeviceCode,
    PkceChallenge, RedirectUrl, RefreshToken, Scope,
};
/// The wire models, re-exported so callers need one dependency.
pub use ucoauth_wire as wire;
pub use ucoauth_wire::{
    ErrorResponse, OauthDeviceAuthorizationResponse, OauthMeResponse, OauthRevokeSuccessResponse,
    OauthTokenResponse,
};

/// Compiles the README's example as a doctest, so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
