//! Simple API keys (`x-ultracart-simple-key`): create, list, revoke.

use super::{AdminError, FieldErrors, Listed, Paging, Within};
use crate::{
    clock::Millis,
    domain::{
        audit::Actor,
        model::SimpleKey,
        scope::ScopeSet,
        secret::{self, Pepper, Purpose},
    },
    store::Store,
};

/// Input for a new key.
#[derive(Debug, Clone, Default)]
pub struct NewKey {
    pub merchant_id: String,
    pub name: String,
    /// Scope names; an entry may hold several separated by spaces.
    pub scopes: Vec<String>,
    /// The user creating it, if any.
    pub created_by: Option<String>,
}

/// A new key and its value, which is shown this once.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub key: SimpleKey,
    pub secret: String,
}

/// Creates a key. With `ceiling` (the permissions of the key making this request), the new key
/// may hold only permissions the caller holds: a key cannot mint a stronger key.
pub async fn create_key(
    store: &Store,
    pepper: &Pepper,
    input: NewKey,
    ceiling: Option<&ScopeSet>,
    actor: &Actor,
    now: Millis,
) -> Result<CreatedKey, AdminError> {
    let mut errors = FieldErrors::default();
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        errors.push("name", "name", "must be 1-100 characters");
    }
    let scopes = match ScopeSet::from_names(
        input
            .scopes
            .iter()
            .flat_map(|s| s.split(' '))
            .filter(|s| !s.is_empty()),
    ) {
        Ok(s) if s.is_empty() => {
            errors.push("scopes", "permissions", "choose at least one permission");
            s
        }
        Ok(s) => s,
        Err(e) => {
            errors.push("scopes", "permissions", e.description);
            ScopeSet::default()
        }
    };
    if let Some(ceiling) = ceiling {
        let extra: Vec<&str> = scopes.outside(ceiling).collect();
        if !extra.is_empty() {
            errors.push(
                "scopes",
                "permissions",
                format!(
                    "a key may only grant permissions it holds itself; not held: {}",
                    extra.join(" ")
                ),
            );
        }
    }
    errors.into_result()?;
    if store.find_merchant(&input.merchant_id).await?.is_none() {
        return Err(AdminError::invalid(
            "merchant_id",
            "merchant",
            format!("no merchant {:?}", input.merchant_id),
        ));
    }
    let value = secret::new_client_secret();
    let key = SimpleKey {
        key_id: secret::new_id(),
        merchant_id: input.merchant_id,
        name: name.to_owned(),
        key_hint: secret::hint(&value),
        scopes,
        created_by: input.created_by,
        created_at: now,
    };
    store
        .create_key(
            key.clone(),
            pepper.digest(Purpose::SimpleKey, &value),
            actor.clone(),
        )
        .await?;
    tracing::info!(key_id = %key.key_id, merchant_id = %key.merchant_id, "simple key created");
    Ok(CreatedKey { key, secret: value })
}

/// One page of a merchant's live keys, newest first.
pub async fn list_keys(
    store: &Store,
    merchant_id: &str,
    paging: Paging,
) -> Result<Listed<SimpleKey>, AdminError> {
    let (items, total) = store
        .list_keys(merchant_id, paging.offset, paging.limit)
        .await?;
    Ok(Listed {
        items,
        total,
        paging,
    })
}

/// Revokes a key; it stops working at once.
pub async fn revoke_key(
    store: &Store,
    within: Within<'_>,
    actor: &Actor,
    key_id: &str,
    now: Millis,
) -> Result<(), AdminError> {
    let revoked = key_id.len() <= 64
        && store
            .revoke_key(key_id.to_owned(), within.merchant(), now, actor.clone())
            .await?;
    if !revoked {
        return Err(AdminError::NotFound(format!(
            "no live API key with id {key_id:?}"
        )));
    }
    tracing::info!(%key_id, "simple key revoked");
    Ok(())
}
