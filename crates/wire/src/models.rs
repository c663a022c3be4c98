//! The response bodies, field for field as UltraCart documents them.

use serde::{Deserialize, Deserializer, Serialize};

/// `OauthTokenResponse`: the body of `POST /oauth/token`, on success and (with the OAuth error
/// fields set, and a 4xx status) on failure.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OauthTokenResponse {
    /// Access token to use in OAuth authenticated API calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// RFC 6749 §5.2 error code, on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_uri: Option<String>,
    /// Seconds from issuance until the access token expires. A decimal *string* on the wire
    /// (`"3600"`); reading also accepts a JSON number.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "string_or_number"
    )]
    pub expires_in: Option<String>,
    /// The UltraCart merchant account that authorized this token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<String>,
    /// Refresh token used to obtain a new access token when this one expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Space-delimited scopes granted to the access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Always `"bearer"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
}

impl OauthTokenResponse {
    /// A failure body: RFC 6749 §5.2 `error` code and a human-readable description.
    pub fn error(code: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            error: Some(code.into()),
            error_description: Some(description.into()),
            ..Self::default()
        }
    }

    /// `expires_in` as a number of seconds, if present and numeric.
    pub fn expires_in_seconds(&self) -> Option<u64> {
        self.expires_in.as_deref()?.trim().parse().ok()
    }
}

/// `OauthRevokeSuccessResponse`: the body of `POST /oauth/revoke`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OauthRevokeSuccessResponse {
    /// Message confirming revocation of credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// True if the revoke was successful.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successful: Option<bool>,
}

/// `OauthDeviceAuthorizationResponse`: the body of `POST /oauth/device/authorize` (RFC 8628 §3.2).
/// Unlike the token response, `expires_in` and `interval` are JSON integers here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OauthDeviceAuthorizationResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_uri_complete: Option<String>,
}

/// `OauthMeResponse`: the body of `GET /oauth/me`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OauthMeResponse {
    /// Application name as the merchant approved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_name: Option<String>,
    /// The application's client_id; absent when authenticated with a simple key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The authorizing merchant account; stable, key records on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<String>,
    /// The merchant's company name, for display only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merchant_name: Option<String>,
    /// Permissions the merchant granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
}

/// `ErrorResponse`: the body of every error outside `/oauth/token`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Error>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ResponseMetadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<Warning>,
}

impl ErrorResponse {
    /// A failure body for HTTP `status`, with one message for developers and one for end users.
    pub fn new(
        status: u16,
        developer_message: impl Into<String>,
        user_message: impl Into<String>,
    ) -> Self {
        Self {
            error: Some(Error {
                developer_message: Some(developer_message.into()),
                error_code: Some(status.to_string()),
                more_info: None,
                object_id: None,
                user_message: Some(user_message.into()),
            }),
            metadata: Some(ResponseMetadata::default()),
            success: Some(false),
            warning: None,
        }
    }
}

/// `Error`: what went wrong, inside an [`ErrorResponse`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Error {
    /// A technical message meant to be read by a developer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub developer_message: Option<String>,
    /// The HTTP status code, as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Additional information, often a link to documentation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub more_info: Option<String>,
    /// Object id the error is associated with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_id: Option<String>,
    /// An end-user friendly message suitable for display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_message: Option<String>,
}

/// `ResponseMetadata`: payload and paging information.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_set: Option<ResultSet>,
}

/// `ResultSet`: paging of a list response. All integers are int32 on the wire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultSet {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub more: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i32>,
    /// Omitted when the total is not known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_records: Option<i32>,
}

/// `Warning`: a non-fatal issue or side effect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub more_info: Option<String>,
    /// A stable machine-readable code (added by UltraCart in SDK 4.1.85).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning_message: Option<String>,
}

/// Accepts `"3600"`, `3600` or `null` for a string field.
fn string_or_number<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Lenient {
        Text(String),
        Int(i64),
        Float(f64),
    }
    Ok(match Option::<Lenient>::deserialize(de)? {
        None => None,
        Some(Lenient::Text(s)) => Some(s),
        Some(Lenient::Int(n)) => Some(n.to_string()),
        Some(Lenient::Float(f)) => Some(f.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_response_serialises_expires_in_as_string_and_omits_absent_fields() {
        let body = OauthTokenResponse {
            access_token: Some("a".into()),
            expires_in: Some("3600".into()),
            token_type: Some("bearer".into()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"access_token":"a","expires_in":"3600","token_type":"bearer"}"#
        );
    }

    #[test]
    fn token_response_reads_numeric_expires_in_and_ignores_unknown_fields() {
        let body: OauthTokenResponse =
            serde_json::from_str(r#"{"expires_in":3600,"id_token":"x","scope":null}"#).unwrap();
        assert_eq!(body.expires_in_seconds(), Some(3600));
        assert_eq!(body.scope, None);
    }

    #[test]
    fn error_response_has_the_documented_shape() {
        let body = ErrorResponse::new(400, "client_id is required", "Bad request");
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({
                "error": {
                    "developer_message": "client_id is required",
                    "error_code": "400",
                    "user_message": "Bad request"
                },
                "metadata": {},
                "success": false
            })
        );
    }

    #[test]
    fn device_response_uses_integers() {
        let body = OauthDeviceAuthorizationResponse {
            expires_in: Some(900),
            interval: Some(5),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"expires_in":900,"interval":5}"#
        );
    }
}
