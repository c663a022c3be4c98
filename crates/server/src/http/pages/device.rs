//! The device verification page (RFC 8628 §3.3), at the `verification_uri` that
//! `/oauth/device/authorize` hands out.
//!
//! 1. `GET /device[?user_code=XXXX-XXXX]`: the code entry form (pre-filled from
//!    `verification_uri_complete`). Anyone may see it.
//! 2. `POST /device`: reads the typed code (any case, with or without the dash) and sends the
//!    browser (303) to sign-in first if needed, then to `GET /device?user_code=...`.
//! 3. `GET /device?user_code=...`, signed in: looks the code up and shows the consent screen
//!    with the code, so the merchant can compare it with the device (RFC 8628 §5.4).
//! 4. `POST /device/decision`: approve (creates the grant) or deny (recorded); 303 to
//!    `/device/approved` or `/device/denied`.
//!
//! Codes are looked up only for signed-in users, and every lookup that does not find a pending
//! request counts against the browser session and the client address (RFC 8628 §5.1); the
//! limits are `ServerConfig::device_verify_per_*`, kept in the database for every node.

use axum::{
    extract::{RawQuery, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use url::Url;

use super::{
    error_page, render,
    views::{ConsentPage, DeviceDonePage, DevicePage},
};
use crate::{
    domain::{
        device::UserCode,
        secret::{self, Purpose},
    },
    http::{
        client_ip::ClientIp,
        error::ApiError,
        form::{FormError, FormParams},
        session::{self, SignedIn, DEVICE_COOKIE},
        AppState,
    },
    store::{
        devices::{DeviceDecision, PendingDevice, Verification},
        rate_limits::{Counter, TooMany},
    },
};
use ucoauth_wire::scopes;

/// The verification page: `verification_uri`.
pub const DEVICE_PAGE: &str = "/device";
/// Where the consent form posts.
pub const DEVICE_DECISION: &str = "/device/decision";
pub const DEVICE_APPROVED: &str = "/device/approved";
pub const DEVICE_DENIED: &str = "/device/denied";

const TOO_MANY: &str = "Too many codes were tried from this browser or network. Wait a few minutes, then enter the code again.";

/// The code entry form. Signed in, its CSRF token is the session's; otherwise it is bound to a
/// fresh nonce cookie.
fn entry_form(
    state: &AppState,
    signed_in: Option<&SignedIn>,
    status: StatusCode,
    typed: &str,
    error: Option<&str>,
) -> Response {
    let (cookie, csrf_token) = match signed_in {
        Some(s) => (None, s.csrf_token(state)),
        None => {
            let (nonce, token) = session::device_nonce(state);
            (Some(nonce), token)
        }
    };
    let mut response = render(
        status,
        &DevicePage {
            csrf_token,
            user_code: typed.chars().take(32).collect(),
            error: error.map(str::to_owned),
            login: signed_in.map(|s| s.user.login.clone()),
        },
    );
    if let Some(nonce) = cookie {
        response.headers_mut().append(
            header::SET_COOKIE,
            session::set_cookie(state, DEVICE_COOKIE, &nonce, 3600),
        );
    }
    response
}

/// The form again, with the "too many attempts" message and `Retry-After`.
fn too_many(state: &AppState, signed_in: &SignedIn, typed: &str, t: TooMany) -> Response {
    let mut response = entry_form(
        state,
        Some(signed_in),
        StatusCode::TOO_MANY_REQUESTS,
        typed,
        Some(TOO_MANY),
    );
    if let Ok(v) = HeaderValue::from_str(&t.retry_after_secs.max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// The counters a user-code lookup by this browser counts against.
fn counters(state: &AppState, signed_in: &SignedIn, ip: &ClientIp) -> Vec<Counter> {
    let session_key = hex::encode(
        state
            .config
            .pepper
            .digest(Purpose::Session, &signed_in.session_id),
    );
    vec![
        Counter::new(
            "device-verify-session",
            &session_key,
            state.config.device_verify_per_session,
        ),
        Counter::new(
            "device-verify-ip",
            ip.as_str(),
            state.config.device_verify_per_ip,
        ),
    ]
}

/// `GET /device`.
pub async fn get(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = FormParams::parse(query.unwrap_or_default().as_bytes()).unwrap_or_default();
    let typed = query
        .optional("user_code")
        .ok()
        .flatten()
        .unwrap_or_default();
    let signed_in = match session::current_user(&state, &headers).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let Some(signed_in) = signed_in else {
        return entry_form(&state, None, StatusCode::OK, typed, None);
    };
    if typed.is_empty() {
        return entry_form(&state, Some(&signed_in), StatusCode::OK, "", None);
    }
    let code = match UserCode::parse(typed) {
        Ok(c) => c,
        Err(e) => {
            return entry_form(
                &state,
                Some(&signed_in),
                StatusCode::BAD_REQUEST,
                typed,
                Some(e.message()),
            )
        }
    };
    let found = state
        .store
        .find_pending_device(
            state.config.pepper.digest(Purpose::UserCode, code.as_str()),
            state.now(),
            counters(&state, &signed_in, &ip),
        )
        .await;
    match found {
        Ok(Verification::Ok(pending)) => consent(&state, &signed_in, &code, pending).await,
        Ok(Verification::NotPending(why)) => entry_form(
            &state,
            Some(&signed_in),
            StatusCode::BAD_REQUEST,
            typed,
            Some(why.message()),
        ),
        Ok(Verification::TooMany(t)) => too_many(&state, &signed_in, typed, t),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The consent screen for a pending device request.
async fn consent(
    state: &AppState,
    signed_in: &SignedIn,
    code: &UserCode,
    pending: PendingDevice,
) -> Response {
    let app = match state.store.find_application(&pending.client_id).await {
        Ok(Some(app)) => app,
        Ok(None) => {
            return error_page(
                StatusCode::GONE,
                "Application no longer registered",
                "The application that asked for this code has been removed.",
                "Nothing was authorized. You can close this page.",
            )
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    let page = ConsentPage {
        app_name: app.name,
        description: app.description,
        developer_name: app.developer_name,
        developer_email: app.developer_email,
        developer_url: app.developer_url,
        redirect_host: String::new(),
        device_user_code: Some(code.display()),
        login: signed_in.user.login.clone(),
        merchant_id: signed_in.user.merchant_id.clone(),
        scopes: pending
            .scopes
            .names()
            .iter()
            .map(|s| {
                let description =
                    scopes::describe(s).unwrap_or("A permission not in UltraCart's catalogue.");
                (s.clone(), description.to_owned())
            })
            .collect(),
        form_action: DEVICE_DECISION.to_owned(),
        csrf_token: signed_in.csrf_token(state),
        hidden: vec![("user_code".to_owned(), code.display())],
    };
    render(StatusCode::OK, &page)
}

/// `POST /device`: the typed code; on to sign-in (if needed) and the consent screen.
pub async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<FormParams, FormError>,
) -> Response {
    let signed_in = match session::current_user(&state, &headers).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let form = match form {
        Ok(f) => f,
        Err(e) => {
            return entry_form(
                &state,
                signed_in.as_ref(),
                StatusCode::BAD_REQUEST,
                "",
                Some(&e.message()),
            )
        }
    };
    let field = |name| form.optional(name).ok().flatten();
    let typed = field("user_code").unwrap_or_default();
    let csrf_ok = match &signed_in {
        Some(s) => s.csrf_ok(&state, field("csrf_token")),
        None => session::device_csrf_ok(&state, &headers, field("csrf_token")),
    };
    if !csrf_ok {
        return entry_form(
            &state,
            signed_in.as_ref(),
            StatusCode::FORBIDDEN,
            typed,
            Some("This form has expired. Please enter the code again."),
        );
    }
    let code = match UserCode::parse(typed) {
        Ok(c) => c,
        Err(e) => {
            return entry_form(
                &state,
                signed_in.as_ref(),
                StatusCode::BAD_REQUEST,
                typed,
                Some(e.message()),
            )
        }
    };
    // The display form is letters, digits and '-': safe in a URL as it is.
    let next = format!("{DEVICE_PAGE}?user_code={}", code.display());
    if signed_in.is_some() {
        return Redirect::to(&next).into_response();
    }
    let login = Url::parse_with_params("http://x/login", [("return_to", next.as_str())])
        .map(|u| format!("/login?{}", u.query().unwrap_or_default()))
        .unwrap_or_else(|_| "/login".to_owned());
    let mut response = Redirect::to(&login).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(&state, DEVICE_COOKIE, "", 0),
    );
    response
}

/// `POST /device/decision`: the consent decision.
pub async fn decide(
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
                "Nothing was authorized",
                &e.message(),
                "Go back and submit the form again.",
            )
        }
    };
    let signed_in = match session::current_user(&state, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return error_page(
                StatusCode::FORBIDDEN,
                "Your session has ended",
                "You were signed out before the decision reached us; nothing was authorized.",
                "Enter the code from your device again.",
            )
        }
        Err(e) => return e.into_response(),
    };
    let field = |name| form.optional(name).ok().flatten();
    // A cross-site form cannot approve or deny: the token is bound to this session.
    if !signed_in.csrf_ok(&state, field("csrf_token")) {
        return error_page(
            StatusCode::FORBIDDEN,
            "Authorization refused",
            "The consent form was not issued by this session; nothing was authorized.",
            "Enter the code from your device again.",
        );
    }
    let typed = field("user_code").unwrap_or_default();
    let code = match UserCode::parse(typed) {
        Ok(c) => c,
        Err(e) => {
            return entry_form(
                &state,
                Some(&signed_in),
                StatusCode::BAD_REQUEST,
                typed,
                Some(e.message()),
            )
        }
    };
    let approve = match field("decision") {
        Some("approve") => true,
        Some("deny") => false,
        _ => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "No decision",
                "Choose Approve or Deny.",
                "Go back and press one of the two buttons.",
            )
        }
    };
    let grant_id = approve.then(secret::new_id);
    let decided = state
        .store
        .decide_device(DeviceDecision {
            user_code_hash: state.config.pepper.digest(Purpose::UserCode, code.as_str()),
            user: signed_in.user.clone(),
            approve_as_grant: grant_id.clone(),
            now: state.now(),
            counters: counters(&state, &signed_in, &ip),
            origin: ip.origin(),
        })
        .await;
    let pending = match decided {
        Ok(Verification::Ok(p)) => p,
        Ok(Verification::NotPending(why)) => {
            return entry_form(
                &state,
                Some(&signed_in),
                StatusCode::BAD_REQUEST,
                typed,
                Some(why.message()),
            )
        }
        Ok(Verification::TooMany(t)) => return too_many(&state, &signed_in, typed, t),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let merchant_id = &signed_in.user.merchant_id;
    if let Some(grant_id) = grant_id {
        tracing::info!(%grant_id, client_id = %pending.client_id, %merchant_id, "device authorization approved");
        Redirect::to(DEVICE_APPROVED).into_response()
    } else {
        tracing::info!(client_id = %pending.client_id, %merchant_id, "device authorization denied");
        Redirect::to(DEVICE_DENIED).into_response()
    }
}

/// `GET /device/approved`.
pub async fn approved() -> Response {
    render(
        StatusCode::OK,
        &DeviceDonePage {
            title: "Device connected".into(),
            message: "Access has been granted. You can return to your device; it will finish connecting by itself.".into(),
            hint: "You can close this page.".into(),
        },
    )
}

/// `GET /device/denied`.
pub async fn denied() -> Response {
    render(
        StatusCode::OK,
        &DeviceDonePage {
            title: "Access denied".into(),
            message: "The device was not given access to your account.".into(),
            hint: "You can close this page.".into(),
        },
    )
}
