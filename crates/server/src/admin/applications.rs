//! Developer applications: register, list, edit, rotate the secret, delete.

use super::{AdminError, FieldErrors, Listed, Paging, Within};
use crate::{
    clock::Millis,
    domain::{
        audit::Actor,
        model::Application,
        profile::Profile,
        redirect,
        scope::ScopeSet,
        secret::{self, Pepper, Purpose},
    },
    store::Store,
};

/// The most redirect URIs one application may register.
pub const MAX_REDIRECT_URIS: usize = 20;

/// Input for registering a developer application (and, merged with the current values, for
/// editing one).
#[derive(Debug, Clone, Default)]
pub struct NewApplication {
    pub name: String,
    pub description: String,
    pub developer_name: String,
    pub developer_email: String,
    pub developer_url: String,
    pub redirect_uris: Vec<String>,
    /// Scope names; an entry may hold several separated by spaces.
    pub scopes: Vec<String>,
    pub require_secret: bool,
    pub require_pkce: bool,
    pub profile: Option<Profile>,
    pub owner_merchant_id: Option<String>,
}

/// Changes to an application: `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct ApplicationChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub developer_name: Option<String>,
    pub developer_email: Option<String>,
    pub developer_url: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub require_secret: Option<bool>,
    pub require_pkce: Option<bool>,
    /// `Some(None)` returns the application to the server's profile.
    pub profile: Option<Option<Profile>>,
}

/// A registered application and its client secret, which is shown this once.
#[derive(Debug, Clone)]
pub struct CreatedApplication {
    pub application: Application,
    pub client_secret: String,
}

/// Checks an application's fields and returns its redirect URIs (deduplicated) and scopes.
/// Every bad field is reported, each message naming its field.
pub fn validate_application(input: &NewApplication) -> Result<(Vec<String>, ScopeSet), AdminError> {
    let mut errors = FieldErrors::default();
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        errors.push("name", "name", "must be 1-100 characters");
    }
    if input.description.chars().count() > 2000 {
        errors.push("description", "description", "at most 2000 characters");
    }
    for (field, label, value) in [
        ("developer_name", "developer name", &input.developer_name),
        ("developer_email", "developer email", &input.developer_email),
        ("developer_url", "developer URL", &input.developer_url),
    ] {
        if value.chars().count() > 200 {
            errors.push(field, label, "at most 200 characters");
        }
    }
    let email = input.developer_email.trim();
    if !email.is_empty() && !looks_like_email(email) {
        errors.push(
            "developer_email",
            "developer email",
            "expected an address like dev@example.com",
        );
    }
    let url = input.developer_url.trim();
    if !url.is_empty() {
        match url::Url::parse(url) {
            Ok(u) if u.scheme() == "https" || u.scheme() == "http" => {}
            _ => errors.push(
                "developer_url",
                "developer URL",
                "expected an absolute http(s) URL such as https://developer.example",
            ),
        }
    }

    let mut uris: Vec<String> = Vec::new();
    for uri in &input.redirect_uris {
        match redirect::validate_for_registration(uri) {
            Ok(()) if !uris.contains(uri) => uris.push(uri.clone()),
            Ok(()) => {}
            Err(e) => {
                let why = e.0.strip_prefix("redirect URI ").unwrap_or(&e.0).to_owned();
                errors.push("redirect_uris", "redirect URI", why);
            }
        }
    }
    if input.redirect_uris.is_empty() {
        errors.push(
            "redirect_uris",
            "redirect URI",
            "at least one is required (e.g. https://app.example/oauth/callback)",
        );
    } else if uris.len() > MAX_REDIRECT_URIS {
        errors.push(
            "redirect_uris",
            "redirect URI",
            format!("at most {MAX_REDIRECT_URIS}"),
        );
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
    errors.into_result()?;
    Ok((uris, scopes))
}

fn looks_like_email(s: &str) -> bool {
    let mut parts = s.splitn(2, '@');
    let (Some(local), Some(domain)) = (parts.next(), parts.next()) else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.contains('@')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
}

/// Registers an application and mints its client_id and secret.
pub async fn create_application(
    store: &Store,
    pepper: &Pepper,
    input: NewApplication,
    actor: &Actor,
    now: Millis,
) -> Result<CreatedApplication, AdminError> {
    let (redirect_uris, scopes) = validate_application(&input)?;
    if let Some(owner) = &input.owner_merchant_id {
        if store.find_merchant(owner).await?.is_none() {
            return Err(AdminError::invalid(
                "merchant_id",
                "merchant",
                format!("no merchant {owner:?}; create it with `ucoauth merchant create`"),
            ));
        }
    }
    let client_secret = secret::new_client_secret();
    let application = Application {
        client_id: secret::new_client_id(),
        owner_merchant_id: input.owner_merchant_id,
        name: input.name.trim().to_owned(),
        description: input.description.trim().to_owned(),
        developer_name: input.developer_name.trim().to_owned(),
        developer_email: input.developer_email.trim().to_owned(),
        developer_url: input.developer_url.trim().to_owned(),
        redirect_uris,
        scopes,
        require_secret: input.require_secret,
        require_pkce: input.require_pkce,
        profile: input.profile,
        secret_hash: pepper
            .digest(Purpose::ClientSecret, &client_secret)
            .to_vec(),
        secret_hint: secret::hint(&client_secret),
        created_at: now,
        updated_at: now,
    };
    store
        .create_application(application.clone(), actor.clone())
        .await?;
    tracing::info!(client_id = %application.client_id, "application registered");
    Ok(CreatedApplication {
        application,
        client_secret,
    })
}

