//! Developer Applications: the signed-in merchant's own applications. List, register, edit,
//! rotate the secret (shown once), delete after a confirmation.

use axum::{
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode, Uri},
    response::{IntoResponse, Response},
};

use super::{
    actor, admin_error_page, page, see_other, signed_in, signed_in_form, text,
    views::{
        scope_choices, AppRow, ApplicationDeletePage, ApplicationForm, ApplicationPage,
        ApplicationsPage, SecretPage,
    },
    Area, Chrome, ListQuery, Pager,
};
use crate::{
    admin::{self, views::display_time, AdminError, ApplicationChanges, NewApplication, Within},
    domain::model::Application,
    http::admin_api::Id,
    http::client_ip::ClientIp,
    http::{error::ApiError, form::FormError, form::FormParams, AppState},
};

/// `GET /applications`.
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
    let merchant = signed_in.user.merchant_id.clone();
    let listed =
        match admin::list_applications(&state.store, Within::Merchant(&merchant), query.paging())
            .await
        {
            Ok(l) => l,
            Err(e) => return admin_error_page(e),
        };
    let pager = Pager::new("/applications", query.page, listed.total);
    let apps = listed
        .items
        .into_iter()
        .map(|a| AppRow {
            name: a.name,
            developer_name: a.developer_name,
            redirect_uris: a.redirect_uris.len(),
            scopes: a.scopes.names().len(),
            created: display_time(a.created_at),
            client_id: a.client_id,
        })
        .collect();
    page(
        StatusCode::OK,
        &ApplicationsPage {
            chrome: Chrome::new(&state, &signed_in, Area::Applications).with_notice(query.notice),
            apps,
            pager,
        },
    )
}

/// `GET /applications/new`.
pub async fn new_form(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let signed_in = match signed_in(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (choices, other_scopes) = scope_choices(&[]);
    page(
        StatusCode::OK,
        &ApplicationPage {
            chrome: Chrome::new(&state, &signed_in, Area::Applications),
            client_id: None,
            secret_hint: String::new(),
            created: String::new(),
            updated: String::new(),
            form: ApplicationForm {
                choices,
                other_scopes,
                ..Default::default()
            },
            errors: Default::default(),
        },
    )
}

/// The application form's fields as submitted.
struct Submitted {
    form: ApplicationForm,
    redirect_uris: Vec<String>,
    scopes: Vec<String>,
}

fn read_application_form(form: &FormParams) -> Submitted {
    let redirect_text = text(form, "redirect_uris");
    let redirect_uris: Vec<String> = redirect_text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let mut scopes: Vec<String> = form.all("scopes").map(str::to_owned).collect();
    scopes.extend(
        text(form, "other_scopes")
            .split_whitespace()
            .map(str::to_owned),
    );
    let (choices, other_scopes) = scope_choices(&scopes);
    Submitted {
        form: ApplicationForm {
            name: text(form, "name"),
            description: text(form, "description"),
            developer_name: text(form, "developer_name"),
            developer_email: text(form, "developer_email"),
            developer_url: text(form, "developer_url"),
            redirect_uris: redirect_text,
            choices,
            other_scopes,
            require_secret: form.optional("require_secret").ok().flatten().is_some(),
            require_pkce: form.optional("require_pkce").ok().flatten().is_some(),
        },
        redirect_uris,
        scopes,
    }
}

/// `POST /applications/new`: registers the application and shows its secret once.
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    ip: ClientIp,
    form: Result<FormParams, FormError>,
) -> Response {
    let (signed_in, form) = match signed_in_form(&state, &headers, "/applications/new", form).await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let submitted = read_application_form(&form);
    let f = &submitted.form;
    let input = NewApplication {
        name: f.name.clone(),
        description: f.description.clone(),
        developer_name: f.developer_name.clone(),
        developer_email: f.developer_email.clone(),
        developer_url: f.developer_url.clone(),
        redirect_uris: submitted.redirect_uris.clone(),
        scopes: submitted.scopes.clone(),
        require_secret: f.require_secret,
        require_pkce: f.require_pkce,
        profile: None,
        owner_merchant_id: Some(signed_in.user.merchant_id.clone()),
    };
    let chrome = Chrome::new(&state, &signed_in, Area::Applications);
    let actor = actor(&signed_in, &ip);
    match admin::create_application(
        &state.store,
        &state.config.pepper,
        input,
        &actor,
        state.now(),
    )
    .await
    {
        Ok(created) => {
            let app = created.application;
            page(
                StatusCode::OK,
                &SecretPage {
                    chrome,
                    title: format!("{} is registered", app.name),
                    intro: "Give your application its client_id and client secret.".into(),
                    facts: vec![(
                        "client_id".into(),
                        app.client_id.clone(),
                        "client-id".into(),
                    )],
                    secret_label: "Client secret".into(),
                    secret: created.client_secret,
                    continue_to: format!("/applications/{}", app.client_id),
                },
            )
        }
        Err(AdminError::Invalid(errors)) => page(
            StatusCode::BAD_REQUEST,
            &ApplicationPage {
                chrome,
                client_id: None,
                secret_hint: String::new(),
                created: String::new(),
                updated: String::new(),
                form: submitted.form,
                errors,
            },
        ),
        Err(e) => admin_error_page(e),
    }
}

fn form_of(app: &Application) -> ApplicationForm {
    let (choices, other_scopes) = scope_choices(app.scopes.names());
    ApplicationForm {
        name: app.name.clone(),
        description: app.description.clone(),
        developer_name: app.developer_name.clone(),
        developer_email: app.developer_email.clone(),
        developer_url: app.developer_url.clone(),
        redirect_uris: app.redirect_uris.join("\n"),
        choices,
        other_scopes,
        require_secret: app.require_secret,
        require_pkce: app.require_pkce,
    }
}

