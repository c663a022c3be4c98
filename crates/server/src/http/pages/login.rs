//! Sign-in and sign-out of merchant users.

use axum::{
    extract::{RawQuery, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
};

use super::{error_page, render, views::LoginPage};
use crate::http::error::header_text;
use crate::{
    domain::{
        audit::{AuditEvent, AuditKind},
        password,
        secret::Purpose,
    },
    http::{
        client_ip::ClientIp,
        form::{FormError, FormParams},
        rate_limit::{Failures, Limit},
        session::{self, LOGIN_COOKIE, SESSION_COOKIE},
        AppState,
    },
};
use ucoauth_wire::params::header::UC_REST_ERROR;

pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = FormParams::parse(query.unwrap_or_default().as_bytes()).unwrap_or_default();
    let return_to = session::safe_return_to(query.optional("return_to").ok().flatten());
    match session::current_user(&state, &headers).await {
        Ok(Some(_)) => return Redirect::to(&return_to).into_response(),
        Ok(None) => {}
        Err(e) => return e.into_response(),
    }
    login_form(&state, StatusCode::OK, return_to, String::new(), None)
}

/// Renders the form with a fresh nonce cookie and its CSRF token.
fn login_form(
    state: &AppState,
    status: StatusCode,
    return_to: String,
    login: String,
    error: Option<String>,
) -> Response {
    let (nonce, csrf_token) = session::login_nonce(state);
    let header_message = error.as_deref().map(header_text);
    let mut response = render(
        status,
        &LoginPage {
            csrf_token,
            return_to,
            login,
            error,
        },
    );
    response.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(state, LOGIN_COOKIE, &nonce, 3600),
    );
    if let Some(message) = header_message {
        response.headers_mut().insert(UC_REST_ERROR, message);
    }
    response
}

pub async fn post(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    form: Result<FormParams, FormError>,
) -> Response {
    let form = match form {
        Ok(f) => f,
        Err(e) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "Sign-in failed",
                &e.message(),
                "Go back and submit the sign-in form again.",
            )
        }
    };
    let field = |name| form.optional(name).ok().flatten();
    let return_to = session::safe_return_to(field("return_to"));
    if !session::login_csrf_ok(&state, &headers, field("csrf_token")) {
        return login_form(
            &state,
            StatusCode::FORBIDDEN,
            return_to,
            String::new(),
            Some("Your sign-in form expired. Please sign in again.".into()),
        );
    }
    let login = field("login").unwrap_or_default().to_owned();
    let password_given = field("password").unwrap_or_default().to_owned();

    let ip_key = ip.as_str().to_owned();
    let limited = state
        .limiters
        .check(Limit::LoginIp, &ip_key)
        .err()
        .or_else(|| state.limiters.blocked(Failures::LoginAccount, &login));
    if let Some(wait) = limited {
        let mut page = login_form(
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            return_to,
            login,
            Some(format!(
                "Too many sign-in attempts. Wait {wait} seconds, then try again."
            )),
        );
        if let Ok(v) = header::HeaderValue::from_str(&wait.to_string()) {
            page.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return page;
    }

    let found = match state.store.find_user_by_login(&login).await {
        Ok(found) => found,
        Err(e) => return crate::http::error::ApiError::from(e).into_response(),
    };
    let phc = found.as_ref().map(|f| f.password_hash.clone());
    let ok = tokio::task::spawn_blocking(move || password::verify(&password_given, phc.as_deref()))
        .await
        .unwrap_or(false);
    let Some(user) = found.filter(|_| ok).map(|f| f.user) else {
        tracing::info!("sign-in failed");
        state
            .limiters
            .record_failure(Failures::LoginAccount, &login);
        // The login is recorded (it names an account, not a secret); the password never is.
        let event = AuditEvent::new(AuditKind::LoginFailed)
            .ip(ip.audit_ip())
            .detail(serde_json::json!({ "login": login }));
        if let Err(e) = state.store.audit(event, state.now()).await {
            return crate::http::error::ApiError::from(e).into_response();
        }
        return login_form(
            &state,
            StatusCode::UNAUTHORIZED,
            return_to,
            login,
            Some("The login or password is incorrect.".into()),
        );
    };

    // A new session id at every sign-in, and the old session (if any) ends.
    if let Some(old) = session::read_cookie(&headers, SESSION_COOKIE) {
        let _ = state
            .store
            .delete_session(state.config.pepper.digest(Purpose::Session, old))
            .await;
    }
    state
        .limiters
        .clear_failures(Failures::LoginAccount, &login);
    let event = AuditEvent::new(AuditKind::LoginSucceeded)
        .merchant(user.merchant_id.as_str())
        .user(user.user_id.as_str())
        .ip(ip.audit_ip());
    if let Err(e) = state.store.audit(event, state.now()).await {
        return crate::http::error::ApiError::from(e).into_response();
    }
    let session_id = match session::start(&state, &user).await {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    tracing::info!(user_id = %user.user_id, merchant_id = %user.merchant_id, "signed in");
    let max_age = state.config.session_ttl_ms / 1000;
    let mut response = Redirect::to(&return_to).into_response();
    let h = response.headers_mut();
    h.append(
        header::SET_COOKIE,
        session::set_cookie(&state, SESSION_COOKIE, &session_id, max_age),
    );
    h.append(
        header::SET_COOKIE,
        session::set_cookie(&state, LOGIN_COOKIE, "", 0),
    );
    response
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<FormParams, FormError>,
) -> Response {
    let signed_in = match session::current_user(&state, &headers).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    if let Some(signed_in) = signed_in {
        let token = form
            .as_ref()
            .ok()
            .and_then(|f| f.optional("csrf_token").ok().flatten());
        if !signed_in.csrf_ok(&state, token) {
            return error_page(
                StatusCode::FORBIDDEN,
                "Sign-out refused",
                "The form was not issued by this session.",
                "Reload the page and try again.",
            );
        }
        let hash = state
            .config
            .pepper
            .digest(Purpose::Session, &signed_in.session_id);
        if let Err(e) = state.store.delete_session(hash).await {
            return crate::http::error::ApiError::from(e).into_response();
        }
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(&state, SESSION_COOKIE, "", 0),
    );
    response
}
