//! API keys: the merchant's simple keys (`x-ultracart-simple-key`). Create (shown once), revoke.

use axum::{
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode, Uri},
    response::Response,
};

use super::{
    actor, admin_error_page, page, see_other, signed_in, signed_in_form, text,
    views::{scope_choices, KeyRow, KeysPage, SecretPage},
    Area, Chrome, ListQuery, Pager,
};
use crate::{
    admin::{self, views::display_time, AdminError, FieldErrors, NewKey, Within},
    http::admin_api::Id,
    http::client_ip::ClientIp,
    http::{form::FormError, form::FormParams, session::SignedIn, AppState},
};

/// `GET /keys`.
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
    let (choices, other_scopes) = scope_choices(&[]);
    render_list(
        &state,
        &signed_in,
        &query,
        StatusCode::OK,
        String::new(),
        (choices, other_scopes),
        FieldErrors::default(),
    )
    .await
}

async fn render_list(
    state: &AppState,
    signed_in: &SignedIn,
    query: &ListQuery,
    status: StatusCode,
    name: String,
    (choices, other_scopes): (Vec<super::views::ScopeChoice>, String),
    errors: FieldErrors,
) -> Response {
    let listed =
        match admin::list_keys(&state.store, &signed_in.user.merchant_id, query.paging()).await {
            Ok(l) => l,
            Err(e) => return admin_error_page(e),
        };
    let pager = Pager::new("/keys", query.page, listed.total);
    let keys = listed
        .items
        .into_iter()
        .map(|k| KeyRow {
            name: k.name,
            hint: k.key_hint,
            scopes: k.scopes.to_wire(),
            created: display_time(k.created_at),
            key_id: k.key_id,
        })
        .collect();
    page(
        status,
        &KeysPage {
            chrome: Chrome::new(state, signed_in, Area::Keys).with_notice(query.notice),
            keys,
            pager,
            name,
            choices,
            other_scopes,
            errors,
        },
    )
}

/// `POST /keys`: creates a key and shows it once.
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    ip: ClientIp,
    form: Result<FormParams, FormError>,
) -> Response {
    let (signed_in, form) = match signed_in_form(&state, &headers, "/keys", form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let name = text(&form, "name");
    let mut scopes: Vec<String> = form.all("scopes").map(str::to_owned).collect();
    scopes.extend(
        text(&form, "other_scopes")
            .split_whitespace()
            .map(str::to_owned),
    );
    let input = NewKey {
        merchant_id: signed_in.user.merchant_id.clone(),
        name: name.clone(),
        scopes: scopes.clone(),
        created_by: Some(signed_in.user.user_id.clone()),
    };
    let actor = actor(&signed_in, &ip);
    match admin::create_key(
        &state.store,
        &state.config.pepper,
        input,
        None,
        &actor,
        state.now(),
    )
    .await
    {
        Ok(created) => page(
            StatusCode::OK,
            &SecretPage {
                chrome: Chrome::new(&state, &signed_in, Area::Keys),
                title: format!("API key {} is ready", created.key.name),
                intro: format!(
                    "Send it in the x-ultracart-simple-key header. Permissions: {}.",
                    created.key.scopes.to_wire()
                ),
                facts: vec![],
                secret_label: "Key".into(),
                secret: created.secret,
                continue_to: "/keys".into(),
            },
        ),
        Err(AdminError::Invalid(errors)) => {
            render_list(
                &state,
                &signed_in,
                &ListQuery::parse(None),
                StatusCode::BAD_REQUEST,
                name,
                scope_choices(&scopes),
                errors,
            )
            .await
        }
        Err(e) => admin_error_page(e),
    }
}

/// `POST /keys/{key_id}/revoke`.
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    ip: ClientIp,
    Id(key_id): Id,
    form: Result<FormParams, FormError>,
) -> Response {
    let (signed_in, _) = match signed_in_form(&state, &headers, "/keys", form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let merchant = signed_in.user.merchant_id.clone();
    match admin::revoke_key(
        &state.store,
        Within::Merchant(&merchant),
        &actor(&signed_in, &ip),
        &key_id,
        state.now(),
    )
    .await
    {
        Ok(()) => see_other("/keys?notice=key-revoked"),
        Err(e) => admin_error_page(e),
    }
}
