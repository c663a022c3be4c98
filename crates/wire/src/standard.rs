//! Standard OAuth documents that are not UltraCart models but travel next to them:
//! token introspection (RFC 7662) and authorization server metadata (RFC 8414).
//!
//! They follow the same rules as the UltraCart models: absent fields are omitted (never `null`)
//! and unknown fields are ignored when reading.

use serde::{Deserialize, Serialize};

/// The body of `POST /oauth/introspect` (RFC 7662 §2.2).
///
/// An inactive token is answered with `{"active":false}` and nothing else (§2.2: "the
/// authorization server SHOULD NOT include any additional information about an inactive
/// token"). Times are NumericDate: seconds since the Unix epoch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntrospectionResponse {
    /// Whether the token is live: issued by this server, not expired, not revoked.
    pub active: bool,
    /// Space-delimited scopes of the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The application the token was issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `bearer` for access tokens, `refresh_token` for refresh tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Expiry (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issue time (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// The subject: the merchant the token speaks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The merchant the token speaks for (same as `sub`, under UltraCart's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<String>,
    /// The issuer identifier of the server that issued the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
}

impl IntrospectionResponse {
    /// `{"active":false}`.
    pub fn inactive() -> Self {
        Self::default()
    }

    /// The scopes as a list.
    pub fn scopes(&self) -> Vec<&str> {
        self.scope
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
            .collect()
    }
}

/// The `token_type` introspection reports for access tokens.
pub const INTROSPECTION_TYPE_ACCESS: &str = "bearer";
/// The `token_type` introspection reports for refresh tokens.
pub const INTROSPECTION_TYPE_REFRESH: &str = "refresh_token";

/// `GET /.well-known/oauth-authorization-server` (RFC 8414 §2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationServerMetadata {
    pub issuer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_authorization_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_types_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_modes_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grant_types_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub code_challenge_methods_supported: Vec<String>,
    /// RFC 9207: the authorization response carries `iss`.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_documentation: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inactive_token_is_only_active_false() {
        assert_eq!(
            serde_json::to_string(&IntrospectionResponse::inactive()).unwrap(),
            r#"{"active":false}"#
        );
    }

    #[test]
    fn introspection_reads_unknown_fields_and_splits_scopes() {
        let r: IntrospectionResponse = serde_json::from_str(
            r#"{"active":true,"scope":"item_read  order_read","aud":"x","exp":10}"#,
        )
        .unwrap();
        assert!(r.active);
        assert_eq!(r.scopes(), ["item_read", "order_read"]);
        assert_eq!(r.exp, Some(10));
    }

    #[test]
    fn a_missing_active_member_is_a_parse_error() {
        assert!(serde_json::from_str::<IntrospectionResponse>(r#"{"scope":"a"}"#).is_err());
    }
}
