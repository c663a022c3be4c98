//! `POST /oauth/token` (`oauthAccessToken`): the authorization-code, refresh-token and device-code
//! (RFC 8628 §3.4) grants.

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
        client_ip::ClientIp,
        error::{ApiError, TokenError},
        form::{Duplicate, FormError, FormParams},
        rate_limit::{too_many, Failures, Limit},
        AppState,
    },
    store::{
        credentials::HashedCredential,
        devices::{DevicePoll, PollOutcome},
        grants::{CodeRedemption, Issued, NewTokens, Refresh},
        rate_limits::Counter,
    },
};

pub async fn post(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    form: Result<FormParams, FormError>,
) -> Response {
    match exchange(&state, &ip, &headers, form).await {
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
    ip: &ClientIp,
    headers: &HeaderMap,
    form: Result<FormParams, FormError>,
) -> Result<OauthTokenResponse, TokenError> {
    let limiters = &state.limiters;
    let ip_key = ip.as_str();
    if let Some(wait) = limiters.blocked(Failures::TokenIp, ip_key) {
        return Err(TokenError::Server(too_many(
            wait,
            "failed token requests from this address",
        )));
    }
    let result = exchange_checked(state, ip, headers, form).await;
    if matches!(result, Err(TokenError::Oauth { .. })) {
        limiters.record_failure(Failures::TokenIp, ip_key);
    }
    result
}

async fn exchange_checked(
    state: &AppState,
    ip: &ClientIp,
    headers: &HeaderMap,
    form: Result<FormParams, FormError>,
) -> Result<OauthTokenResponse, TokenError> {
    let origin = ip.origin();
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
    state
        .limiters
        .check(Limit::TokenClient, &credentials.client_id)
        .map_err(|wait| TokenError::Server(too_many(wait, "token requests for this client_id")))?;
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
    let access = secret::new_ordered_token(now);
    let refresh = secret::new_ordered_token(now);
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
                    origin: origin.clone(),
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
                    origin: origin.clone(),
                })
                .await?
        }
        grant_type::DEVICE_CODE | grant_type::DEVICE_CODE_ALIAS => {
            let device_code = required(&form, "device_code", " for the device_code grant")?;
            let outcome = state
                .store
                .poll_device(DevicePoll {
                    device_code_hash: pepper.digest(Purpose::DeviceCode, device_code),
                    client_id: app.client_id.clone(),
                    now,
                    tokens,
                    counters: vec![Counter::new(
                        "device-poll-ip",
                        ip.as_str(),
                        state.config.device_poll_per_ip,
                    )],
                    origin: origin.clone(),
                })
                .await?;
            match outcome {
                PollOutcome::Issued(issued) => Ok(issued),
                PollOutcome::Refused(e) => Err(e),
                // Beyond slow_down: a flood from one address (product.md §4: 429, Retry-After).
                PollOutcome::TooMany(t) => {
                    return Err(TokenError::Server(ApiError::too_many_requests(
                        t.retry_after_secs,
                        "too many device_code polls from this address; poll no faster than the interval",
                    )))
                }
            }
        }
        other => {
            return Err(OauthError::new(
                crate::domain::OauthErrorKind::UnsupportedGrantType,
                format!(
                    "grant_type {:?} is not supported; use authorization_code, refresh_token or urn:ietf:params:oauth:grant-type:device_code",
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
