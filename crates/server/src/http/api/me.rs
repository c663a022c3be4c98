//! `GET /oauth/me` (`oauthMe`): which merchant an access token speaks for.

use axum::{
    extract::State,
    http::{header, HeaderMap},
    Json,
};
use ucoauth_wire::OauthMeResponse;

use crate::{
    http::{error::ApiError, AppState},
    store::credentials::HashedCredential,
};

pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<OauthMeResponse>, ApiError> {
    let token = bearer_token(&headers).ok_or_else(|| {
        ApiError::unauthorized_bearer(
            None,
            "an access token is required: send Authorization: Bearer <access_token>",
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
