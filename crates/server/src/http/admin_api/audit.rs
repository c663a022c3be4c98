//! `/admin/api/v1/audit`: the caller's merchant's audit trail, newest first.

use axum::{
    extract::{RawQuery, State},
    response::Response,
};

use super::{list_response, paging, Caller, Permission};
use crate::{
    admin::Listed,
    http::{error::ApiError, form::FormParams, AppState},
    store::audit::AuditFilter,
};

/// `GET /audit[?kind=grant.revoked][&_offset=N&_limit=N]`. Reading it needs the users permission
/// (`user_read` or `user_write` on a key): the trail names users and their addresses.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    caller.require(Permission::ReadUsers)?;
    let paging = paging(query.as_deref())?;
    let params = FormParams::parse(query.as_deref().unwrap_or_default().as_bytes())
        .map_err(|e| ApiError::bad_request(e.message()))?;
    let kind = params
        .optional("kind")
        .map_err(|_| ApiError::bad_request("kind must not be sent more than once"))?
        .filter(|k| !k.is_empty())
        .map(str::to_owned);
    let filter = AuditFilter {
        merchant_id: Some(caller.merchant_id.clone()),
        kind,
        since: None,
    };
    let total = state.store.count_audit(&filter).await?;
    let items = state
        .store
        .list_audit(&filter, paging.offset, paging.limit)
        .await?;
    Ok(list_response(
        "events",
        Listed {
            items,
            total,
            paging,
        },
    ))
}
