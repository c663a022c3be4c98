//! The device flow's polling loop (RFC 8628 §3.4–3.5).
//!
//! After [`OauthApi::oauth_device_authorize`] the device shows the user code and polls the token
//! endpoint until the user has decided. The server steers the loop with error codes:
//! `authorization_pending` (keep polling), `slow_down` (keep polling, 5 s slower, for good),
//! `access_denied` and `expired_token` (stop). Anything else ends the loop with that error.

use std::{future::Future, time::Duration};

use ucoauth_wire::params::grant_type;

use crate::{
    api::{AccessTokenOpts, OauthApi},
    error::SdkError,
    token_set::TokenSet,
    types::{ClientId, DeviceCode},
};

/// RFC 8628 §3.5: on `slow_down` "the interval MUST be increased by 5 seconds for this and all
/// subsequent requests".
pub const SLOW_DOWN_INCREMENT: Duration = Duration::from_secs(5);

/// RFC 8628 §3.2: the interval to use when the server did not send one.
pub const DEFAULT_DEVICE_INTERVAL: Duration = Duration::from_secs(5);

/// How a device flow ended without tokens.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceFlowError {
    /// `access_denied`: the user refused.
    #[error("the user denied the device authorization request")]
    AccessDenied {
        /// The server's `error_description`.
        description: Option<String>,
    },
    /// `expired_token`: nobody approved before the device code expired; start again.
    #[error("the device code expired before it was approved; start the device flow again")]
    ExpiredToken {
        /// The server's `error_description`.
        description: Option<String>,
    },
}

impl DeviceFlowError {
    /// The RFC 8628 error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::AccessDenied { .. } => "access_denied",
            Self::ExpiredToken { .. } => "expired_token",
        }
    }

    /// The server's `error_description`.
    pub fn description(&self) -> Option<&str> {
        match self {
            Self::AccessDenied { description } | Self::ExpiredToken { description } => {
                description.as_deref()
            }
        }
    }
}

/// What one poll told the loop to do.
enum PollOutcome {
    Tokens(TokenSet),
    Pending,
    SlowDown,
}

impl OauthApi {
    /// Polls `POST {base}/oauth/token` with the device-code grant until the user approves,
    /// waiting `interval` before each request and 5 s longer after every `slow_down`.
    ///
    /// Returns the tokens, [`SdkError::Device`] when the user denied or the code expired, and
    /// any other error as soon as it happens (a transport failure ends polling too; call again
    /// to resume with the same device code).
    ///
    /// ```no_run
    /// # async fn run(api: ucoauth_sdk::OauthApi) -> Result<(), ucoauth_sdk::SdkError> {
    /// use std::time::Duration;
    /// use ucoauth_sdk::{ClientId, DeviceCode, DEFAULT_DEVICE_INTERVAL};
    ///
    /// let client_id = ClientId::new("5e31ce86e17f02015a35257c47151544");
    /// let started = api.oauth_device_authorize(client_id.as_str(), "crm").await?;
    /// println!(
    ///     "Visit {} and enter {}",
    ///     started.verification_uri.as_deref().unwrap_or_default(),
    ///     started.user_code.as_deref().unwrap_or_default()
    /// );
    /// let interval = started
    ///     .interval
    ///     .and_then(|s| u64::try_from(s).ok())
    ///     .map_or(DEFAULT_DEVICE_INTERVAL, Duration::from_secs);
    /// let device_code = DeviceCode::new(started.device_code.unwrap_or_default());
    /// let tokens = api.poll_device_token(&client_id, &device_code, interval).await?;
    /// # let _ = tokens; Ok(()) }
    /// ```
    pub async fn poll_device_token(
        &self,
        client_id: &ClientId,
        device_code: &DeviceCode,
        interval: Duration,
    ) -> Result<TokenSet, SdkError> {
        self.poll_device_token_with_sleep(client_id, device_code, interval, tokio::time::sleep)
            .await
    }

    /// [`Self::poll_device_token`] with the waiting done by `sleep`, so tests (and programs
    /// with their own timer) control time. `sleep` is called with the full wait before each poll.
    pub async fn poll_device_token_with_sleep<S, F>(
        &self,
        client_id: &ClientId,
        device_code: &DeviceCode,
        interval: Duration,
        mut sleep: S,
    ) -> Result<TokenSet, SdkError>
    where
        S: FnMut(Duration) -> F,
        F: Future<Output = ()>,
    {
        let mut interval = interval;
        loop {
            sleep(interval).await;
            match self.poll_device_token_once(client_id, device_code).await? {
                PollOutcome::Tokens(tokens) => return Ok(tokens),
                PollOutcome::Pending => {}
                PollOutcome::SlowDown => interval += SLOW_DOWN_INCREMENT,
            }
        }
    }

    /// One token request with the device-code grant, its answer sorted for the loop.
    async fn poll_device_token_once(
        &self,
        client_id: &ClientId,
        device_code: &DeviceCode,
    ) -> Result<PollOutcome, SdkError> {
        let opts = AccessTokenOpts {
            device_code: Some(device_code.secret().to_owned()),
            ..AccessTokenOpts::default()
        };
        let sent_at = std::time::SystemTime::now();
        let error = match self
            .oauth_access_token(client_id.as_str(), grant_type::DEVICE_CODE, opts)
            .await
        {
            Ok(response) => {
                return TokenSet::from_response(response, sent_at).map(PollOutcome::Tokens)
            }
            Err(error) => error,
        };
        let description = || error.oauth_error_description().map(str::to_owned);
        match error.oauth_error_code() {
            Some("authorization_pending") => Ok(PollOutcome::Pending),
            Some("slow_down") => Ok(PollOutcome::SlowDown),
            Some("access_denied") => Err(DeviceFlowError::AccessDenied {
                description: description(),
            }
            .into()),
            Some("expired_token") => Err(DeviceFlowError::ExpiredToken {
                description: description(),
            }
            .into()),
            _ => Err(error),
        }
    }
}
