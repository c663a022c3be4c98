//! The back office: server-rendered pages where a signed-in merchant user manages Developer
//! Applications, Authorized Applications, API keys and Users. The pages call the same
//! [`crate::admin`] operations as the CLI and the admin JSON API.
//!
//! Every page needs a live session (else a 303 to `/login?return_to=...`), every form carries
//! the session's CSRF token (else 403, nothing changes), and every response carries a CSP that
//! also limits form targets to this origin (`form-action 'self'`). After a successful POST the
//! browser is sent on with a 303 (post/redirect/get), except where a secret is shown once: that
//! page is the POST's own answer, so the secret is never in a URL or a cache (`no-store`).

pub mod applications;
pub mod authorized;
pub mod keys;
pub mod users;
pub mod views;

use askama::Template;
use axum::{
    http::{header, HeaderMap, HeaderValue, StatusCode, Uri},
    response::{IntoResponse, Redirect, Response},
};
use url::Url;

use super::{error_page, render};
use crate::{
    admin::{AdminError, Paging},
    domain::audit::Actor,
    http::{
        client_ip::ClientIp,
        error::ApiError,
        form::{FormError, FormParams},
        session::{self, SignedIn},
        AppState,
    },
};

/// The signed-in user as the audit trail names them, with the request's address.
pub fn actor(signed_in: &SignedIn, ip: &ClientIp) -> Actor {
    Actor::user(signed_in.user.user_id.as_str(), ip.audit_ip())
}

/// Rows per page of every back-office list.
pub const PER_PAGE: i64 = 20;

/// The back-office CSP: the global one plus `form-action 'self'` (the consent page cannot have
/// it, since its form's answer redirects to the application).
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Which area a page belongs to; the navigation marks it as current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Home,
    Applications,
    Authorized,
    Keys,
    Users,
}

/// What the layout of every back-office page shows: who is signed in, the sign-out form's
/// CSRF token, the current area, and a one-line notice after a successful change.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub login: String,
    pub merchant_id: String,
    pub csrf_token: String,
    pub area: Area,
    pub notice: Option<&'static str>,
}

impl Chrome {
    pub fn new(state: &AppState, signed_in: &SignedIn, area: Area) -> Self {
        Self {
            login: signed_in.user.login.clone(),
            merchant_id: signed_in.user.merchant_id.clone(),
            csrf_token: signed_in.csrf_token(state),
            area,
            notice: None,
        }
    }

    pub fn with_notice(mut self, notice: Option<&'static str>) -> Self {
        self.notice = notice;
        self
    }

    /// For the navigation: whether `name` is the current area.
    pub fn is(&self, name: &str) -> bool {
        let area = match self.area {
            Area::Home => "home",
            Area::Applications => "applications",
            Area::Authorized => "authorized",
            Area::Keys => "keys",
            Area::Users => "users",
        };
        area == name
    }
}

/// The signed-in user, or the answer that sends the browser to sign in first (and back here
/// afterwards, for a GET).
pub async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<SignedIn, Response> {
    match session::current_user(state, headers).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => {
            let here = uri
                .path_and_query()
                .map_or("/", axum::http::uri::PathAndQuery::as_str);
            Err(Redirect::to(&login_url(here)).into_response())
        }
        Err(e) => Err(e.into_response()),
    }
}

/// `/login?return_to=<return_to>`.
fn login_url(return_to: &str) -> String {
    Url::parse_with_params("http://x/login", [("return_to", return_to)])
        .map(|u| format!("/login?{}", u.query().unwrap_or_default()))
        .unwrap_or_else(|_| "/login".to_owned())
}

