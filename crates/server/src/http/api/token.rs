//! `POST /oauth/token` (`oauthAccessToken`): the authorization-code and refresh-token grants.

use axum::{
    extract::State,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use ucoauth_wire::{params::grant_type, params::TOKEN_TYPE_BEARER, OauthTokenResponse};

use crate::{
    domain::{
        code,
        profile::Policy,
        scope::ScopeSet,
        secret::{self, Purpose},
        OauthError,
    },
    http::{
        client_auth::ClientCredentials,
        error::TokenError,
        form::{Duplicate, FormError, FormParams},
        AppState,
    },
    store::{
        credentials::HashedCredential,
        grants::{CodeRedemption, Issued, NewTokens, Refresh},
    },
};

pub async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<FormParams, FormError>,
) -> Response {
    match exchange(&state, &headers, form).await {
        Ok(body) => {
            let mut response = (StatusCode::OK, Json(body)).into_response();
            // RFC 6749 §5.1.
            let h = response.headers_mut();
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            response
        }
        Err(e) => e.into_response(),
    }
}

fn param<'f>(form: &'f FormParams, name: &str) -> Result<Option<&'f str>, OauthError> {
    form.optional(name).map_err(|Duplicate(n)| {
        OauthError::invalid_request(format!("{n} must not be sent more than once"))
    })
}

fn required<'f>(form: &'f FormParams, name: &str, why: &str) -> Result<&'f str, OauthError> {
    param(form, name)?
        .ok_or_else(|| OauthError::invalid_request(format!("{name} is required{why}")))
}

async fn exchange(
    state: &AppState,
    headers: &HeaderMap,
    form: Result<FormParams, FormError>,
) -> Result<OauthTokenResponse, TokenError> {
    let form = form.map_err(|e| {
        let status = match e {
            FormError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            FormError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            FormError::Malformed(_) => StatusCode::BAD_REQUEST,
        };
        TokenError::with_status(status, OauthError::invalid_request(e.message()))
    })?;
    let grant = required(&form, "grant_type", "")?;
    let credentials = ClientCredentials::extract(headers, &form)?;
    let app = state
        .store
        .find_application(&credentials.client_id)
        .await?
        .ok_or_else(|| OauthError::invalid_client("unknown client_id"))?;
    let policy = Policy::new(
        state.config.profile,
        app.profile,
        app.require_pkce,
        app.require_secret,
    );
    credentials.authenticate(&app, &policy, state.config.peppers())?;

    let now = state.now();
    let access = secret::new_token();
    let refresh = secret::new_token();
    let pepper = &state.config.pepper;
    let tokens = NewTokens {
        access_hash: pepper.digest(Purpose::AccessToken, &access),
        refresh_hash: pepper.digest(Purpose::RefreshToken, &refresh),
        access_expires_at: now + state.config.access_ttl_ms,
        refresh_expires_at: now + state.config.refresh_ttl_ms,
    };

    let outcome = match grant {
        grant_type::AUTHORIZATION_CODE => {
            let code = required(&form, "code", " for grant_type=authorization_code")?;
            let presented = code::Presented {
                client_id: app.client_id.clone(),
                redirect_uri: param(&form, "redirect_uri")?.map(str::to_owned),
                code_verifier: param(&form, "code_verifier")?.map(str::to_owned),
                require_redirect_uri: policy.require_redirect_uri_at_token,
            };
            state
                .store
                .redeem_code(CodeRedemption {
                    code_hash: state
                        .store
                        .resolve_digest(
                            state.config.peppers(),
                            HashedCredential::AuthorizationCode,
                            code,
                        )
                        .await?,
                    presented,
                    now,
                    tokens,
                })
                .await?
        }
        grant_type::REFRESH_TOKEN => {
            let presented = required(&form, "refresh_token", " for grant_type=refresh_token")?;
            let scope = param(&form, "scope")?.map(ScopeSet::parse).transpose()?;
            state
                .store
                .refresh(Refresh {
                    refresh_hash: state
                        .store
                        .resolve_digest(
                            state.config.peppers(),
                            HashedCredential::RefreshToken,
                            presented,
                        )
                        .await?,
                    client_id: app.client_id.clone(),
                    scope,
                    now,
                    grace_ms: state.config.refresh_grace_ms,
                    tokens,
                })
                .await?
        }
        other => {
            return Err(OauthError::new(
                crate::domain::OauthErrorKind::UnsupportedGrantType,
                format!(
                    "grant_type {:?} is not supported; use authorization_code or refresh_token",
                    truncate(other)
                ),
            )
            .into())
        }
    };
    let issued: Issued = outcome?;
    Ok(OauthTokenResponse {
        access_token: Some(access),
        expires_in: Some((state.config.access_ttl_ms / 1000).to_string()),
        merchant_id: Some(issued.merchant_id),
        refresh_token: Some(refresh),
        scope: Some(issued.scopes.to_wire()),
        token_type: Some(TOKEN_TYPE_BEARER.to_owned()),
        ..Default::default()
    })
}

/// Echoes at most 60 characters of client input in a message.
fn truncate(s: &str) -> String {
    s.chars().take(60).collect()
}
