//! `POST /oauth/device/authorize` (`oauthDeviceAuthorize`): starts the device authorization
//! grant (RFC 8628 §3.1–3.2). The device shows the user code; the merchant approves on the
//! verification page (`http::pages::device`); the device polls `/oauth/token`.

use axum::{extract::State, http::HeaderMap, Json};
use ucoauth_wire::OauthDeviceAuthorizationResponse;
use url::Url;

use super::form_error;
use crate::{
    domain::{
        device::{self, UserCode},
        profile::Policy,
        scope::ScopeSet,
        secret::{self, Purpose},
    },
    http::{
        client_auth::ClientCredentials,
        client_ip::ClientIp,
        error::ApiError,
        form::{Duplicate, FormError, FormParams},
        pages::device::DEVICE_PAGE,
        AppState,
    },
    store::{devices::NewDeviceCode, rate_limits::Counter, StoreError},
};

/// Attempts at drawing a user code that is not taken. With 26^8 codes a second draw is already
/// rare; a third failure means something else is wrong.
const USER_CODE_DRAWS: usize = 3;

pub async fn post(
    State(state): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
    form: Result<FormParams, FormError>,
) -> Result<Json<OauthDeviceAuthorizationResponse>, ApiError> {
    let form = form.map_err(|e| form_error(&e))?;
    let credentials = ClientCredentials::extract(&headers, &form)
        .map_err(|e| ApiError::bad_request(e.description))?;
    let scope = form.optional("scope").map_err(|Duplicate(n)| {
        ApiError::bad_request(format!("{n} must not be sent more than once"))
    })?;
    // UltraCart marks `scope` required, but RFC 8628 §3.1 makes it optional and nothing depends
    // on it (see `device::requested_scopes`), so a missing one is accepted.
    let asked = match scope {
        Some(text) => ScopeSet::parse(text).map_err(|e| ApiError::bad_request(e.description))?,
        None => ScopeSet::default(),
    };
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
        .authenticate(&app, &policy, &state.config.pepper)
        .map_err(|e| ApiError::unauthorized_client(e.description))?;
    let scopes = device::requested_scopes(&asked, &app.scopes);

    let pepper = &state.config.pepper;
    let config = &state.config;
    let counters = vec![Counter::new(
        "device-authorize-ip",
        ip.as_str(),
        config.device_authorize_per_ip,
    )];
    for _ in 0..USER_CODE_DRAWS {
        let device_code = secret::new_token();
        let user_code = UserCode::generate();
        let now = state.now();
        let created = state
            .store
            .create_device_code(NewDeviceCode {
                device_code_hash: pepper.digest(Purpose::DeviceCode, &device_code),
                user_code_hash: pepper.digest(Purpose::UserCode, user_code.as_str()),
                client_id: app.client_id.clone(),
                scopes: scopes.clone(),
                now,
                expires_at: now + config.device_code_ttl_ms,
                interval_ms: config.device_interval_ms,
                counters: counters.clone(),
                origin: ip.origin(),
            })
            .await;
        match created {
            Ok(Ok(())) => {
                tracing::info!(client_id = %app.client_id, "device authorization started");
                let verification_uri = format!("{}{DEVICE_PAGE}", config.issuer());
                let complete = Url::parse_with_params(
                    &verification_uri,
                    [("user_code", user_code.display())],
                )
                .map_err(|e| ApiError::internal(&e))?;
                return Ok(Json(OauthDeviceAuthorizationResponse {
                    device_code: Some(device_code),
                    expires_in: Some(config.device_code_ttl_ms / 1000),
                    interval: Some(config.device_interval_ms / 1000),
                    user_code: Some(user_code.display()),
                    verification_uri: Some(verification_uri),
                    verification_uri_complete: Some(complete.to_string()),
                }));
            }
            Ok(Err(too_many)) => {
                return Err(ApiError::too_many_requests(
                    too_many.retry_after_secs,
                    "too many device authorization requests from this address; retry after the Retry-After delay",
                ))
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::internal(
        &"no free user code after several draws; the device_codes table may need cleaning",
    ))
}
