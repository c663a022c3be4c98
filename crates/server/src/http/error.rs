//! Every error the HTTP layer sends, mapped to UltraCart's wire shapes in one place.
//!
//! - [`ApiError`]: the `ErrorResponse` body (`success:false`, `error.error_code` = status) for
//!   everything except token-endpoint refusals.
//! - [`TokenError`]: `/oauth/token` refusals in the `OauthTokenResponse` shape with the
//!   RFC 6749 §5.2 codes (401 + `WWW-Authenticate` for `invalid_client`).
//!
//! Both carry `UC-REST-ERROR` with the human-readable message and `Cache-Control: no-store`.
//! Server faults are logged here, once, with their cause; the client sees a generic message.

use axum::{
    http::{header, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use ucoauth_wire::{params::header::UC_REST_ERROR, ErrorResponse, OauthTokenResponse};

use crate::{
    admin::AdminError,
    domain::{OauthError, OauthErrorKind},
    store::StoreError,
};

/// An error answered with an `ErrorResponse` body.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// For developers: what was wrong and how to fix it.
    pub developer_message: String,
    /// For end users.
    pub user_message: String,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, developer_message: impl Into<String>) -> Self {
        let developer_message = developer_message.into();
        let user_message = match status.as_u16() {
            400 | 413 | 415 => "The request was not valid.",
            401 => "Authentication is required.",
            403 => "You are not allowed to do that.",
            404 => "Not found.",
            405 => "That method is not allowed here.",
            409 => "That cannot be done in the current state.",
            429 => "Too many requests; please wait and try again.",
            503 => "The service is temporarily unavailable; please try again shortly.",
            _ => "Something went wrong on our side.",
        }
        .to_owned();
        Self {
            status,
            developer_message,
            user_message,
            headers: Vec::new(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// 401 with an RFC 6750 challenge; `error` is e.g. `invalid_token`.
    pub fn unauthorized_bearer(error: Option<&str>, message: impl Into<String>) -> Self {
        let message = message.into();
        let challenge = match error {
            Some(code) => format!(
                "Bearer realm=\"ucoauth\", error=\"{code}\", error_description=\"{}\"",
                quote_safe(&message)
            ),
            None => "Bearer realm=\"ucoauth\"".to_owned(),
        };
        Self::new(StatusCode::UNAUTHORIZED, message)
            .with_header(header::WWW_AUTHENTICATE, &challenge)
    }

    /// 401 for failed client authentication (RFC 6749 §5.2).
    pub fn unauthorized_client(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
            .with_header(header::WWW_AUTHENTICATE, "Basic realm=\"ucoauth\"")
    }

    /// 429 with `Retry-After` (RFC 6585 §4).
    pub fn too_many_requests(retry_after_secs: i64, message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, message)
            .with_header(header::RETRY_AFTER, &retry_after_secs.max(1).to_string())
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "this HTTP method is not allowed on this path",
        )
    }

    /// A server fault: logged with its cause, answered generically.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal server error; the cause has been logged",
        )
    }

    pub fn with_header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
        self
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the database is unavailable; retry shortly",
                )
                .with_header(header::RETRY_AFTER, "1")
            }
            StoreError::Conflict(what) => {
                Self::new(StatusCode::CONFLICT, format!("{what} already exists"))
            }
            other => Self::internal(&other),
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Invalid(_) => Self::bad_request(e.to_string()),
            AdminError::NotFound(m) => Self::not_found(m),
            AdminError::Forbidden(m) => Self::forbidden(m),
            AdminError::Conflict(m) => Self::new(StatusCode::CONFLICT, m),
            AdminError::Store(s) => s.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorResponse {
            error: Some(ucoauth_wire::Error {
                developer_message: Some(self.developer_message.clone()),
                error_code: Some(self.status.as_u16().to_string()),
                more_info: None,
                object_id: None,
                user_message: Some(self.user_message),
            }),
            metadata: Some(Default::default()),
            success: Some(false),
            warning: None,
        };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(UC_REST_ERROR, header_text(&self.developer_message));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        response
    }
}

/// A `/oauth/token` failure.
#[derive(Debug)]
pub enum TokenError {
    /// An OAuth refusal, in the `OauthTokenResponse` shape.
    Oauth {
        status: StatusCode,
        error: OauthError,
    },
    /// A server-side failure, in the `ErrorResponse` shape.
    Server(ApiError),
}

impl TokenError {
    pub fn with_status(status: StatusCode, error: OauthError) -> Self {
        Self::Oauth { status, error }
    }
}

impl From<OauthError> for TokenError {
    fn from(error: OauthError) -> Self {
        let status = match error.kind {
            OauthErrorKind::InvalidClient => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        };
        Self::Oauth { status, error }
    }
}

impl From<StoreError> for TokenError {
    fn from(e: StoreError) -> Self {
        Self::Server(e.into())
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let (status, error) = match self {
            Self::Server(api) => return api.into_response(),
            Self::Oauth { status, error } => (status, error),
        };
        let body = OauthTokenResponse::error(error.kind.code(), error.description.clone());
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(UC_REST_ERROR, header_text(&error.description));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"ucoauth\""),
            );
        }
        response
    }
}

/// A message as a header value: visible ASCII only, at most 300 characters.
pub fn header_text(message: &str) -> HeaderValue {
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

/// A message safe inside a quoted-string of `WWW-Authenticate`.
fn quote_safe(message: &str) -> String {
    message
        .chars()
        .filter(|c| *c != '"' && *c != '\\' && (*c == ' ' || c.is_ascii_graphic()))
        .collect()
}
