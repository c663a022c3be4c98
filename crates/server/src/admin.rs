//! Administrative operations shared by the CLI and the back office: they validate input into
//! domain values and call the store. Each returns [`AdminError`], whose message says what to fix.

use crate::{
    clock::Millis,
    domain::{
        model::{self, Application, Merchant, User},
        password,
        profile::Profile,
        redirect,
        scope::ScopeSet,
        secret::{self, Pepper, Purpose},
    },
    store::{Store, StoreError},
};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Bad input; the message names the field and the rule.
    #[error("{0}")]
    Invalid(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Input for a new merchant with its first user.
#[derive(Debug, Clone)]
pub struct NewMerchant {
    pub merchant_id: String,
    pub name: String,
    pub login: String,
    pub password: String,
}

/// Creates a merchant and its first user. Password hashing runs on a blocking thread.
pub async fn create_merchant(
    store: &Store,
    input: NewMerchant,
    now: Millis,
) -> Result<User, AdminError> {
    if !model::is_valid_merchant_id(&input.merchant_id) {
        return Err(AdminError::Invalid(
            "merchant id must be 1-32 characters of letters, digits, '_' or '-' (e.g. DEMO)".into(),
        ));
    }
    let name = input.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(AdminError::Invalid(
            "merchant name must be 1-200 characters".into(),
        ));
    }
    store
        .create_merchant(
            Merchant {
                merchant_id: input.merchant_id.clone(),
                name,
            },
            now,
        )
        .await?;
    add_user(store, &input.merchant_id, &input.login, input.password, now).await
}

/// Adds a user to an existing merchant.
pub async fn add_user(
    store: &Store,
    merchant_id: &str,
    login: &str,
    password: String,
    now: Millis,
) -> Result<User, AdminError> {
    if !model::is_valid_login(login) {
        return Err(AdminError::Invalid(
            "login must be 1-100 printable characters without spaces".into(),
        ));
    }
    if password.chars().count() < password::MIN_LEN {
        return Err(AdminError::Invalid(format!(
            "password must be at least {} characters",
            password::MIN_LEN
        )));
    }
    let phc = tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map_err(|e| AdminError::Invalid(format!("password hashing failed: {e}")))?
        .map_err(|e| AdminError::Invalid(format!("password hashing failed: {e}")))?;
    let user = User {
        user_id: secret::new_id(),
        merchant_id: merchant_id.to_owned(),
        login: login.to_owned(),
    };
    store.create_user(user.clone(), phc, now).await?;
    Ok(user)
}

/// Input for registering a developer application.
#[derive(Debug, Clone, Default)]
pub struct NewApplication {
    pub name: String,
    pub description: String,
    pub developer_name: String,
    pub developer_email: String,
    pub developer_url: String,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub require_secret: bool,
    pub require_pkce: bool,
    pub profile: Option<Profile>,
    pub owner_merchant_id: Option<String>,
}

/// A registered application and its client secret, which is shown this once.
#[derive(Debug, Clone)]
pub struct CreatedApplication {
    pub application: Application,
    pub client_secret: String,
}

/// Checks an application's fields; each message names the field.
pub fn validate_application(input: &NewApplication) -> Result<(Vec<String>, ScopeSet), AdminError> {
    let invalid = |m: String| Err(AdminError::Invalid(m));
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return invalid("name: must be 1-100 characters".into());
    }
    if input.description.chars().count() > 2000 {
        return invalid("description: at most 2000 characters".into());
    }
    for (field, value) in [
        ("developer name", &input.developer_name),
        ("developer email", &input.developer_email),
        ("developer URL", &input.developer_url),
    ] {
        if value.chars().count() > 200 {
            return invalid(format!("{field}: at most 200 characters"));
        }
    }
    if !input.developer_email.is_empty() && !looks_like_email(&input.developer_email) {
        return invalid("developer email: expected an address like dev@example.com".into());
    }
    if !input.developer_url.is_empty() {
        match url::Url::parse(&input.developer_url) {
            Ok(u) if u.scheme() == "https" || u.scheme() == "http" => {}
            _ => return invalid("developer URL: expected an absolute http(s) URL".into()),
        }
    }
    let mut uris: Vec<String> = Vec::new();
    for uri in &input.redirect_uris {
        redirect::validate_for_registration(uri)
            .map_err(|e| AdminError::Invalid(format!("redirect URI: {e}")))?;
        if !uris.contains(uri) {
            uris.push(uri.clone());
        }
    }
    if uris.is_empty() {
        return invalid("redirect URI: at least one is required".into());
    }
    if uris.len() > 20 {
        return invalid("redirect URI: at most 20".into());
    }
    let scopes = ScopeSet::from_names(
        input
            .scopes
            .iter()
            .flat_map(|s| s.split(' '))
            .filter(|s| !s.is_empty()),
    )
    .map_err(|e| AdminError::Invalid(format!("permissions: {}", e.description)))?;
    if scopes.is_empty() {
        return invalid("permissions: choose at least one scope".into());
    }
    Ok((uris, scopes))
}

fn looks_like_email(s: &str) -> bool {
    let mut parts = s.splitn(2, '@');
    let (Some(local), Some(domain)) = (parts.next(), parts.next()) else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(char::is_whitespace)
}

/// Registers an application and mints its client_id and secret.
pub async fn create_application(
    store: &Store,
    pepper: &Pepper,
    input: NewApplication,
    now: Millis,
) -> Result<CreatedApplication, AdminError> {
    let (redirect_uris, scopes) = validate_application(&input)?;
    let client_secret = secret::new_client_secret();
    let application = Application {
        client_id: secret::new_client_id(),
        owner_merchant_id: input.owner_merchant_id,
        name: input.name.trim().to_owned(),
        description: input.description,
        developer_name: input.developer_name,
        developer_email: input.developer_email,
        developer_url: input.developer_url,
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
    store.create_application(application.clone()).await?;
    Ok(CreatedApplication {
        application,
        client_secret,
    })
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
        let cases: Vec<(NewApplication, &str)> = vec![
            (
                NewApplication {
                    name: " ".into(),
                    ..input()
                },
                "name",
            ),
            (
                NewApplication {
                    redirect_uris: vec![],
                    ..input()
                },
                "redirect URI",
            ),
            (
                NewApplication {
                    redirect_uris: vec!["http://app.example/cb".into()],
                    ..input()
                },
                "redirect URI",
            ),
            (
                NewApplication {
                    scopes: vec![],
                    ..input()
                },
                "permissions",
            ),
            (
                NewApplication {
                    scopes: vec!["bad\"scope".into()],
                    ..input()
                },
                "permissions",
            ),
            (
                NewApplication {
                    developer_email: "nope".into(),
                    ..input()
                },
                "developer email",
            ),
            (
                NewApplication {
                    developer_url: "ftp://x".into(),
                    ..input()
                },
                "developer URL",
            ),
        ];
        for (case, field) in cases {
            let err = validate_application(&case).unwrap_err().to_string();
            assert!(
                err.starts_with(field),
                "{err:?} should start with {field:?}"
            );
        }
    }
}
