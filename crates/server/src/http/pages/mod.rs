//! Server-rendered pages: sign-in, consent, device verification, errors, and the back office.
//! They work without JavaScript; forms carry CSRF tokens; the security headers of
//! `http::security_headers` forbid framing.

pub mod backoffice;
pub mod device;
pub mod home;
pub mod login;
pub mod views;

use askama::Template;
use axum::{
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{Html, IntoResponse, Response},
};

use super::error::{header_text, ApiError};
use ucoauth_wire::params::header::UC_REST_ERROR;

/// Renders a page with `status`.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => ApiError::internal(&e).into_response(),
    }
}

/// An error page; carries `UC-REST-ERROR` like every other error response.
pub fn error_page(status: StatusCode, title: &str, message: &str, hint: &str) -> Response {
    let mut response = render(
        status,
        &views::ErrorPage {
            title: title.to_owned(),
            message: message.to_owned(),
            hint: hint.to_owned(),
        },
    );
    response
        .headers_mut()
        .insert(UC_REST_ERROR, header_text(message));
    response
}

/// Whether the client wants HTML (a browser) rather than JSON (an API client).
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// `/static/ucoauth.css`, compiled into the binary.
pub async fn stylesheet() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        include_str!("../../../templates/ucoauth.css"),
    )
        .into_response()
}
