//! `GET /oauth/authorize` and the consent decision (`POST` to the same path).
//!
//! The request is validated in two stages (RFC 6749 §4.1.2.1): while the client or redirect URI
//! is unknown or does not match, the error is shown here and the browser is **never** sent
//! anywhere (no open redirect); once the redirect URI is trusted, every other error goes back to
//! it as `error=...&state=...`. The consent form carries the request's parameters, and the POST
//! validates them all again, so no pending-request state lives on any node.

use axum::{
    extract::{RawQuery, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use url::Url;

use crate::{
    domain::{
        audit::{AuditEvent, AuditKind},
        model::Application,
        pkce,
        profile::Policy,
        redirect,
        scope::ScopeSet,
        secret::{self, Purpose},
        OauthError, OauthErrorKind,
    },
    http::{
        client_ip::ClientIp,
        error::ApiError,
        form::{FormError, FormParams},
        pages::{self, views::ConsentPage},
        session::{self, SignedIn},
        AppState,
    },
    store::grants::NewApproval,
};
use ucoauth_wire::{paths, scopes};

/// The parameters of an authorization request that travel through the consent form.
const CARRIED: [&str; 7] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
];

/// A request that passed every check.
struct Valid {
    app: Application,
    redirect_uri: String,
    redirect_uri_explicit: bool,
    scopes: ScopeSet,
    state: String,
    challenge: Option<(String, pkce::Method)>,
}

/// Why a request cannot proceed.
enum Invalid {
    /// Shown to the user; the redirect URI is not trusted.
    Page(StatusCode, String),
    /// Sent back to the application's redirect URI.
    Redirect {
        redirect_uri: String,
        error: OauthError,
        state: Option<String>,
    },
}

fn validate(
    state: &AppState,
    app: Option<Application>,
    params: &FormParams,
) -> Result<Valid, Invalid> {
    let one = |name: &str| -> Result<Option<String>, Invalid> {
        params
            .optional(name)
            .map(|v| v.map(str::to_owned))
            .map_err(|_| {
                Invalid::Page(
                    StatusCode::BAD_REQUEST,
                    format!("The parameter {name} was sent more than once."),
                )
            })
    };
    let client_id = one("client_id")?;
    let requested_uri = one("redirect_uri")?;
    let Some(client_id) = client_id else {
        return Err(Invalid::Page(
            StatusCode::BAD_REQUEST,
            "The authorization link is missing client_id.".into(),
        ));
    };
    let Some(app) = app.filter(|a| a.client_id == client_id) else {
        return Err(Invalid::Page(
            StatusCode::BAD_REQUEST,
            "The authorization link names an application (client_id) that is not registered."
                .into(),
        ));
    };
    let Some(redirect_uri) =
        redirect::resolve(requested_uri.as_deref(), &app.redirect_uris).map(str::to_owned)
    else {
        let why = if requested_uri.is_some() {
            "The redirect_uri does not exactly match any redirect URI registered for this application."
        } else {
            "The application has several redirect URIs registered, so the link must name one (redirect_uri)."
        };
        return Err(Invalid::Page(StatusCode::BAD_REQUEST, why.into()));
    };

    // From here on the redirect URI is trusted: errors go back to the application.
    let back = |error: OauthError, st: Option<String>| Invalid::Redirect {
        redirect_uri: redirect_uri.clone(),
        error,
        state: st,
    };
    let redirect_state = params.optional("state").ok().flatten().map(str::to_owned);
    let strict_one = |name: &str| -> Result<Option<String>, Invalid> {
        params
            .optional(name)
            .map(|v| v.map(str::to_owned))
            .map_err(|_| {
                back(
                    OauthError::invalid_request(format!("{name} must not be sent more than once")),
                    redirect_state.clone(),
                )
            })
    };
    let state_param = strict_one("state")?;
    let response_type = strict_one("response_type")?;
    let scope = strict_one("scope")?;
    let challenge = strict_one("code_challenge")?;
    let method = strict_one("code_challenge_method")?;

    match response_type.as_deref() {
        Some("code") => {}
        None => {
            return Err(back(
                OauthError::invalid_request("response_type is required and must be code"),
                state_param,
            ))
        }
        Some(_) => {
            return Err(back(
                OauthError::new(
                    OauthErrorKind::UnsupportedResponseType,
                    "only response_type=code is supported",
                ),
                state_param,
            ))
        }
    }
    let Some(client_state) = state_param else {
        return Err(back(OauthError::invalid_request("state is required"), None));
    };
    let scopes = match scope.as_deref() {
        None => app.scopes.clone(),
        Some(text) => {
            let asked = ScopeSet::parse(text).map_err(|e| back(e, Some(client_state.clone())))?;
            if asked.is_empty() {
                app.scopes.clone()
            } else if asked.is_subset_of(&app.scopes) {
                asked
            } else {
                let extra: Vec<_> = asked.outside(&app.scopes).collect();
                return Err(back(
                    OauthError::invalid_scope(format!(
                        "the application is not registered for: {}",
                        extra.join(" ")
                    )),
                    Some(client_state),
                ));
            }
        }
    };
    let policy = Policy::new(
        state.config.profile,
        app.profile,
        app.require_pkce,
        app.require_secret,
    );
    let challenge = match challenge {
        Some(c) => {
            let m = pkce::Method::parse(method.as_deref())
                .map_err(|e| back(e, Some(client_state.clone())))?;
            if m == pkce::Method::Plain && !policy.allow_plain_pkce {
                return Err(back(
                    OauthError::invalid_request(
                        "code_challenge_method=plain is not allowed; use S256",
                    ),
                    Some(client_state),
                ));
            }
            pkce::validate_challenge(&c, m).map_err(|e| back(e, Some(client_state.clone())))?;
            Some((c, m))
        }
        None if method.is_some() => {
            return Err(back(
                OauthError::invalid_request(
                    "code_challenge_method was sent without code_challenge",
                ),
                Some(client_state),
            ))
        }
        None if policy.require_pkce => {
            return Err(back(
                OauthError::invalid_request("code_challenge is required (PKCE with S256)"),
                Some(client_state),
            ))
        }
        None => None,
    };
    Ok(Valid {
        app,
        redirect_uri,
        redirect_uri_explicit: requested_uri.is_some(),
        scopes,
        state: client_state,
        challenge,
    })
}

/// `redirect_uri` with `params` appended to its query (keeping any query it already has).
fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return pages::error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Cannot return to the application",
            "The registered redirect URI cannot be parsed.",
            "Tell the application's developer.",
        );
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in params {
            query.append_pair(k, v);
        }
    }
    Redirect::to(url.as_str()).into_response()
}

