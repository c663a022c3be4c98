//! The JSON shapes of back-office records, as the admin API answers and the CLI's `--json`
//! prints them. Secrets appear only in the response that created them; hashes never.
//! Times are ISO 8601 in UTC (`2026-11-23T10:00:00Z`), under UltraCart's `_dts` suffix.

use serde::Serialize;

use crate::{
    clock::Millis,
    domain::model::{Application, GrantSummary, SimpleKey, User, UserSummary},
};

/// A developer application.
#[derive(Debug, Clone, Serialize)]
pub struct ApplicationView {
    pub client_id: String,
    /// Only in the answer that created or rotated it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// The secret's last characters.
    pub client_secret_hint: String,
    pub name: String,
    pub description: String,
    pub developer_name: String,
    pub developer_email: String,
    pub developer_url: String,
    pub redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub require_secret: bool,
    pub require_pkce: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// The merchant that owns it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<String>,
    pub created_dts: String,
    pub updated_dts: String,
}

impl ApplicationView {
    pub fn new(app: Application, client_secret: Option<String>) -> Self {
        Self {
            client_id: app.client_id,
            client_secret,
            client_secret_hint: app.secret_hint,
            name: app.name,
            description: app.description,
            developer_name: app.developer_name,
            developer_email: app.developer_email,
            developer_url: app.developer_url,
            redirect_uris: app.redirect_uris,
            scopes: app.scopes.names().to_vec(),
            require_secret: app.require_secret,
            require_pkce: app.require_pkce,
            profile: app.profile.map(|p| p.to_string()),
            merchant_id: app.owner_merchant_id,
            created_dts: iso8601(app.created_at),
            updated_dts: iso8601(app.updated_at),
        }
    }
}

/// A live grant: an application the merchant authorized.
#[derive(Debug, Clone, Serialize)]
pub struct GrantView {
    pub grant_id: String,
    pub client_id: String,
    pub application_name: String,
    pub developer_name: String,
    pub scopes: Vec<String>,
    /// Login of the user who approved it (absent once that user is removed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    pub created_dts: String,
    /// When the application last obtained a token with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_dts: Option<String>,
}

impl From<GrantSummary> for GrantView {
    fn from(g: GrantSummary) -> Self {
        Self {
            grant_id: g.grant_id,
            client_id: g.client_id,
            application_name: g.application_name,
            developer_name: g.developer_name,
            scopes: g.scopes.names().to_vec(),
            approved_by: g.approved_by,
            created_dts: iso8601(g.created_at),
            last_used_dts: g.last_used_at.map(iso8601),
        }
    }
}

/// A simple API key.
#[derive(Debug, Clone, Serialize)]
pub struct KeyView {
    pub key_id: String,
    pub merchant_id: String,
    pub name: String,
    /// The key itself; only in the answer that created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The key's last characters.
    pub key_hint: String,
    pub scopes: Vec<String>,
    pub created_dts: String,
}

impl KeyView {
    pub fn new(key: SimpleKey, value: Option<String>) -> Self {
        Self {
            key_id: key.key_id,
            merchant_id: key.merchant_id,
            name: key.name,
            key: value,
            key_hint: key.key_hint,
            scopes: key.scopes.names().to_vec(),
            created_dts: iso8601(key.created_at),
        }
    }
}

/// A merchant user.
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    pub user_id: String,
    pub merchant_id: String,
    pub login: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_dts: Option<String>,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            user_id: u.user_id,
            merchant_id: u.merchant_id,
            login: u.login,
            created_dts: None,
        }
    }
}

impl From<UserSummary> for UserView {
    fn from(u: UserSummary) -> Self {
        Self {
            created_dts: Some(iso8601(u.created_at)),
            ..u.user.into()
        }
    }
}

/// Epoch milliseconds as `YYYY-MM-DDThh:mm:ssZ` (UTC).
pub fn iso8601(ms: Millis) -> String {
    let (date, (h, m, s)) = civil(ms);
    format!("{date}T{h:02}:{m:02}:{s:02}Z")
}

/// Epoch milliseconds as `YYYY-MM-DD hh:mm UTC`, for pages.
pub fn display_time(ms: Millis) -> String {
    let (date, (h, m, _)) = civil(ms);
    format!("{date} {h:02}:{m:02} UTC")
}

/// The calendar date (`YYYY-MM-DD`) and time of day of `ms`, proleptic Gregorian, UTC.
fn civil(ms: Millis) -> (String, (i64, i64, i64)) {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    // Days since 1970-01-01 to (year, month, day): Howard Hinnant's `civil_from_days`.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        (of_day / 3600, of_day % 3600 / 60, of_day % 60),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_format_as_utc_iso8601() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(1_795_430_245_999), "2026-11-23T10:37:25Z");
        assert_eq!(iso8601(-1000), "1969-12-31T23:59:59Z");
        assert_eq!(display_time(1_795_430_245_999), "2026-11-23 10:37 UTC");
    }
}
