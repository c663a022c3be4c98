//! `GET /oauth/me` (`oauthMe`): which merchant an access token (or a simple key) speaks for.

use axum::{
    extract::State,
    http::{header, HeaderMap, StatusCode},
    Json,
};
use ucoauth_wire::{params::header::SIMPLE_KEY, OauthMeResponse};

use crate::{
    domain::{model::KeyPrincipal, secret::Purpose},
    http::{error::ApiError, AppState},
    store::credentials::HashedCredential,
};

pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<OauthMeResponse>, ApiError> {
    // An access token wins when both are sent; a simple key alone speaks for its merchant
    // (product.md §5), without a client_id.
    if headers.get(header::AUTHORIZATION).is_none() {
        if let Some(key) = simple_key(&headers) {
            let principal = key_principal(&state, key).await?;
            return Ok(Json(OauthMeResponse {
                application_name: None,
                client_id: None,
                merchant_id: Some(principal.merchant_id),
                merchant_name: Some(principal.merchant_name),
                scopes: Some(principal.scopes.names().to_vec()),
            }));
        }
    }
    let token = bearer_token(&headers).ok_or_else(|| {
        ApiError::unauthorized_bearer(
            None,
            "an access token is required: send Authorization: Bearer <access_token> \
             (or a simple key in x-ultracart-simple-key)",
        )
    })?;
    let hash = state
        .store
        .resolve_digest(state.config.peppers(), HashedCredential::AccessToken, token)
        .await?;
    let grant = state
        .store
        .find_access(&hash, state.now())
        .await?
        .ok_or_else(|| {
            ApiError::unauthorized_bearer(
                Some("invalid_token"),
                "the access token is invalid, expired or revoked",
            )
        })?;
    Ok(Json(OauthMeResponse {
        application_name: Some(grant.application_name),
        client_id: Some(grant.client_id),
        merchant_id: Some(grant.merchant_id),
        merchant_name: Some(grant.merchant_name),
        scopes: Some(grant.scopes.names().to_vec()),
    }))
}

/// The value of `x-ultracart-simple-key`, if sent and not empty.
pub fn simple_key(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(SIMPLE_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

/// The merchant a simple key speaks for; 401 when the key is unknown or revoked.
pub async fn key_principal(state: &AppState, key: &str) -> Result<KeyPrincipal, ApiError> {
    let invalid = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "the simple key (x-ultracart-simple-key) is invalid or revoked",
        )
    };
    // Our keys are 64 characters; anything much longer cannot be one and costs no lookup.
    if key.len() > 256 {
        return Err(invalid());
    }
    let hash = state.config.pepper.digest(Purpose::SimpleKey, key);
    state
        .store
        .find_key_principal(&hash)
        .await?
        .ok_or_else(invalid)
}

/// The token of `Authorization: Bearer <token>`. A bare token without a scheme is accepted too:
/// UltraCart's TypeScript SDK sends the access token without the `Bearer ` prefix.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            Some(token.trim()).filter(|t| !t.is_empty())
        }
        Some(_) => None,
        None => Some(value).filter(|t| !t.is_empty()),
    }
}