/// `GET /applications/{client_id}`: details and the edit form.
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Id(client_id): Id,
    RawQuery(query): RawQuery,
) -> Response {
    let signed_in = match signed_in(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let merchant = signed_in.user.merchant_id.clone();
    let app =
        match admin::get_application(&state.store, Within::Merchant(&merchant), &client_id).await {
            Ok(a) => a,
            Err(e) => return admin_error_page(e),
        };
    let notice = ListQuery::parse(query.as_deref()).notice;
    page(
        StatusCode::OK,
        &ApplicationPage {
            chrome: Chrome::new(&state, &signed_in, Area::Applications).with_notice(notice),
            client_id: Some(app.client_id.clone()),
            secret_hint: app.secret_hint.clone(),
            created: display_time(app.created_at),
            updated: display_time(app.updated_at),
            form: form_of(&app),
            errors: Default::default(),
        },
    )
}

/// `POST /applications/{client_id}`: saves the edit form.
pub async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    ip: ClientIp,
    Id(client_id): Id,
    form: Result<FormParams, FormError>,
) -> Response {
    let back = format!("/applications/{client_id}");
    let (signed_in, form) = match signed_in_form(&state, &headers, &back, form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let merchant = signed_in.user.merchant_id.clone();
    let within = Within::Merchant(&merchant);
    let submitted = read_application_form(&form);
    let f = &submitted.form;
    let changes = ApplicationChanges {
        name: Some(f.name.clone()),
        description: Some(f.description.clone()),
        developer_name: Some(f.developer_name.clone()),
        developer_email: Some(f.developer_email.clone()),
        developer_url: Some(f.developer_url.clone()),
        redirect_uris: Some(submitted.redirect_uris.clone()),
        scopes: Some(submitted.scopes.clone()),
        require_secret: Some(f.require_secret),
        require_pkce: Some(f.require_pkce),
        profile: None,
    };
    let actor = actor(&signed_in, &ip);
    match admin::update_application(
        &state.store,
        within,
        &actor,
        &client_id,
        changes,
        state.now(),
    )
    .await
    {
        Ok(_) => see_other(&format!("/applications/{client_id}?notice=saved")),
        Err(AdminError::Invalid(errors)) => {
            let app = match admin::get_application(&state.store, within, &client_id).await {
                Ok(a) => a,
                Err(e) => return admin_error_page(e),
            };
            page(
                StatusCode::BAD_REQUEST,
                &ApplicationPage {
                    chrome: Chrome::new(&state, &signed_in, Area::Applications),
                    client_id: Some(app.client_id.clone()),
                    secret_hint: app.secret_hint.clone(),
                    created: display_time(app.created_at),
                    updated: display_time(app.updated_at),
                    form: submitted.form,
                    errors,
                },
            )
        }
        Err(e) => admin_error_page(e),
    }
}

/// `POST /applications/{client_id}/rotate-secret`: a new secret, shown once; the old one stops
/// working at once.
pub async fn rotate_secret(
    State(state): State<AppState>,
    headers: HeaderMap,
    ip: ClientIp,
    Id(client_id): Id,
    form: Result<FormParams, FormError>,
) -> Response {
    let back = format!("/applications/{client_id}");
    let (signed_in, _) = match signed_in_form(&state, &headers, &back, form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let merchant = signed_in.user.merchant_id.clone();
    match admin::rotate_secret(
        &state.store,
        &state.config.pepper,
        Within::Merchant(&merchant),
        &actor(&signed_in, &ip),
        &client_id,
        state.now(),
    )
    .await
    {
        Ok(rotated) => page(
            StatusCode::OK,
            &SecretPage {
                chrome: Chrome::new(&state, &signed_in, Area::Applications),
                title: format!("New secret for {}", rotated.application.name),
                intro: "The previous secret no longer works. Give your application this one."
                    .into(),
                facts: vec![("client_id".into(), client_id.clone(), "client-id".into())],
                secret_label: "Client secret".into(),
                secret: rotated.client_secret,
                continue_to: back,
            },
        ),
        Err(e) => admin_error_page(e),
    }
}

/// `GET /applications/{client_id}/delete`: the confirmation, saying what it will end.
pub async fn confirm_delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Id(client_id): Id,
) -> Response {
    let signed_in = match signed_in(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let merchant = signed_in.user.merchant_id.clone();
    let app =
        match admin::get_application(&state.store, Within::Merchant(&merchant), &client_id).await {
            Ok(a) => a,
            Err(e) => return admin_error_page(e),
        };
    let grants = match state.store.count_live_grants(&app.client_id).await {
        Ok(n) => n,
        Err(e) => return ApiError::from(e).into_response(),
    };
    page(
        StatusCode::OK,
        &ApplicationDeletePage {
            chrome: Chrome::new(&state, &signed_in, Area::Applications),
            client_id: app.client_id,
            name: app.name,
            grants,
        },
    )
}

/// `POST /applications/{client_id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    ip: ClientIp,
    Id(client_id): Id,
    form: Result<FormParams, FormError>,
) -> Response {
    let back = format!("/applications/{client_id}/delete");
    let (signed_in, _) = match signed_in_form(&state, &headers, &back, form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let merchant = signed_in.user.merchant_id.clone();
    match admin::delete_application(
        &state.store,
        Within::Merchant(&merchant),
        &actor(&signed_in, &ip),
        &client_id,
        state.now(),
    )
    .await
    {
        Ok(_) => see_other("/applications?notice=deleted"),
        Err(e) => admin_error_page(e),
    }
}
