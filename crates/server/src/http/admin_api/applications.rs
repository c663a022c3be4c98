//! `/admin/api/v1/applications`: the caller's developer applications.

use axum::{
    extract::{RawQuery, State},
    http::StatusCode,
    response::Response,
};
use serde::Deserialize;

use super::{done_response, list_response, one_response, paging, Caller, Id, JsonBody, Permission};
use crate::{
    admin::{self, views::ApplicationView, AdminError, ApplicationChanges, NewApplication},
    domain::profile::Profile,
    http::{error::ApiError, AppState},
};

/// The body of a create or update. On update, an absent field keeps its value.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationInput {
    name: Option<String>,
    description: Option<String>,
    developer_name: Option<String>,
    developer_email: Option<String>,
    developer_url: Option<String>,
    redirect_uris: Option<Vec<String>>,
    scopes: Option<Vec<String>>,
    require_secret: Option<bool>,
    require_pkce: Option<bool>,
    /// `compat`, `strict`, or `""` for the server's profile.
    profile: Option<String>,
}

fn parse_profile(profile: Option<String>) -> Result<Option<Option<Profile>>, AdminError> {
    match profile.as_deref() {
        None => Ok(None),
        Some("") => Ok(Some(None)),
        Some(p) => p.parse::<Profile>().map(|p| Some(Some(p))).map_err(|_| {
            AdminError::invalid(
                "profile",
                "profile",
                "must be compat, strict, or \"\" for the server's profile",
            )
        }),
    }
}

/// `GET /applications`.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Permission::ReadApplications)?;
    let listed =
        admin::list_applications(&state.store, caller.within(), paging(query.as_deref())?).await?;
    Ok(list_response(
        "applications",
        listed.map(|a| ApplicationView::new(a, None)),
    ))
}

/// `POST /applications`: 201 with the application and its `client_secret` (shown once).
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody<ApplicationInput>,
) -> Result<Response, ApiError> {
    caller.require(Permission::WriteApplications)?;
    let profile = parse_profile(input.profile)?.flatten();
    let created = admin::create_application(
        &state.store,
        &state.config.pepper,
        NewApplication {
            name: input.name.unwrap_or_default(),
            description: input.description.unwrap_or_default(),
            developer_name: input.developer_name.unwrap_or_default(),
            developer_email: input.developer_email.unwrap_or_default(),
            developer_url: input.developer_url.unwrap_or_default(),
            redirect_uris: input.redirect_uris.unwrap_or_default(),
            scopes: input.scopes.unwrap_or_default(),
            require_secret: input.require_secret.unwrap_or(false),
            require_pkce: input.require_pkce.unwrap_or(false),
            profile,
            owner_merchant_id: Some(caller.merchant_id.clone()),
        },
        &caller.actor,
        state.now(),
    )
    .await?;
    Ok(one_response(
        StatusCode::CREATED,
        "application",
        &ApplicationView::new(created.application, Some(created.client_secret)),
    ))
}

/// `GET /applications/{client_id}`.
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Id(client_id): Id,
) -> Result<Response, ApiError> {
    caller.require(Permission::ReadApplications)?;
    let app = admin::get_application(&state.store, caller.within(), &client_id).await?;
    Ok(one_response(
        StatusCode::OK,
        "application",
        &ApplicationView::new(app, None),
    ))
}

/// `PUT` or `PATCH /applications/{client_id}`: changes the fields sent.
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Id(client_id): Id,
    JsonBody(input): JsonBody<ApplicationInput>,
) -> Result<Response, ApiError> {
    caller.require(Permission::WriteApplications)?;
    let changes = ApplicationChanges {
        profile: parse_profile(input.profile)?,
        name: input.name,
        description: input.description,
        developer_name: input.developer_name,
        developer_email: input.developer_email,
        developer_url: input.developer_url,
        redirect_uris: input.redirect_uris,
        scopes: input.scopes,
        require_secret: input.require_secret,
        require_pkce: input.require_pkce,
    };
    let app = admin::update_application(
        &state.store,
        caller.within(),
        &caller.actor,
        &client_id,
        changes,
        state.now(),
    )
    .await?;
    Ok(one_response(
        StatusCode::OK,
        "application",
        &ApplicationView::new(app, None),
    ))
}

/// `POST /applications/{client_id}/rotate_secret`: the new `client_secret`, shown once.
pub async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    Id(client_id): Id,
) -> Result<Response, ApiError> {
    caller.require(Permission::WriteApplications)?;
    let rotated = admin::rotate_secret(
        &state.store,
        &state.config.pepper,
        caller.within(),
        &caller.actor,
        &client_id,
        state.now(),
    )
    .await?;
    Ok(one_response(
        StatusCode::OK,
        "application",
        &ApplicationView::new(rotated.application, Some(rotated.client_secret)),
    ))
}

/// `DELETE /applications/{client_id}`: also revokes every grant; says how many.
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Id(client_id): Id,
) -> Result<Response, ApiError> {
    caller.require(Permission::WriteApplications)?;
    let revoked = admin::delete_application(
        &state.store,
        caller.within(),
        &caller.actor,
        &client_id,
        state.now(),
    )
    .await?;
    Ok(done_response(&[("revoked_grants", revoked.into())]))
}
