//! `/admin/api/v1/keys`: the caller's simple API keys.

use axum::{
    extract::{RawQuery, State},
    http::StatusCode,
    response::Response,
};
use serde::Deserialize;

use super::{done_response, list_response, one_response, paging, Caller, Id, JsonBody, Permission};
use crate::{
    admin::{self, views::KeyView, NewKey},
    http::{error::ApiError, AppState},
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyInput {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scopes: Vec<String>,
}

/// `GET /keys`.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Permission::ReadUsers)?;
    let listed =
        admin::list_keys(&state.store, &caller.merchant_id, paging(query.as_deref())?).await?;
    Ok(list_response("keys", listed.map(|k| KeyView::new(k, None))))
}

/// `POST /keys`: 201 with the key itself (shown once). A key may only create keys whose
/// permissions it holds.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(input): JsonBody<KeyInput>,
) -> Result<Response, ApiError> {
    caller.require(Permission::WriteUsers)?;
    let created = admin::create_key(
        &state.store,
        &state.config.pepper,
        NewKey {
            merchant_id: caller.merchant_id.clone(),
            name: input.name,
            scopes: input.scopes,
            created_by: caller.user_id.clone(),
        },
        caller.key_scopes.as_ref(),
        &caller.actor,
        state.now(),
    )
    .await?;
    Ok(one_response(
        StatusCode::CREATED,
        "key",
        &KeyView::new(created.key, Some(created.secret)),
    ))
}

/// `DELETE /keys/{key_id}`.
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Id(key_id): Id,
) -> Result<Response, ApiError> {
    caller.require(Permission::WriteUsers)?;
    admin::revoke_key(
        &state.store,
        caller.within(),
        &caller.actor,
        &key_id,
        state.now(),
    )
    .await?;
    Ok(done_response(&[]))
}
