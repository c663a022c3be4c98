//! The records the server works with: merchants and their users, developer applications,
//! and grants with the credentials that belong to them.

use crate::clock::Millis;

use super::{profile::Profile, scope::ScopeSet};

/// A merchant account (e.g. `DEMO`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merchant {
    pub merchant_id: String,
    pub name: String,
}

/// Merchant ids: 1–32 characters of `[A-Za-z0-9_-]`.
pub fn is_valid_merchant_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Logins: 1–100 printable characters without spaces.
pub fn is_valid_login(login: &str) -> bool {
    (1..=100).contains(&login.chars().count()) && login.chars().all(|c| c.is_ascii_graphic())
}

/// A merchant user who can sign in to the consent screen and the back office.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub user_id: String,
    pub merchant_id: String,
    pub login: String,
}

/// A registered developer application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    pub client_id: String,
    pub owner_merchant_id: Option<String>,
    pub name: String,
    pub description: String,
    pub developer_name: String,
    pub developer_email: String,
    pub developer_url: String,
    /// Registered redirect URIs; a requested one must match one of these exactly.
    pub redirect_uris: Vec<String>,
    /// The permissions the application asks for.
    pub scopes: ScopeSet,
    pub require_secret: bool,
    pub require_pkce: bool,
    /// Overrides the server profile for this application.
    pub profile: Option<Profile>,
    /// Keyed hash of the client secret.
    pub secret_hash: Vec<u8>,
    /// The secret's last characters, for display.
    pub secret_hint: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A merchant's approval of an application: the root of every code and token issued for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub grant_id: String,
    pub merchant_id: String,
    pub client_id: String,
    pub user_id: Option<String>,
    pub scopes: ScopeSet,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
}

/// Who an access token speaks for, as `/oauth/me` and resource servers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessGrant {
    pub grant_id: String,
    pub merchant_id: String,
    pub merchant_name: String,
    pub client_id: String,
    pub application_name: String,
    /// Scopes of this access token (a subset of the grant's).
    pub scopes: ScopeSet,
    pub issued_at: Millis,
    pub expires_at: Millis,
}

/// A merchant's simple API key (`x-ultracart-simple-key`): a credential with fixed permissions,
/// for scripts that act as the merchant without an OAuth application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleKey {
    pub key_id: String,
    pub merchant_id: String,
    /// What the merchant called it ("nightly export").
    pub name: String,
    /// The key's last characters, for display.
    pub key_hint: String,
    pub scopes: ScopeSet,
    /// The user who created it; `None` when made from the command line.
    pub created_by: Option<String>,
    pub created_at: Millis,
}

/// Who a presented simple key speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPrincipal {
    pub key_id: String,
    pub merchant_id: String,
    pub merchant_name: String,
    pub name: String,
    pub scopes: ScopeSet,
}

/// A live grant as the merchant's "Authorized Applications" page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantSummary {
    pub grant_id: String,
    pub client_id: String,
    pub application_name: String,
    pub developer_name: String,
    pub scopes: ScopeSet,
    /// Login of the user who approved it, if that user still exists.
    pub approved_by: Option<String>,
    pub created_at: Millis,
    /// When the application last obtained a credential with it (the code at approval, then
    /// token pairs), to the minute: a pair issued less than a minute after the time held does
    /// not move it. `None`: never (a device grant before its first token).
    pub last_used_at: Option<Millis>,
}

/// A merchant user as listed in the back office.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    pub user: User,
    pub created_at: Millis,
}
