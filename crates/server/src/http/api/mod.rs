//! The UltraCart REST API v2 OAuth endpoints.

pub mod authorize;
pub mod device;
pub mod introspect;
pub mod me;
pub mod metadata;
pub mod revoke;
pub mod token;

use super::{error::ApiError, form::FormError};
use axum::http::StatusCode;

/// A form that could not be read, as an `ErrorResponse`.
pub(crate) fn form_error(e: &FormError) -> ApiError {
    let status = match e {
        FormError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        FormError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        FormError::Malformed(_) => StatusCode::BAD_REQUEST,
    };
    ApiError::new(status, e.message())
}
