//! Administrative operations shared by the CLI, the back-office pages and the admin JSON API:
//! they validate input into domain values, check that the caller may touch the records, and call
//! the store. One implementation, three front ends.
//!
//! - [`applications`]: register, list, edit, rotate the secret of, and delete developer
//!   applications.
//! - [`grants`]: a merchant's authorized applications, and revoking them.
//! - [`keys`]: simple API keys (`x-ultracart-simple-key`).
//! - [`merchants`]: merchants and their users (add, remove, change password).
//! - [`views`]: the JSON shapes the CLI's `--json` and the admin API print.
//!
//! Each operation returns [`AdminError`]; its message says what to fix, and
//! [`AdminError::Invalid`] names every bad field so a page can show each message next to its
//! field.

pub mod applications;
pub mod grants;
pub mod keys;
pub mod merchants;
pub mod views;

pub use applications::{
    create_application, delete_application, get_application, list_applications, rotate_secret,
    update_application, validate_application, ApplicationChanges, CreatedApplication,
    NewApplication,
};
pub use grants::{list_grants, revoke_grant};
pub use keys::{create_key, list_keys, revoke_key, CreatedKey, NewKey};
pub use merchants::{
    add_user, change_password, create_merchant, list_users, remove_user, NewMerchant,
};

use std::fmt;

use crate::store::StoreError;

/// One bad input field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's name in forms and JSON bodies (`redirect_uris`).
    pub field: &'static str,
    /// The field as people call it (`redirect URI`).
    pub label: &'static str,
    /// What is wrong and how to fix it, without the label.
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, label: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            label,
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.label, self.message)
    }
}

/// Every bad field of one input, in form order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    pub fn push(&mut self, field: &'static str, label: &'static str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, label, message));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The messages for `field`, joined, if it has any.
    pub fn get(&self, field: &str) -> Option<String> {
        let messages: Vec<&str> = self
            .0
            .iter()
            .filter(|e| e.field == field)
            .map(|e| e.message.as_str())
            .collect();
        (!messages.is_empty()).then(|| messages.join(" "))
    }

    /// `Err(Invalid)` if any field is bad.
    pub fn into_result(self) -> Result<(), AdminError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(AdminError::Invalid(self))
        }
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join("; "))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Bad input; each entry names the field and the rule.
    #[error("{0}")]
    Invalid(FieldErrors),
    /// The record does not exist, or is not the caller's; the message says which record.
    #[error("{0}")]
    NotFound(String),
    /// The caller may not do this (e.g. a key granting permissions it lacks).
    #[error("{0}")]
    Forbidden(String),
    /// The records' state forbids it (e.g. removing a merchant's last user).
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AdminError {
    /// A single bad field.
    pub fn invalid(field: &'static str, label: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid(FieldErrors(vec![FieldError::new(field, label, message)]))
    }

    /// The field errors, if this is [`AdminError::Invalid`].
    pub fn field_errors(&self) -> Option<&FieldErrors> {
        match self {
            Self::Invalid(errors) => Some(errors),
            _ => None,
        }
    }
}

/// Whose records an operation may touch: the operator's CLI may touch any merchant's; a
/// signed-in user or a simple key only their own merchant's. Records of other merchants are
/// reported as not found, so their existence does not leak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Within<'a> {
    AnyMerchant,
    Merchant(&'a str),
}

impl Within<'_> {
    /// Whether a record owned by `owner` is visible.
    pub fn allows(self, owner: Option<&str>) -> bool {
        match self {
            Self::AnyMerchant => true,
            Self::Merchant(m) => owner == Some(m),
        }
    }

    /// The merchant filter for store calls.
    pub fn merchant(self) -> Option<String> {
        match self {
            Self::AnyMerchant => None,
            Self::Merchant(m) => Some(m.to_owned()),
        }
    }
}

/// Which slice of a long list to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub offset: i64,
    pub limit: i64,
}

impl Paging {
    /// The most rows one request may ask for.
    pub const MAX_LIMIT: i64 = 200;
    /// The rows a request gets when it does not say.
    pub const DEFAULT_LIMIT: i64 = 100;

    /// Checks `offset >= 0` and `1 <= limit <= MAX_LIMIT`.
    pub fn new(offset: i64, limit: i64) -> Result<Self, AdminError> {
        let mut errors = FieldErrors::default();
        if offset < 0 {
            errors.push("_offset", "_offset", "must be 0 or more");
        }
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            errors.push(
                "_limit",
                "_limit",
                format!("must be between 1 and {}", Self::MAX_LIMIT),
            );
        }
        errors.into_result()?;
        Ok(Self { offset, limit })
    }

    /// Everything (for the command line, which prints whole lists).
    pub fn all() -> Self {
        Self {
            offset: 0,
            limit: i64::MAX,
        }
    }
}

/// One page of a list, with the total it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub paging: Paging,
}

impl<T> Listed<T> {
    /// Whether rows follow this page.
    pub fn more(&self) -> bool {
        self.paging
            .offset
            .saturating_add(i64::try_from(self.items.len()).unwrap_or(i64::MAX))
            < self.total
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Listed<U> {
        Listed {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
            paging: self.paging,
        }
    }
}