fn answer_invalid(state: &AppState, headers: &HeaderMap, invalid: Invalid) -> Response {
    match invalid {
        Invalid::Page(status, message) => {
            if pages::wants_html(headers) {
                pages::error_page(
                    status,
                    "This authorization link is not valid",
                    &message,
                    "You have not been sent anywhere. Tell the application's developer what this page says.",
                )
            } else {
                ApiError::new(status, message).into_response()
            }
        }
        Invalid::Redirect {
            redirect_uri,
            error,
            state: client_state,
        } => {
            let issuer = state.config.issuer();
            let mut params = vec![
                ("error", error.kind.code()),
                ("error_description", error.description.as_str()),
            ];
            if let Some(s) = client_state.as_deref() {
                params.push(("state", s));
            }
            params.push(("iss", issuer.as_str()));
            redirect_with(&redirect_uri, &params)
        }
    }
}

async fn load_app(state: &AppState, params: &FormParams) -> Result<Option<Application>, ApiError> {
    match params.optional("client_id") {
        // Our client_ids are short; anything huge is not one and costs no lookup.
        Ok(Some(id)) if id.len() <= 128 => Ok(state.store.find_application(id).await?),
        _ => Ok(None),
    }
}

/// `GET /rest/v2/oauth/authorize`.
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let raw = query.unwrap_or_default();
    let params = match FormParams::parse(raw.as_bytes()) {
        Ok(p) => p,
        Err(e) => {
            return answer_invalid(
                &state,
                &headers,
                Invalid::Page(StatusCode::BAD_REQUEST, e.message()),
            )
        }
    };
    let app = match load_app(&state, &params).await {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let valid = match validate(&state, app, &params) {
        Ok(v) => v,
        Err(invalid) => return answer_invalid(&state, &headers, invalid),
    };
    let signed_in = match session::current_user(&state, &headers).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let Some(signed_in) = signed_in else {
        // UltraCart answers the authorize URL with a 307 to its login page.
        let return_to = format!("{}{}?{raw}", paths::API_BASE, paths::AUTHORIZE);
        let login = Url::parse_with_params("http://x/login", [("return_to", return_to.as_str())])
            .map(|u| format!("/login?{}", u.query().unwrap_or_default()))
            .unwrap_or_else(|_| "/login".to_owned());
        return Redirect::temporary(&login).into_response();
    };
    consent_page(&state, &signed_in, &valid, &params)
}

