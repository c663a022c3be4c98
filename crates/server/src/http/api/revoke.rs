//! `POST /oauth/revoke` (`oauthRevoke`): "Revoke this OAuth application". Any live access or
//! refresh token of a grant ends the whole grant.

use axum::{extract::State, http::HeaderMap, Json};
use ucoauth_wire::OauthRevokeSuccessResponse;

use super::form_error;
use crate::{
    domain::profile::Policy,
    http::{
        client_auth::ClientCredentials,
        client_ip::ClientIp,
        error::ApiError,
        form::{Duplicate, FormError, FormParams},
        rate_limit::{too_many, Failures, Limit},
        AppState,
    },
    store::{credentials::HashedCredential, grants::RevokeOutcome},
};

pub async fn post(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    form: Result<FormParams, FormError>,
) -> Result<Json<OauthRevokeSuccessResponse>, ApiError> {
    let ip_key = ip.as_str().to_owned();
    if let Some(wait) = state.limiters.blocked(Failures::TokenIp, &ip_key) {
        return Err(too_many(wait, "failed requests from this address"));
    }
    let result = revoke(&state, ip, headers, form).await;
    // Refusals other than server faults count towards this address's failure limit.
    if matches!(&result, Err(e) if e.status.is_client_error()) {
        state.limiters.record_failure(Failures::TokenIp, &ip_key);
    }
    result
}

async fn revoke(
    state: &AppState,
    ip: ClientIp,
    headers: HeaderMap,
    form: Result<FormParams, FormError>,
) -> Result<Json<OauthRevokeSuccessResponse>, ApiError> {
    let form = form.map_err(|e| form_error(&e))?;
    let dup = |Duplicate(n): Duplicate| {
        ApiError::bad_request(format!("{n} must not be sent more than once"))
    };
    let credentials = ClientCredentials::extract(&headers, &form)
        .map_err(|e| ApiError::bad_request(e.description))?;
    state
        .limiters
        .check(Limit::TokenClient, &credentials.client_id)
        .map_err(|wait| too_many(wait, "requests for this client_id"))?;
    let token = form
        .optional("token")
        .map_err(dup)?
        .ok_or_else(|| ApiError::bad_request("token is required"))?;
    let app = state
        .store
        .find_application(&credentials.client_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized_client("unknown client_id"))?;
    let policy = Policy::new(
        state.config.profile,
        app.profile,
        app.require_pkce,
        app.require_secret,
    );
    credentials
        .authenticate(&app, &policy, state.config.peppers())
        .map_err(|e| ApiError::unauthorized_client(e.description))?;

    let peppers = state.config.peppers();
    let access_hash = state
        .store
        .resolve_digest(peppers, HashedCredential::AccessToken, token)
        .await?;
    let refresh_hash = state
        .store
        .resolve_digest(peppers, HashedCredential::RefreshToken, token)
        .await?;
    let outcome = state
        .store
        .revoke_by_token(
            access_hash,
            refresh_hash,
            app.client_id.clone(),
            state.now(),
            ip.origin(),
        )
        .await?;
    match outcome {
        RevokeOutcome::Revoked { grant_id } => {
            tracing::info!(%grant_id, client_id = %app.client_id, "grant revoked by the client");
            Ok(Json(OauthRevokeSuccessResponse {
                message: Some("Access to the application has been revoked.".into()),
                successful: Some(true),
            }))
        }
        RevokeOutcome::NotLive => Ok(Json(OauthRevokeSuccessResponse {
            message: Some(
                "The token is unknown, expired or already revoked; nothing was revoked.".into(),
            ),
            successful: Some(false),
        })),
        RevokeOutcome::OtherClient => Err(ApiError::bad_request(
            "the token was issued to a different application than client_id",
        )),
    }
}
