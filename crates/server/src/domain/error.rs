//! The OAuth refusals of RFC 6749 §4.1.2.1 and §5.2 as one domain error. The HTTP layer maps it
//! to the wire (token-endpoint JSON, `ErrorResponse`, or a redirect with `error=`) in one place.

use std::fmt;

/// RFC 6749 error codes, plus RFC 8628's polling codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OauthErrorKind {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    AuthorizationPending,
    SlowDown,
    ExpiredToken,
}

impl OauthErrorKind {
    /// The code as it appears on the wire.
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
        }
    }
}

/// A refusal with a message that is safe to show the client (never a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OauthError {
    pub kind: OauthErrorKind,
    pub description: String,
}

impl OauthError {
    pub fn new(kind: OauthErrorKind, description: impl Into<String>) -> Self {
        Self {
            kind,
            description: description.into(),
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(OauthErrorKind::InvalidRequest, description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(OauthErrorKind::InvalidGrant, description)
    }

    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(OauthErrorKind::InvalidClient, description)
    }

    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(OauthErrorKind::InvalidScope, description)
    }
}

impl fmt::Display for OauthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.description)
    }
}

impl std::error::Error for OauthError {}
