//! Merchants and their users: create a merchant, add and remove users, change passwords.

use super::{AdminError, FieldErrors, Listed, Paging, Within};
use crate::{
    clock::Millis,
    domain::{
        audit::Actor,
        model::{self, Merchant, User, UserSummary},
        password,
        secret::{self, Digest},
    },
    store::{merchants::UserRemoval, Store, StoreError},
};

/// Input for a new merchant with its first user.
#[derive(Debug, Clone)]
pub struct NewMerchant {
    pub merchant_id: String,
    pub name: String,
    pub login: String,
    pub password: String,
}

/// Creates a merchant and its first user (the operator's act). Password hashing runs on a
/// blocking thread.
pub async fn create_merchant(
    store: &Store,
    input: NewMerchant,
    now: Millis,
) -> Result<User, AdminError> {
    let mut errors = FieldErrors::default();
    if !model::is_valid_merchant_id(&input.merchant_id) {
        errors.push(
            "merchant_id",
            "merchant id",
            "must be 1-32 characters of letters, digits, '_' or '-' (e.g. DEMO)",
        );
    }
    let name = input.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        errors.push("name", "merchant name", "must be 1-200 characters");
    }
    check_login(&input.login, &mut errors);
    check_password(&input.password, &mut errors);
    errors.into_result()?;
    store
        .create_merchant(
            Merchant {
                merchant_id: input.merchant_id.clone(),
                name,
            },
            now,
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => AdminError::invalid(
                "merchant_id",
                "merchant id",
                format!("{} is already taken", input.merchant_id),
            ),
            other => other.into(),
        })?;
    add_user(
        store,
        &Actor::operator(),
        &input.merchant_id,
        &input.login,
        input.password,
        now,
    )
    .await
}

pub fn check_login(login: &str, errors: &mut FieldErrors) {
    if !model::is_valid_login(login) {
        errors.push(
            "login",
            "login",
            "must be 1-100 printable characters without spaces",
        );
    }
}

pub fn check_password(password: &str, errors: &mut FieldErrors) {
    if password.chars().count() < password::MIN_LEN {
        errors.push(
            "password",
            "password",
            format!("must be at least {} characters", password::MIN_LEN),
        );
    } else if password.chars().count() > 1000 {
        errors.push("password", "password", "must be at most 1000 characters");
    }
}

async fn hash_password(password: String) -> Result<String, AdminError> {
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|e| StoreError::Inconsistent(format!("password hashing failed: {e}")))?
        .map_err(|e| StoreError::Inconsistent(format!("password hashing failed: {e}")).into())
}

/// Adds a user to an existing merchant.
pub async fn add_user(
    store: &Store,
    actor: &Actor,
    merchant_id: &str,
    login: &str,
    password: String,
    now: Millis,
) -> Result<User, AdminError> {
    let mut errors = FieldErrors::default();
    check_login(login, &mut errors);
    check_password(&password, &mut errors);
    errors.into_result()?;
    if store.find_merchant(merchant_id).await?.is_none() {
        return Err(AdminError::invalid(
            "merchant_id",
            "merchant",
            format!("no merchant {merchant_id:?}; create it with `ucoauth merchant create`"),
        ));
    }
    let phc = hash_password(password).await?;
    let user = User {
        user_id: secret::new_id(),
        merchant_id: merchant_id.to_owned(),
        login: login.to_owned(),
    };
    store
        .create_user(user.clone(), phc, now, actor.clone())
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => {
                AdminError::invalid("login", "login", format!("{login} is already taken"))
            }
            other => other.into(),
        })?;
    tracing::info!(user_id = %user.user_id, %merchant_id, "user added");
    Ok(user)
}

/// One page of a merchant's users, by login.
pub async fn list_users(
    store: &Store,
    merchant_id: &str,
    paging: Paging,
) -> Result<Listed<UserSummary>, AdminError> {
    let (items, total) = store
        .list_users(merchant_id, paging.offset, paging.limit)
        .await?;
    Ok(Listed {
        items,
        total,
        paging,
    })
}

/// A user `within` may see.
pub async fn get_user(
    store: &Store,
    within: Within<'_>,
    user_id: &str,
) -> Result<User, AdminError> {
    let found = if user_id.len() <= 64 {
        store.find_user(user_id).await?
    } else {
        None
    };
    found
        .filter(|u| within.allows(Some(&u.merchant_id)))
        .ok_or_else(|| AdminError::NotFound(format!("no user with id {user_id:?}")))
}

/// A user by login, `within` what the caller may see.
pub async fn get_user_by_login(
    store: &Store,
    within: Within<'_>,
    login: &str,
) -> Result<User, AdminError> {
    store
        .find_user_by_login(login)
        .await?
        .map(|c| c.user)
        .filter(|u| within.allows(Some(&u.merchant_id)))
        .ok_or_else(|| AdminError::NotFound(format!("no user with login {login:?}")))
}

/// Removes a user and ends their sessions. Refused for the merchant's last user (nobody could
/// sign in any more) and for `acting_user_id` itself (sign in as someone else to do that).
pub async fn remove_user(
    store: &Store,
    within: Within<'_>,
    actor: &Actor,
    user_id: &str,
    acting_user_id: Option<&str>,
    now: Millis,
) -> Result<User, AdminError> {
    let user = get_user(store, within, user_id).await?;
    if acting_user_id == Some(user.user_id.as_str()) {
        return Err(AdminError::Forbidden(
            "you cannot remove the user you are signed in as; sign in as another user first".into(),
        ));
    }
    match store
        .remove_user(
            user.user_id.clone(),
            user.merchant_id.clone(),
            now,
            actor.clone(),
        )
        .await?
    {
        UserRemoval::Removed => {
            tracing::info!(user_id = %user.user_id, merchant_id = %user.merchant_id, "user removed");
            Ok(user)
        }
        UserRemoval::NotFound => Err(AdminError::NotFound(format!("no user with id {user_id:?}"))),
        UserRemoval::LastUser => Err(AdminError::Conflict(format!(
            "{} is the merchant's only user; add another user before removing this one",
            user.login
        ))),
    }
}

/// Sets a user's password and ends their other sessions (all but `keep_session`).
pub async fn change_password(
    store: &Store,
    within: Within<'_>,
    actor: &Actor,
    user_id: &str,
    password: String,
    keep_session: Option<Digest>,
    now: Millis,
) -> Result<User, AdminError> {
    let mut errors = FieldErrors::default();
    check_password(&password, &mut errors);
    errors.into_result()?;
    let user = get_user(store, within, user_id).await?;
    let phc = hash_password(password).await?;
    if !store
        .set_password(user.user_id.clone(), phc, keep_session, now, actor.clone())
        .await?
    {
        return Err(AdminError::NotFound(format!("no user with id {user_id:?}")));
    }
    tracing::info!(user_id = %user.user_id, "password changed");
    Ok(user)
}
