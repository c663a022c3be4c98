//! `/admin/api/v1/users`: the caller's merchant users.

use axum::{
    extract::{RawQuery, State},
    http::StatusCode,
    response::Response,
};
use serde::Deserialize;

use super::{done_response, list_response, one_response, paging, Caller, Id, JsonBody, Permission};
use crate::{
    admin::{self, views::UserView},
    http::{error::ApiError, AppState},
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordInput {
    #[serde(default)]
    password: String,
}

/// `GET /users`.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Permission::ReadUsers)?;
    let listed =
        admin::list_users(&state.store, &caller.merchant_id, paging(query.as_deref())?).await?;
    Ok(list_response("users", listed.map(UserView::from)))
}

/// `POST /users`: 201 with the new user.
pub async fn add(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody<UserInput>,
) -> Result<Response, ApiError> {
    caller.require(Permission::WriteUsers)?;
    let now = state.now();
    let user = admin::add_user(
        &state.store,
        &caller.actor,
        &caller.merchant_id,
        &input.login,
        input.password,
        now,
    )
    .await?;
    let view = UserView {
        created_dts: Some(admin::views::iso8601(now)),
        ..UserView::from(user)
    };
    Ok(one_response(StatusCode::CREATED, "user", &view))
}

/// `DELETE /users/{user_id}`: refused (409) for the merchant's last user, and (403) for the
/// session's own user.
pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Id(user_id): Id,
) -> Result<Response, ApiError> {
    caller.require(Permission::WriteUsers)?;
    admin::remove_user(
        &state.store,
        caller.within(),
        &caller.actor,
        &user_id,
        caller.user_id.as_deref(),
        state.now(),
    )
    .await?;
    Ok(done_response(&[]))
}

/// `PUT /users/{user_id}/password`: signs the user's other sessions out.
pub async fn set_password(
    State(state): State<AppState>,
    caller: Caller,
    Id(user_id): Id,
    JsonBody(input): JsonBody<PasswordInput>,
) -> Result<Response, ApiError> {
    caller.require(Permission::WriteUsers)?;
    admin::change_password(
        &state.store,
        caller.within(),
        &caller.actor,
        &user_id,
        input.password,
        caller.session_hash,
        state.now(),
    )
    .await?;
    Ok(done_response(&[]))
}