fn consent_page(
    state: &AppState,
    signed_in: &SignedIn,
    valid: &Valid,
    params: &FormParams,
) -> Response {
    let hidden = CARRIED
        .iter()
        .filter_map(|name| {
            params
                .optional(name)
                .ok()
                .flatten()
                .map(|v| ((*name).to_owned(), v.to_owned()))
        })
        .collect();
    let redirect_host = Url::parse(&valid.redirect_uri)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(str::to_owned)
                .or_else(|| Some(u.scheme().to_owned()))
        })
        .unwrap_or_default();
    let app = &valid.app;
    let page = ConsentPage {
        app_name: app.name.clone(),
        description: app.description.clone(),
        developer_name: app.developer_name.clone(),
        developer_email: app.developer_email.clone(),
        developer_url: app.developer_url.clone(),
        redirect_host,
        device_user_code: None,
        login: signed_in.user.login.clone(),
        merchant_id: signed_in.user.merchant_id.clone(),
        scopes: valid
            .scopes
            .names()
            .iter()
            .map(|s| {
                let description =
                    scopes::describe(s).unwrap_or("A permission not in UltraCart's catalogue.");
                (s.clone(), description.to_owned())
            })
            .collect(),
        form_action: format!("{}{}", paths::API_BASE, paths::AUTHORIZE),
        csrf_token: signed_in.csrf_token(state),
        hidden,
    };
    pages::render(StatusCode::OK, &page)
}

/// `POST /rest/v2/oauth/authorize`: the consent decision.
pub async fn post(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    form: Result<FormParams, FormError>,
) -> Response {
    let params = match form {
        Ok(p) => p,
        Err(e) => {
            return answer_invalid(
                &state,
                &headers,
                Invalid::Page(StatusCode::BAD_REQUEST, e.message()),
            )
        }
    };
    let signed_in = match session::current_user(&state, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return pages::error_page(
                StatusCode::FORBIDDEN,
                "Your session has ended",
                "You were signed out before the decision reached us; nothing was authorized.",
                "Go back to the application and start the connection again.",
            )
        }
        Err(e) => return e.into_response(),
    };
    // Approval needs the CSRF token bound to this session: a cross-site form cannot grant.
    if !signed_in.csrf_ok(&state, params.optional("csrf_token").ok().flatten()) {
        return pages::error_page(
            StatusCode::FORBIDDEN,
            "Authorization refused",
            "The consent form was not issued by this session; nothing was authorized.",
            "Go back to the application and start the connection again.",
        );
    }
    let app = match load_app(&state, &params).await {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let valid = match validate(&state, app, &params) {
        Ok(v) => v,
        Err(invalid) => return answer_invalid(&state, &headers, invalid),
    };
    let issuer = state.config.issuer();
    match params.optional("decision").ok().flatten() {
        Some("approve") => {}
        Some("deny") => {
            let event = AuditEvent::new(AuditKind::ConsentDenied)
                .merchant(signed_in.user.merchant_id.as_str())
                .client(valid.app.client_id.as_str())
                .user(signed_in.user.user_id.as_str())
                .ip(ip.audit_ip());
            if let Err(e) = state.store.audit(event, state.now()).await {
                return ApiError::from(e).into_response();
            }
            tracing::info!(client_id = %valid.app.client_id, merchant_id = %signed_in.user.merchant_id, "consent denied");
            return redirect_with(
                &valid.redirect_uri,
                &[
                    ("error", "access_denied"),
                    ("error_description", "the merchant denied access"),
                    ("state", &valid.state),
                    ("iss", &issuer),
                ],
            );
        }
        _ => {
            return pages::error_page(
                StatusCode::BAD_REQUEST,
                "No decision",
                "Choose Approve or Deny.",
                "Go back and press one of the two buttons.",
            )
        }
    }

    let now = state.now();
    let code = secret::new_ordered_token(now);
    let grant_id = secret::new_id();
    let approval = NewApproval {
        grant_id: grant_id.clone(),
        merchant_id: signed_in.user.merchant_id.clone(),
        client_id: valid.app.client_id.clone(),
        user_id: signed_in.user.user_id.clone(),
        scopes: valid.scopes.clone(),
        code_hash: state
            .config
            .pepper
            .digest(Purpose::AuthorizationCode, &code),
        redirect_uri: valid.redirect_uri.clone(),
        redirect_uri_explicit: valid.redirect_uri_explicit,
        code_challenge: valid.challenge.as_ref().map(|(c, _)| c.clone()),
        code_challenge_method: valid.challenge.as_ref().map(|(_, m)| m.as_str()),
        now,
        code_expires_at: now + state.config.code_ttl_ms,
        origin: ip.origin(),
    };
    if let Err(e) = state.store.approve(approval).await {
        return ApiError::from(e).into_response();
    }
    tracing::info!(%grant_id, client_id = %valid.app.client_id, merchant_id = %signed_in.user.merchant_id, "consent given, code issued");
    // 303 after a form POST (RFC 9700 §4.12), so the browser does not re-send the form.
    redirect_with(
        &valid.redirect_uri,
        &[("code", &code), ("state", &valid.state), ("iss", &issuer)],
    )
}

/// `GET /admin/v2/oauth/authorize`, the guide's prose URL: the same flow.
pub async fn admin_alias(RawQuery(query): RawQuery) -> Response {
    let target = match query {
        Some(q) => format!("{}{}?{q}", paths::API_BASE, paths::AUTHORIZE),
        None => format!("{}{}", paths::API_BASE, paths::AUTHORIZE),
    };
    let mut response = Redirect::temporary(&target).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}
