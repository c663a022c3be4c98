//! The guard's refusals, in UltraCart's error shape with RFC 6750 challenges.
//!
//! | refusal | status | `WWW-Authenticate` |
//! |---|---|---|
//! | no credential | 401 | `Bearer realm="…"` (no error code, RFC 6750 §3.1) |
//! | browser key alone, or a simple key where none are accepted | 401 | `Bearer realm="…"` |
//! | malformed credential | 400 | `Bearer realm="…", error="invalid_request", …` |
//! | unknown, expired or revoked token/key | 401 | `Bearer realm="…", error="invalid_token", …` |
//! | missing scope | 403 | `Bearer realm="…", error="insufficient_scope", scope="…", …` |
//! | the check itself failed | 503 + `Retry-After` | none |
//!
//! Every body is an `ErrorResponse` (`success:false`, `error.error_code` = the status) and every
//! response carries `UC-REST-ERROR` with the developer message and `Cache-Control: no-store`.

use std::sync::Arc;

use axum::{
    response::{IntoResponse, Response},
    Json,
};
use http::{header, HeaderValue, StatusCode};
use ucoauth_wire::{params::header::UC_REST_ERROR, ErrorResponse};

/// Why a request was not let through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardError {
    /// No credential at all.
    Missing,
    /// Only `x-ultracart-browser-key`: browser keys do not belong on server-side routes.
    BrowserKeyNotAccepted,
    /// A simple key, but this service was given no way to check simple keys.
    SimpleKeysNotAccepted,
    /// The credential is malformed (400 `invalid_request`).
    InvalidRequest(String),
    /// The token or key is unknown, expired or revoked (401 `invalid_token`).
    InvalidToken(&'static str),
    /// The credential lacks scopes the route requires (403 `insufficient_scope`).
    InsufficientScope {
        /// Every scope the route requires.
        required: Vec<String>,
        /// The ones the credential lacks.
        missing: Vec<String>,
    },
    /// The credential could not be checked right now (503).
    Unavailable,
}

impl GuardError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The RFC 6750 §3.1 error code, if the refusal has one.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            Self::InvalidRequest(_) => Some("invalid_request"),
            Self::InvalidToken(_) => Some("invalid_token"),
            Self::InsufficientScope { .. } => Some("insufficient_scope"),
            _ => None,
        }
    }

    /// For developers: what was wrong and what to send instead.
    pub fn developer_message(&self) -> String {
        match self {
            Self::Missing => "authentication is required: send Authorization: Bearer <access token> (or x-ultracart-simple-key)".into(),
            Self::BrowserKeyNotAccepted => "browser keys (x-ultracart-browser-key) are not accepted by this endpoint; send Authorization: Bearer <access token> or x-ultracart-simple-key".into(),
            Self::SimpleKeysNotAccepted => "simple keys (x-ultracart-simple-key) are not accepted by this service; send Authorization: Bearer <access token>".into(),
            Self::InvalidRequest(m) => m.clone(),
            Self::InvalidToken(m) => (*m).to_owned(),
            Self::InsufficientScope { missing, .. } => format!(
                "the credential lacks the permission this endpoint requires: {}",
                missing.join(" ")
            ),
            Self::Unavailable => "credentials cannot be checked right now; retry shortly".into(),
        }
    }

    fn user_message(&self) -> &'static str {
        match self.status().as_u16() {
            400 => "The request was not valid.",
            401 => "Authentication is required.",
            403 => "You are not allowed to do that.",
            _ => "The service is temporarily unavailable; please try again shortly.",
        }
    }
}

/// A [`GuardError`] ready to be answered, with the realm of the guard that refused.
#[derive(Debug, Clone)]
pub struct Rejection {
    pub error: GuardError,
    pub realm: Arc<str>,
}

impl Rejection {
    /// The `WWW-Authenticate` value, if the refusal carries a challenge.
    pub fn challenge(&self) -> Option<String> {
        if self.error == GuardError::Unavailable {
            return None;
        }
        let mut challenge = format!("Bearer realm=\"{}\"", quote_safe(&self.realm));
        if let Some(code) = self.error.code() {
            challenge.push_str(&format!(
                ", error=\"{code}\", error_description=\"{}\"",
                quote_safe(&self.error.developer_message())
            ));
        }
        if let GuardError::InsufficientScope { required, .. } = &self.error {
            // RFC 6750 §3: the scope needed to access the resource.
            challenge.push_str(&format!(", scope=\"{}\"", quote_safe(&required.join(" "))));
        }
        Some(challenge)
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let status = self.error.status();
        let message = self.error.developer_message();
        let body = ErrorResponse::new(status.as_u16(), message.clone(), self.error.user_message());
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(UC_REST_ERROR, header_text(&message));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(challenge) = self.challenge() {
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                headers.insert(header::WWW_AUTHENTICATE, value);
            }
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// A message as a header value: visible ASCII and spaces, at most 300 characters.
fn header_text(message: &str) -> HeaderValue {
    let clean: String = message
        .chars()
        .take(300)
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect();
    HeaderValue::from_str(&clean).unwrap_or_else(|_| HeaderValue::from_static("error"))
}

/// Text safe inside a quoted-string.
fn quote_safe(text: &str) -> String {
    text.chars()
        .filter(|c| *c != '"' && *c != '\\' && (*c == ' ' || c.is_ascii_graphic()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reject(error: GuardError) -> Rejection {
        Rejection {
            error,
            realm: "items".into(),
        }
    }

    #[test]
    fn a_missing_credential_gets_a_challenge_without_an_error_code() {
        let r = reject(GuardError::Missing);
        assert_eq!(r.challenge().unwrap(), "Bearer realm=\"items\"");
        assert_eq!(r.error.status(), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn insufficient_scope_names_the_required_scopes() {
        let r = reject(GuardError::InsufficientScope {
            required: vec!["item_read".into(), "item_write".into()],
            missing: vec!["item_write".into()],
        });
        let c = r.challenge().unwrap();
        assert!(
            c.starts_with("Bearer realm=\"items\", error=\"insufficient_scope\""),
            "{c}"
        );
        assert!(c.ends_with("scope=\"item_read item_write\""), "{c}");
        let response = r.into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(response.headers()["uc-rest-error"]
            .to_str()
            .unwrap()
            .contains("item_write"));
    }

    #[test]
    fn unavailable_is_a_503_with_retry_after_and_no_challenge() {
        let response = reject(GuardError::Unavailable).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }
}
