//! [`SdkError`]: one type, with the kinds of failure kept apart.
//!
//! - [`SdkError::Api`]: the server answered and said no (any non-2xx, or a token response with
//!   `error` set). Carries the status, the `UC-REST-ERROR` header, the raw body, and the body
//!   parsed as either of UltraCart's two error shapes when it is one.
//! - [`SdkError::Transport`]: no usable answer arrived (connection refused, TLS, timeout).
//! - [`SdkError::Decode`]: a 2xx answer arrived but could not be read; carries the bytes.
//! - [`SdkError::Device`]: the device flow ended without tokens (denied or expired).
//! - the rest are local: an unusable token response, no refresh token, persistence failure,
//!   bad configuration.

use reqwest::StatusCode;
use ucoauth_wire::{ErrorResponse, OauthTokenResponse};

use crate::device::DeviceFlowError;

/// A boxed error from user code (the persistence callback of [`crate::TokenSource`]).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything an SDK call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    /// The server answered with a refusal.
    #[error("the server refused the request ({status}){}", api_summary(.uc_rest_error, .error_response, .oauth_error))]
    Api {
        /// The HTTP status.
        status: StatusCode,
        /// The `UC-REST-ERROR` header: UltraCart's one-line human-readable reason.
        uc_rest_error: Option<String>,
        /// The raw body (lossy UTF-8, at most 1 MiB), whatever it was: JSON, HTML, empty.
        body: String,
        /// The body as UltraCart's `ErrorResponse`, if it had that shape.
        error_response: Option<Box<ErrorResponse>>,
        /// The body as an RFC 6749 §5.2 error (`{"error":"invalid_grant",...}`), if it had that
        /// shape; `error` is always set here.
        oauth_error: Option<Box<OauthTokenResponse>>,
    },

    /// The request did not get an answer: connection, TLS, or timeout failure.
    #[error("the request failed before an answer arrived: {0}")]
    Transport(#[source] reqwest::Error),

    /// A successful status came with a body that could not be parsed.
    #[error("could not read the server's {status} answer: {source}")]
    Decode {
        /// The HTTP status (2xx).
        status: StatusCode,
        /// The raw body (lossy UTF-8, at most 1 MiB).
        body: String,
        /// What the JSON parser said.
        #[source]
        source: serde_json::Error,
    },

    /// The device flow ended without tokens.
    #[error(transparent)]
    Device(#[from] DeviceFlowError),

    /// A successful token response that cannot be used (no `access_token`, or a `token_type`
    /// other than `bearer`).
    #[error("the token response cannot be used: {reason}")]
    InvalidTokenResponse {
        /// What is wrong with it.
        reason: String,
    },

    /// The tokens need refreshing but there is no refresh token: authorize again.
    #[error("the access token expired and there is no refresh token; authorize again")]
    NoRefreshToken,

    /// Refreshed tokens could not be saved by the persistence callback. The new tokens are kept
    /// in memory and saving is retried on the next call; see [`crate::TokenSource`].
    #[error("refreshed tokens could not be saved: {0}")]
    Persist(#[source] BoxError),

    /// A URL that cannot be parsed.
    #[error("invalid URL {url:?}: {source}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What the URL parser said.
        #[source]
        source: url::ParseError,
    },

    /// A configuration value that cannot be used (for example a key with a line break).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
}

impl SdkError {
    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Api { status, .. } | Self::Decode { status, .. } => Some(*status),
            Self::Transport(e) => e.status(),
            _ => None,
        }
    }

    /// The RFC 6749 §5.2 / RFC 8628 §3.5 error code (`invalid_grant`, `access_denied`, ...),
    /// when the server sent one.
    pub fn oauth_error_code(&self) -> Option<&str> {
        match self {
            Self::Api {
                oauth_error: Some(body),
                ..
            } => body.error.as_deref(),
            Self::Device(e) => Some(e.code()),
            _ => None,
        }
    }

    /// The `error_description` that came with [`Self::oauth_error_code`].
    pub fn oauth_error_description(&self) -> Option<&str> {
        match self {
            Self::Api {
                oauth_error: Some(body),
                ..
            } => body.error_description.as_deref(),
            Self::Device(e) => e.description(),
            _ => None,
        }
    }

    /// The `UC-REST-ERROR` header of a refusal.
    pub fn uc_rest_error(&self) -> Option<&str> {
        match self {
            Self::Api { uc_rest_error, .. } => uc_rest_error.as_deref(),
            _ => None,
        }
    }

    /// The refusal's body parsed as UltraCart's `ErrorResponse`.
    pub fn error_response(&self) -> Option<&ErrorResponse> {
        match self {
            Self::Api { error_response, .. } => error_response.as_deref(),
            _ => None,
        }
    }

    /// The raw body of a refusal or of an unreadable answer.
    pub fn body(&self) -> Option<&str> {
        match self {
            Self::Api { body, .. } | Self::Decode { body, .. } => Some(body),
            _ => None,
        }
    }

    /// True when the request timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Transport(e) if e.is_timeout())
    }
}

/// The most specific reason a refusal carries, for `Display`.
fn api_summary(
    uc_rest_error: &Option<String>,
    error_response: &Option<Box<ErrorResponse>>,
    oauth_error: &Option<Box<OauthTokenResponse>>,
) -> String {
    if let Some(body) = oauth_error {
        let code = body.error.as_deref().unwrap_or_default();
        return match body.error_description.as_deref() {
            Some(description) => format!(": {code}: {description}"),
            None => format!(": {code}"),
        };
    }
    if let Some(message) = uc_rest_error {
        return format!(": {message}");
    }
    let developer_message = error_response
        .as_ref()
        .and_then(|body| body.error.as_ref())
        .and_then(|error| error.developer_message.as_deref());
    match developer_message {
        Some(message) => format!(": {message}"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_prefers_the_oauth_error_then_the_header() {
        let err = SdkError::Api {
            status: StatusCode::BAD_REQUEST,
            uc_rest_error: Some("code expired".into()),
            body: String::new(),
            error_response: None,
            oauth_error: Some(Box::new(OauthTokenResponse::error(
                "invalid_grant",
                "code expired",
            ))),
        };
        assert_eq!(
            err.to_string(),
            "the server refused the request (400 Bad Request): invalid_grant: code expired"
        );
        assert_eq!(err.oauth_error_code(), Some("invalid_grant"));
        assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST));

        let err = SdkError::Api {
            status: StatusCode::BAD_GATEWAY,
            uc_rest_error: Some("upstream down".into()),
            body: "<html>".into(),
            error_response: None,
            oauth_error: None,
        };
        assert_eq!(
            err.to_string(),
            "the server refused the request (502 Bad Gateway): upstream down"
        );
        assert_eq!(err.oauth_error_code(), None);
    }

    #[test]
    fn error_stays_small_enough_to_return_cheaply() {
        assert!(std::mem::size_of::<SdkError>() <= 128);
    }
}
