//! Authorized Applications: the applications the signed-in merchant approved (its live
//! grants), and revoking them.

use axum::{
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode, Uri},
    response::Response,
};

use super::{
    actor, admin_error_page, page, see_other, signed_in, signed_in_form,
    views::{describe_all, AuthorizedPage, GrantRow},
    Area, Chrome, ListQuery, Pager,
};
use crate::{
    admin::{self, views::display_time, Within},
    http::admin_api::Id,
    http::{client_ip::ClientIp, form::FormError, form::FormParams, AppState},
};

/// `GET /authorized`.
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Response {
    let signed_in = match signed_in(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let query = ListQuery::parse(query.as_deref());
    let listed =
        match admin::list_grants(&state.store, &signed_in.user.merchant_id, query.paging()).await {
            Ok(l) => l,
            Err(e) => return admin_error_page(e),
        };
    let pager = Pager::new("/authorized", query.page, listed.total);
    let grants = listed
        .items
        .into_iter()
        .map(|g| GrantRow {
            scopes: describe_all(g.scopes.names()),
            application_name: g.application_name,
            developer_name: g.developer_name,
            approved_by: g.approved_by.unwrap_or_else(|| "a removed user".to_owned()),
            created: display_time(g.created_at),
            last_used: g
                .last_used_at
                .map_or_else(|| "never".to_owned(), display_time),
            grant_id: g.grant_id,
        })
        .collect();
    page(
        StatusCode::OK,
        &AuthorizedPage {
            chrome: Chrome::new(&state, &signed_in, Area::Authorized).with_notice(query.notice),
            grants,
            pager,
        },
    )
}

/// `POST /authorized/{grant_id}/revoke`.
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    ip: ClientIp,
    Id(grant_id): Id,
    form: Result<FormParams, FormError>,
) -> Response {
    let (signed_in, _) = match signed_in_form(&state, &headers, "/authorized", form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let merchant = signed_in.user.merchant_id.clone();
    match admin::revoke_grant(
        &state.store,
        Within::Merchant(&merchant),
        &actor(&signed_in, &ip),
        &grant_id,
        state.now(),
    )
    .await
    {
        Ok(()) => see_other("/authorized?notice=revoked"),
        Err(e) => admin_error_page(e),
    }
}