/// One page of the applications `within` may see: a merchant's own, newest first; or, for the
/// operator, every application, oldest first.
pub async fn list_applications(
    store: &Store,
    within: Within<'_>,
    paging: Paging,
) -> Result<Listed<Application>, AdminError> {
    let (items, total) = match within {
        Within::AnyMerchant => store.list_applications(paging.offset, paging.limit).await?,
        Within::Merchant(m) => {
            store
                .list_applications_by_owner(m, paging.offset, paging.limit)
                .await?
        }
    };
    Ok(Listed {
        items,
        total,
        paging,
    })
}

/// A live application `within` may see.
pub async fn get_application(
    store: &Store,
    within: Within<'_>,
    client_id: &str,
) -> Result<Application, AdminError> {
    let found = if client_id.len() <= 128 {
        store.find_application(client_id).await?
    } else {
        None
    };
    found
        .filter(|app| within.allows(app.owner_merchant_id.as_deref()))
        .ok_or_else(|| AdminError::NotFound(format!("no application with client_id {client_id:?}")))
}

/// Applies `changes` to an application, validating the result as a whole.
pub async fn update_application(
    store: &Store,
    within: Within<'_>,
    actor: &Actor,
    client_id: &str,
    changes: ApplicationChanges,
    now: Millis,
) -> Result<Application, AdminError> {
    let current = get_application(store, within, client_id).await?;
    let merged = NewApplication {
        name: changes.name.unwrap_or_else(|| current.name.clone()),
        description: changes
            .description
            .unwrap_or_else(|| current.description.clone()),
        developer_name: changes
            .developer_name
            .unwrap_or_else(|| current.developer_name.clone()),
        developer_email: changes
            .developer_email
            .unwrap_or_else(|| current.developer_email.clone()),
        developer_url: changes
            .developer_url
            .unwrap_or_else(|| current.developer_url.clone()),
        redirect_uris: changes
            .redirect_uris
            .unwrap_or_else(|| current.redirect_uris.clone()),
        scopes: changes
            .scopes
            .unwrap_or_else(|| current.scopes.names().to_vec()),
        require_secret: changes.require_secret.unwrap_or(current.require_secret),
        require_pkce: changes.require_pkce.unwrap_or(current.require_pkce),
        profile: changes.profile.unwrap_or(current.profile),
        owner_merchant_id: current.owner_merchant_id.clone(),
    };
    let (redirect_uris, scopes) = validate_application(&merged)?;
    let updated = Application {
        name: merged.name.trim().to_owned(),
        description: merged.description.trim().to_owned(),
        developer_name: merged.developer_name.trim().to_owned(),
        developer_email: merged.developer_email.trim().to_owned(),
        developer_url: merged.developer_url.trim().to_owned(),
        redirect_uris,
        scopes,
        require_secret: merged.require_secret,
        require_pkce: merged.require_pkce,
        profile: merged.profile,
        updated_at: now,
        ..current.clone()
    };
    let changed = changed_fields(&current, &updated);
    if !store
        .update_application(updated.clone(), changed, actor.clone())
        .await?
    {
        return Err(AdminError::NotFound(format!(
            "no application with client_id {client_id:?}"
        )));
    }
    tracing::info!(%client_id, "application updated");
    Ok(updated)
}

/// The names of the fields an edit changed, for the audit trail (names only, not values).
fn changed_fields(before: &Application, after: &Application) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut check = |name, differs: bool| {
        if differs {
            changed.push(name);
        }
    };
    check("name", before.name != after.name);
    check("description", before.description != after.description);
    check(
        "developer_name",
        before.developer_name != after.developer_name,
    );
    check(
        "developer_email",
        before.developer_email != after.developer_email,
    );
    check("developer_url", before.developer_url != after.developer_url);
    check("redirect_uris", before.redirect_uris != after.redirect_uris);
    check("scopes", before.scopes != after.scopes);
    check(
        "require_secret",
        before.require_secret != after.require_secret,
    );
    check("require_pkce", before.require_pkce != after.require_pkce);
    check("profile", before.profile != after.profile);
    changed
}

