//! URL paths that SDKs, samples and bookmarks depend on. Do not change them.

/// Base path of the REST API; SDKs are pointed at `http(s)://host:port/rest/v2`.
pub const API_BASE: &str = "/rest/v2";
/// Browser authorization endpoint, relative to [`API_BASE`].
pub const AUTHORIZE: &str = "/oauth/authorize";
/// Token endpoint (`oauthAccessToken`), relative to [`API_BASE`].
pub const TOKEN: &str = "/oauth/token";
/// Revocation endpoint (`oauthRevoke`), relative to [`API_BASE`].
pub const REVOKE: &str = "/oauth/revoke";
/// Device authorization endpoint (`oauthDeviceAuthorize`), relative to [`API_BASE`].
pub const DEVICE_AUTHORIZE: &str = "/oauth/device/authorize";
/// Who-am-I endpoint (`oauthMe`), relative to [`API_BASE`].
pub const ME: &str = "/oauth/me";
/// Token introspection (RFC 7662), relative to [`API_BASE`].
pub const INTROSPECT: &str = "/oauth/introspect";
/// Authorization server metadata (RFC 8414 §3), at the root, not under [`API_BASE`].
pub const METADATA: &str = "/.well-known/oauth-authorization-server";
/// The guide's prose URL for the authorize page; it leads to the same flow.
pub const ADMIN_AUTHORIZE: &str = "/admin/v2/oauth/authorize";
/// Production base URL of UltraCart's API.
pub const ULTRACART_BASE_URL: &str = "https://secure.ultracart.com/rest/v2";
