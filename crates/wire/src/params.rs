//! Request parameter names and fixed values.

/// `grant_type` values accepted by `POST /oauth/token`.
pub mod grant_type {
    pub const AUTHORIZATION_CODE: &str = "authorization_code";
    pub const REFRESH_TOKEN: &str = "refresh_token";
    /// RFC 8628 §3.4.
    pub const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
    /// Short alias some clients send for the device grant.
    pub const DEVICE_CODE_ALIAS: &str = "device_code";
}

/// HTTP header names used by UltraCart.
pub mod header {
    /// Human-readable error message on every error response.
    pub const UC_REST_ERROR: &str = "UC-REST-ERROR";
    /// Simple API key scheme (`ultraCartSimpleApiKey`).
    pub const SIMPLE_KEY: &str = "x-ultracart-simple-key";
    /// Browser API key scheme (`ultraCartBrowserApiKey`).
    pub const BROWSER_KEY: &str = "x-ultracart-browser-key";
    /// API version header the SDK helper constructors send.
    pub const API_VERSION: &str = "X-UltraCart-Api-Version";
}

/// The API version UltraCart's SDKs send in [`header::API_VERSION`].
pub const API_VERSION: &str = "2017-03-01";

/// The only `token_type` UltraCart issues; the Python SDK rejects any other spelling.
pub const TOKEN_TYPE_BEARER: &str = "bearer";