/// Replaces an application's client secret; the old one stops working at once. Returns the
/// application and the new secret, which is shown this once.
pub async fn rotate_secret(
    store: &Store,
    pepper: &Pepper,
    within: Within<'_>,
    actor: &Actor,
    client_id: &str,
    now: Millis,
) -> Result<CreatedApplication, AdminError> {
    let app = get_application(store, within, client_id).await?;
    let client_secret = secret::new_client_secret();
    let hash = pepper
        .digest(Purpose::ClientSecret, &client_secret)
        .to_vec();
    let hint = secret::hint(&client_secret);
    if !store
        .set_client_secret(
            app.client_id.clone(),
            hash.clone(),
            hint.clone(),
            now,
            actor.clone(),
        )
        .await?
    {
        return Err(AdminError::NotFound(format!(
            "no application with client_id {client_id:?}"
        )));
    }
    tracing::info!(%client_id, "client secret rotated");
    Ok(CreatedApplication {
        application: Application {
            secret_hash: hash,
            secret_hint: hint,
            updated_at: now,
            ..app
        },
        client_secret,
    })
}

/// Deletes an application and revokes every grant it holds; returns how many were revoked.
pub async fn delete_application(
    store: &Store,
    within: Within<'_>,
    actor: &Actor,
    client_id: &str,
    now: Millis,
) -> Result<u64, AdminError> {
    let app = get_application(store, within, client_id).await?;
    let revoked = store
        .delete_application(app.client_id, now, actor.clone())
        .await?
        .ok_or_else(|| {
            AdminError::NotFound(format!("no application with client_id {client_id:?}"))
        })?;
    tracing::info!(%client_id, revoked_grants = revoked, "application deleted");
    Ok(revoked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> NewApplication {
        NewApplication {
            name: "My App".into(),
            redirect_uris: vec!["https://app.example/cb".into()],
            scopes: vec!["item_read".into()],
            ..Default::default()
        }
    }

    #[test]
    fn a_minimal_application_is_valid() {
        assert!(validate_application(&input()).is_ok());
    }

    #[test]
    fn each_bad_field_is_named_in_the_message() {
        let cases: Vec<(NewApplication, &str, &str)> = vec![
            (
                NewApplication {
                    name: " ".into(),
                    ..input()
                },
                "name",
                "name",
            ),
            (
                NewApplication {
                    description: "x".repeat(2001),
                    ..input()
                },
                "description",
                "description",
            ),
            (
                NewApplication {
                    developer_name: "x".repeat(201),
                    ..input()
                },
                "developer_name",
                "developer name",
            ),
            (
                NewApplication {
                    redirect_uris: vec![],
                    ..input()
                },
                "redirect_uris",
                "redirect URI",
            ),
            (
                NewApplication {
                    redirect_uris: vec!["http://app.example/cb".into()],
                    ..input()
                },
                "redirect_uris",
                "redirect URI",
            ),
            (
                NewApplication {
                    redirect_uris: (0..21).map(|i| format!("https://a.example/{i}")).collect(),
                    ..input()
                },
                "redirect_uris",
                "redirect URI",
            ),
            (
                NewApplication {
                    scopes: vec![],
                    ..input()
                },
                "scopes",
                "permissions",
            ),
            (
                NewApplication {
                    scopes: vec!["bad\"scope".into()],
                    ..input()
                },
                "scopes",
                "permissions",
            ),
            (
                NewApplication {
                    developer_email: "nope".into(),
                    ..input()
                },
                "developer_email",
                "developer email",
            ),
            (
                NewApplication {
                    developer_url: "ftp://x".into(),
                    ..input()
                },
                "developer_url",
                "developer URL",
            ),
        ];
        for (case, field, label) in cases {
            let err = validate_application(&case).unwrap_err();
            let text = err.to_string();
            assert!(
                text.starts_with(label),
                "{text:?} should start with {label:?}"
            );
            let fields = err.field_errors().unwrap();
            assert_eq!(fields.0.len(), 1, "{fields:?}");
            assert!(fields.get(field).is_some(), "{fields:?} lacks {field}");
        }
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let bad = NewApplication {
            name: String::new(),
            developer_email: "x".into(),
            redirect_uris: vec![
                "http://app.example/cb".into(),
                "https://ok.example/cb".into(),
            ],
            scopes: vec![],
            ..Default::default()
        };
        let err = validate_application(&bad).unwrap_err();
        let fields: Vec<&str> = err
            .field_errors()
            .unwrap()
            .0
            .iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            ["name", "developer_email", "redirect_uris", "scopes"]
        );
        assert_eq!(
            err.field_errors().unwrap().get("redirect_uris").unwrap(),
            "\"http://app.example/cb\" must use https (plain http is allowed only for loopback hosts)"
        );
    }

    #[test]
    fn duplicate_redirect_uris_and_scopes_are_kept_once() {
        let (uris, scopes) = validate_application(&NewApplication {
            redirect_uris: vec!["https://a.example/cb".into(), "https://a.example/cb".into()],
            scopes: vec!["item_read order_read".into(), "item_read".into()],
            ..input()
        })
        .unwrap();
        assert_eq!(uris, ["https://a.example/cb"]);
        assert_eq!(scopes.to_wire(), "item_read order_read");
    }
}
