//! Browser sessions and CSRF tokens for the pages.
//!
//! The session cookie holds a random id; the database holds only its keyed hash. CSRF tokens
//! are derived from the session id with the pepper (`HMAC(pepper, "session-csrf" || id)`), so
//! they need no storage and every node can check them. Before sign-in, a random nonce cookie
//! plays the session's part for the login form.

use axum::http::{header, HeaderMap, HeaderValue};

use super::{error::ApiError, AppState};
use crate::domain::{
    model::User,
    secret::{self, Purpose},
};
use crate::store::credentials::HashedCredential;

pub const SESSION_COOKIE: &str = "ucoauth_session";
pub const LOGIN_COOKIE: &str = "ucoauth_login";
/// Nonce for the device verification form of a browser that is not signed in yet.
pub const DEVICE_COOKIE: &str = "ucoauth_device";

/// The value of cookie `name`, if sent.
pub fn read_cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax (the authorize link arrives as a cross-site
/// top-level navigation, which Lax still lets the cookie ride on), Secure over TLS.
pub fn set_cookie(state: &AppState, name: &str, value: &str, max_age_secs: i64) -> HeaderValue {
    let secure = if state.config.cookie_secure() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A signed-in user and the session id their cookie carries.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: User,
    pub session_id: String,
}

impl SignedIn {
    /// The CSRF token forms of this session must carry.
    pub fn csrf_token(&self, state: &AppState) -> String {
        state
            .config
            .pepper
            .derive_token(Purpose::SessionCsrf, &self.session_id)
    }

    pub fn csrf_ok(&self, state: &AppState, presented: Option<&str>) -> bool {
        presented.is_some_and(|p| {
            state
                .config
                .pepper
                .verify_derived(Purpose::SessionCsrf, &self.session_id, p)
        })
    }
}

/// The user of the session cookie, if it names a live session.
pub async fn current_user(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<SignedIn>, ApiError> {
    let Some(session_id) = read_cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    // Our ids are 43 characters; anything else cannot be a session and costs no lookup.
    if session_id.len() != 43 {
        return Ok(None);
    }
    let hash = state
        .store
        .resolve_digest(
            state.config.peppers(),
            HashedCredential::Session,
            session_id,
        )
        .await?;
    let user = state.store.find_session(&hash, state.now()).await?;
    Ok(user.map(|user| SignedIn {
        user,
        session_id: session_id.to_owned(),
    }))
}

/// Starts a new session for `user` (a fresh id at every sign-in: no fixation) and returns the
/// id for the cookie.
pub async fn start(state: &AppState, user: &User) -> Result<String, ApiError> {
    let session_id = secret::new_token();
    let now = state.now();
    state
        .store
        .create_session(
            state.config.pepper.digest(Purpose::Session, &session_id),
            user.user_id.clone(),
            now,
            now + state.config.session_ttl_ms,
        )
        .await?;
    Ok(session_id)
}

/// A login-form nonce and the CSRF token bound to it.
pub fn login_nonce(state: &AppState) -> (String, String) {
    let nonce = secret::new_token();
    let token = state.config.pepper.derive_token(Purpose::LoginCsrf, &nonce);
    (nonce, token)
}

pub fn login_csrf_ok(state: &AppState, headers: &HeaderMap, presented: Option<&str>) -> bool {
    match (read_cookie(headers, LOGIN_COOKIE), presented) {
        (Some(nonce), Some(token)) => {
            state
                .config
                .pepper
                .verify_derived(Purpose::LoginCsrf, nonce, token)
        }
        _ => false,
    }
}

/// A device-form nonce and the CSRF token bound to it (the login nonce's twin, for the code
/// entry form shown before sign-in).
pub fn device_nonce(state: &AppState) -> (String, String) {
    let nonce = secret::new_token();
    let token = state
        .config
        .pepper
        .derive_token(Purpose::DeviceCsrf, &nonce);
    (nonce, token)
}

pub fn device_csrf_ok(state: &AppState, headers: &HeaderMap, presented: Option<&str>) -> bool {
    match (read_cookie(headers, DEVICE_COOKIE), presented) {
        (Some(nonce), Some(token)) => {
            state
                .config
                .pepper
                .verify_derived(Purpose::DeviceCsrf, nonce, token)
        }
        _ => false,
    }
}

/// A `return_to` target we are willing to send a browser to: a local path, never another
/// origin (`//host`, `/\host` and schemes are refused).
pub fn safe_return_to(candidate: Option<&str>) -> String {
    match candidate {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control) =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_stays_on_this_origin() {
        assert_eq!(
            safe_return_to(Some("/rest/v2/oauth/authorize?a=1")),
            "/rest/v2/oauth/authorize?a=1"
        );
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "evil",
            "/a\nb",
        ] {
            assert_eq!(safe_return_to(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_return_to(None), "/");
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; ucoauth_session=xyz; b=2"),
        );
        assert_eq!(read_cookie(&h, SESSION_COOKIE), Some("xyz"));
        assert_eq!(read_cookie(&h, LOGIN_COOKIE), None);
    }
}
