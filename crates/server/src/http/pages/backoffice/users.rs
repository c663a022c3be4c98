//! Users of the merchant: add, remove, change password.

use axum::{
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode, Uri},
    response::Response,
};

use super::{
    actor, admin_error_page, page, see_other, signed_in, signed_in_form, text,
    views::{PasswordPage, UserRow, UsersPage},
    Area, Chrome, ListQuery, Pager,
};
use crate::{
    admin::{self, merchants, views::display_time, AdminError, FieldErrors, Within},
    domain::secret::Purpose,
    http::admin_api::Id,
    http::client_ip::ClientIp,
    http::{form::FormError, form::FormParams, session::SignedIn, AppState},
};

/// `GET /users`.
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
    render_list(
        &state,
        &signed_in,
        &query,
        StatusCode::OK,
        String::new(),
        FieldErrors::default(),
        None,
    )
    .await
}

async fn render_list(
    state: &AppState,
    signed_in: &SignedIn,
    query: &ListQuery,
    status: StatusCode,
    login: String,
    errors: FieldErrors,
    problem: Option<String>,
) -> Response {
    let listed =
        match admin::list_users(&state.store, &signed_in.user.merchant_id, query.paging()).await {
            Ok(l) => l,
            Err(e) => return admin_error_page(e),
        };
    let pager = Pager::new("/users", query.page, listed.total);
    let users = listed
        .items
        .into_iter()
        .map(|u| UserRow {
            is_me: u.user.user_id == signed_in.user.user_id,
            login: u.user.login,
            created: display_time(u.created_at),
            user_id: u.user.user_id,
        })
        .collect();
    page(
        status,
        &UsersPage {
            chrome: Chrome::new(state, signed_in, Area::Users).with_notice(query.notice),
            users,
            pager,
            login,
            errors,
            problem,
        },
    )
}

/// The two password fields must agree; the rules for the password itself are the admin's.
fn confirm_matches(form: &FormParams, errors: &mut FieldErrors) {
    if text(form, "password") != text(form, "password_confirm") {
        errors.push(
            "password_confirm",
            "password confirmation",
            "does not match the password",
        );
    }
}

/// `POST /users`: adds a user.
pub async fn add(
    State(state): State<AppState>,
    headers: HeaderMap,
    ip: ClientIp,
    form: Result<FormParams, FormError>,
) -> Response {
    let (signed_in, form) = match signed_in_form(&state, &headers, "/users", form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let login = text(&form, "login");
    let mut errors = FieldErrors::default();
    merchants::check_login(&login, &mut errors);
    merchants::check_password(&text(&form, "password"), &mut errors);
    confirm_matches(&form, &mut errors);
    let result = if errors.is_empty() {
        admin::add_user(
            &state.store,
            &actor(&signed_in, &ip),
            &signed_in.user.merchant_id,
            &login,
            text(&form, "password"),
            state.now(),
        )
        .await
        .map(|_| ())
    } else {
        Err(AdminError::Invalid(errors))
    };
    match result {
        Ok(()) => see_other("/users?notice=added"),
        Err(AdminError::Invalid(errors)) => {
            render_list(
                &state,
                &signed_in,
                &ListQuery::parse(None),
                StatusCode::BAD_REQUEST,
                login,
                errors,
                None,
            )
            .await
        }
        Err(e) => admin_error_page(e),
    }
}

/// `POST /users/{user_id}/remove`.
pub async fn remove(
    State(state): State<AppState>,
    headers: HeaderMap,
    ip: ClientIp,
    Id(user_id): Id,
    form: Result<FormParams, FormError>,
) -> Response {
    let (signed_in, _) = match signed_in_form(&state, &headers, "/users", form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let merchant = signed_in.user.merchant_id.clone();
    match admin::remove_user(
        &state.store,
        Within::Merchant(&merchant),
        &actor(&signed_in, &ip),
        &user_id,
        Some(&signed_in.user.user_id),
        state.now(),
    )
    .await
    {
        Ok(_) => see_other("/users?notice=removed"),
        Err(e @ (AdminError::Forbidden(_) | AdminError::Conflict(_))) => {
            let status = match e {
                AdminError::Forbidden(_) => StatusCode::FORBIDDEN,
                _ => StatusCode::CONFLICT,
            };
            render_list(
                &state,
                &signed_in,
                &ListQuery::parse(None),
                status,
                String::new(),
                FieldErrors::default(),
                Some(e.to_string()),
            )
            .await
        }
        Err(e) => admin_error_page(e),
    }
}

/// `GET /users/{user_id}/password`.
pub async fn password_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Id(user_id): Id,
) -> Response {
    let signed_in = match signed_in(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let merchant = signed_in.user.merchant_id.clone();
    match merchants::get_user(&state.store, Within::Merchant(&merchant), &user_id).await {
        Ok(user) => page(
            StatusCode::OK,
            &PasswordPage {
                chrome: Chrome::new(&state, &signed_in, Area::Users),
                user_id: user.user_id,
                login: user.login,
                errors: FieldErrors::default(),
            },
        ),
        Err(e) => admin_error_page(e),
    }
}

/// `POST /users/{user_id}/password`: sets the password and signs the user's other sessions
/// out (the session making the change stays signed in).
pub async fn change_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    ip: ClientIp,
    Id(user_id): Id,
    form: Result<FormParams, FormError>,
) -> Response {
    let back = format!("/users/{user_id}/password");
    let (signed_in, form) = match signed_in_form(&state, &headers, &back, form).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let merchant = signed_in.user.merchant_id.clone();
    let within = Within::Merchant(&merchant);
    let user = match merchants::get_user(&state.store, within, &user_id).await {
        Ok(u) => u,
        Err(e) => return admin_error_page(e),
    };
    let mut errors = FieldErrors::default();
    merchants::check_password(&text(&form, "password"), &mut errors);
    confirm_matches(&form, &mut errors);
    let keep = state
        .config
        .pepper
        .digest(Purpose::Session, &signed_in.session_id);
    let result = if errors.is_empty() {
        admin::change_password(
            &state.store,
            within,
            &actor(&signed_in, &ip),
            &user.user_id,
            text(&form, "password"),
            Some(keep),
            state.now(),
        )
        .await
        .map(|_| ())
    } else {
        Err(AdminError::Invalid(errors))
    };
    match result {
        Ok(()) => see_other("/users?notice=password"),
        Err(AdminError::Invalid(errors)) => page(
            StatusCode::BAD_REQUEST,
            &PasswordPage {
                chrome: Chrome::new(&state, &signed_in, Area::Users),
                user_id: user.user_id,
                login: user.login,
                errors,
            },
        ),
        Err(e) => admin_error_page(e),
    }
}
