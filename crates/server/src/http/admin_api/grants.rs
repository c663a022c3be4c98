//! `/admin/api/v1/grants`: the caller's authorized applications.

use axum::{
    extract::{RawQuery, State},
    response::Response,
};

use super::{done_response, list_response, paging, Caller, Id, Permission};
use crate::{
    admin::{self, views::GrantView},
    http::{error::ApiError, AppState},
};

/// `GET /grants`.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Permission::ReadApplications)?;
    let listed =
        admin::list_grants(&state.store, &caller.merchant_id, paging(query.as_deref())?).await?;
    Ok(list_response("grants", listed.map(GrantView::from)))
}

/// `DELETE /grants/{grant_id}`: its tokens stop working at once on this node (see
/// `admin::revoke_grant` for the others).
pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Id(grant_id): Id,
) -> Result<Response, ApiError> {
    caller.require(Permission::WriteApplications)?;
    admin::revoke_grant(
        &state.store,
        caller.within(),
        &caller.actor,
        &grant_id,
        state.now(),
    )
    .await?;
    Ok(done_response(&[]))
}