/// A signed-in user's form, checked: readable, and carrying this session's CSRF token. When the
/// session has ended, nothing is done and the browser signs in again, then returns to `back`.
pub async fn signed_in_form(
    state: &AppState,
    headers: &HeaderMap,
    back: &str,
    form: Result<FormParams, FormError>,
) -> Result<(SignedIn, FormParams), Response> {
    let signed_in = match session::current_user(state, headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(Redirect::to(&login_url(back)).into_response()),
        Err(e) => return Err(e.into_response()),
    };
    let form = match form {
        Ok(f) => f,
        Err(e) => {
            return Err(error_page(
                StatusCode::BAD_REQUEST,
                "The form could not be read",
                &e.message(),
                "Go back, reload the page and submit the form again.",
            ))
        }
    };
    if !signed_in.csrf_ok(state, form.optional("csrf_token").ok().flatten()) {
        tracing::info!("back-office form refused: CSRF token missing or wrong");
        return Err(error_page(
            StatusCode::FORBIDDEN,
            "Request refused",
            "The form was not issued by this session, so nothing was changed.",
            "Reload the page and try again.",
        ));
    }
    Ok((signed_in, form))
}

/// Renders a back-office page with its CSP.
pub fn page(status: StatusCode, template: &impl Template) -> Response {
    let mut response = render(status, template);
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    response
}

/// A 303 to `location` (post/redirect/get).
pub fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}

/// The one value of `name` in a form, or "" (absent, empty or repeated).
pub fn text(form: &FormParams, name: &str) -> String {
    form.optional(name)
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_owned()
}

/// Reads `?page=N&notice=...` of a list page.
pub struct ListQuery {
    pub page: i64,
    pub notice: Option<&'static str>,
}

impl ListQuery {
    pub fn parse(query: Option<&str>) -> Self {
        let params = FormParams::parse(query.unwrap_or_default().as_bytes()).unwrap_or_default();
        let page = params
            .optional("page")
            .ok()
            .flatten()
            .and_then(|p| p.parse::<i64>().ok())
            .filter(|p| (1..=1_000_000).contains(p))
            .unwrap_or(1);
        let notice = params
            .optional("notice")
            .ok()
            .flatten()
            .and_then(notice_text);
        Self { page, notice }
    }

    pub fn paging(&self) -> Paging {
        Paging {
            offset: (self.page - 1) * PER_PAGE,
            limit: PER_PAGE,
        }
    }
}

/// The notices a redirect may ask for; anything else shows nothing (no reflected text).
fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "saved" => "Your changes were saved.",
        "deleted" => "The application was deleted and every authorization it held was revoked.",
        "revoked" => "Access was revoked; its tokens no longer work.",
        "key-revoked" => "The API key was revoked; it no longer works.",
        "added" => "The user was added.",
        "removed" => "The user was removed and signed out everywhere.",
        "password" => "The password was changed; the user's other sessions were signed out.",
        _ => return None,
    })
}

/// Pagination links for a list page.
#[derive(Debug, Clone)]
pub struct Pager {
    pub page: i64,
    pub pages: i64,
    pub total: i64,
    /// The list's path, e.g. `/applications`.
    pub path: &'static str,
}

impl Pager {
    pub fn new(path: &'static str, page: i64, total: i64) -> Self {
        Self {
            page,
            pages: ((total + PER_PAGE - 1) / PER_PAGE).max(1),
            total,
            path,
        }
    }

    pub fn prev(&self) -> Option<String> {
        (self.page > 1).then(|| format!("{}?page={}", self.path, (self.page - 1).min(self.pages)))
    }

    pub fn next(&self) -> Option<String> {
        (self.page < self.pages).then(|| format!("{}?page={}", self.path, self.page + 1))
    }
}

/// An operation's failure as a page (validation failures are shown on the form instead).
pub fn admin_error_page(e: AdminError) -> Response {
    match e {
        AdminError::NotFound(m) => error_page(
            StatusCode::NOT_FOUND,
            "Not found",
            &m,
            "It may have been deleted or revoked already. Go back to the list.",
        ),
        AdminError::Forbidden(m) => error_page(
            StatusCode::FORBIDDEN,
            "Not allowed",
            &m,
            "Go back to the list.",
        ),
        AdminError::Conflict(m) => error_page(
            StatusCode::CONFLICT,
            "That cannot be done",
            &m,
            "Go back to the list.",
        ),
        AdminError::Invalid(fields) => error_page(
            StatusCode::BAD_REQUEST,
            "Please check the form",
            &fields.to_string(),
            "Go back and correct the form.",
        ),
        AdminError::Store(s) => ApiError::from(s).into_response(),
    }
}
