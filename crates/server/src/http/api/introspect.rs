//! `POST /oauth/introspect`: token introspection for resource servers (RFC 7662).
//!
//! # Who may ask
//! RFC 7662 §2.1 requires the caller to authenticate and §4 to be *authorized*, so that the
//! endpoint cannot be used to scan for tokens. A caller is a resource server registered as an
//! application: it authenticates with its `client_id` and `client_secret` (HTTP Basic or form
//! fields; a secret is always required here, whatever the profile), and the application must
//! carry the resource-server permission (`ucoauth app create --resource-server`, or
//! `ucoauth app resource-server CLIENT_ID --allow`). Failures are `ErrorResponse`s: 400 for a
//! malformed request, 401 (+ `WWW-Authenticate: Basic`) for failed authentication, 403 for an
//! application without the permission.
//!
//! # What it says
//! `{"active":false}` for anything unknown, expired, rotated out, revoked, or belonging to a
//! deleted application; otherwise `active`, `scope`, `client_id`, `token_type` (`bearer` for
//! access tokens, `refresh_token` for refresh tokens), `exp`, `iat`, `sub` and `merchant_id`
//! (the merchant), and `iss`. The answer is never cached (`Cache-Control: no-store`).

use axum::{extract::State, http::HeaderMap, Json};
use ucoauth_wire::{
    params::header::SIMPLE_KEY,
    standard::{IntrospectionResponse, INTROSPECTION_TYPE_ACCESS, INTROSPECTION_TYPE_REFRESH},
};

use super::form_error;
use crate::{
    domain::{model::AccessGrant, secret::Purpose},
    http::{
        client_auth::ClientCredentials,
        error::ApiError,
        form::{Duplicate, FormError, FormParams},
        AppState,
    },
    store::credentials::HashedCredential,
};

/// Longest `token` looked up; ours are 43 characters, so anything far longer is not a token.
const MAX_TOKEN_LEN: usize = 512;

pub async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<FormParams, FormError>,
) -> Result<Json<IntrospectionResponse>, ApiError> {
    let form = form.map_err(|e| form_error(&e))?;
    let caller = authenticate_caller(&state, &headers, &form).await?;
    let dup = |Duplicate(n): Duplicate| {
        ApiError::bad_request(format!("{n} must not be sent more than once"))
    };
    let token = form
        .optional("token")
        .map_err(dup)?
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("token is required"))?;
    let hint = form.optional("token_type_hint").map_err(dup)?;

    let found = if token.len() > MAX_TOKEN_LEN {
        None
    } else {
        lookup(&state, token, hint).await?
    };
    state.metrics.http.introspection(found.is_some());
    let Some((grant, token_type)) = found else {
        tracing::debug!(caller = %caller.client_id, "introspection: inactive token");
        return Ok(Json(IntrospectionResponse::inactive()));
    };
    tracing::debug!(caller = %caller.client_id, grant_id = %grant.grant_id, "introspection: active token");
    Ok(Json(IntrospectionResponse {
        active: true,
        scope: Some(grant.scopes.to_wire()),
        client_id: Some(grant.client_id),
        token_type: Some(token_type.to_owned()),
        exp: Some(grant.expires_at.div_euclid(1000)),
        iat: Some(grant.issued_at.div_euclid(1000)),
        sub: Some(grant.merchant_id.clone()),
        merchant_id: Some(grant.merchant_id),
        iss: Some(state.config.issuer()),
    }))
}

/// The live grant behind `token` and the token's type. RFC 7662 §2.1: the hint only orders the
/// search; a token of the other type is still found.
async fn lookup(
    state: &AppState,
    token: &str,
    hint: Option<&str>,
) -> Result<Option<(AccessGrant, &'static str)>, ApiError> {
    let refresh_first = hint == Some("refresh_token");
    for refresh in [refresh_first, !refresh_first] {
        let found = if refresh {
            let hash = state
                .store
                .resolve_digest(
                    state.config.peppers(),
                    HashedCredential::RefreshToken,
                    token,
                )
                .await?;
            state
                .store
                .find_live_refresh(&hash, state.now())
                .await?
                .map(|g| (g, INTROSPECTION_TYPE_REFRESH))
        } else {
            let hash = state
                .store
                .resolve_digest(state.config.peppers(), HashedCredential::AccessToken, token)
                .await?;
            state
                .store
                .find_access(&hash, state.now())
                .await?
                .map(|g| (g, INTROSPECTION_TYPE_ACCESS))
        };
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// Who is asking.
#[derive(Debug)]
struct Caller {
    client_id: String,
}

/// Authenticates and authorizes the caller (see the module docs).
async fn authenticate_caller(
    state: &AppState,
    headers: &HeaderMap,
    form: &FormParams,
) -> Result<Caller, ApiError> {
    let has_client = form.optional("client_id").ok().flatten().is_some()
        || headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("basic "));
    if !has_client && headers.contains_key(SIMPLE_KEY) {
        // EXTENSION POINT (simple keys): when merchant simple API keys land (store/keys.rs), a
        // key carrying an introspection permission authenticates the caller here instead of
        // client credentials. Until then a key alone is refused with a message that says so.
        return Err(ApiError::unauthorized_client(
            "simple API keys cannot call introspection yet; authenticate as the resource server's application with client_id and client_secret (HTTP Basic or form)",
        ));
    }
    let credentials = ClientCredentials::extract(headers, form)
        .map_err(|e| ApiError::unauthorized_client(e.description))?;
    let Some(secret) = credentials.secret.as_deref() else {
        return Err(ApiError::unauthorized_client(
            "introspection callers must authenticate: send client_id and client_secret (HTTP Basic or form)",
        ));
    };
    let app = state.store.find_application(&credentials.client_id).await?;
    // The same answer for an unknown client and a wrong secret: no probing for client ids.
    let authenticated = app.as_ref().is_some_and(|app| {
        state
            .config
            .peppers()
            .verify(Purpose::ClientSecret, secret, &app.secret_hash)
    });
    if !authenticated {
        return Err(ApiError::unauthorized_client(
            "client authentication failed",
        ));
    }
    if !state
        .store
        .is_resource_server(&credentials.client_id)
        .await?
    {
        return Err(ApiError::forbidden(
            "this application is not allowed to introspect tokens; give it the resource-server permission (ucoauth app resource-server CLIENT_ID --allow)",
        ));
    }
    Ok(Caller {
        client_id: credentials.client_id,
    })
}
