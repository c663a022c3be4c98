//! Server settings, and where the pepper comes from.

use std::path::PathBuf;

use url::Url;

use crate::{
    clock::Millis,
    domain::{
        profile::Profile,
        rate_limit::Limit,
        secret::{Pepper, Peppers},
    },
    store::Backend,
};

/// What `ucoauth serve` runs with. Lifetimes are in milliseconds.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The URL clients reach this server at; the issuer (`iss`), and the base of page links.
    pub public_url: Url,
    pub profile: Profile,
    pub code_ttl_ms: Millis,
    pub access_ttl_ms: Millis,
    pub refresh_ttl_ms: Millis,
    /// How long after a rotation the immediate predecessor may still be retried.
    pub refresh_grace_ms: Millis,
    pub session_ttl_ms: Millis,
    /// Lifetime of a device code and its user code (RFC 8628 `expires_in`).
    pub device_code_ttl_ms: Millis,
    /// The polling interval a device code starts with (RFC 8628 `interval`); whole seconds.
    pub device_interval_ms: Millis,
    /// User-code lookups on the verification page per browser session.
    pub device_verify_per_session: Limit,
    /// User-code lookups on the verification page per client IP.
    pub device_verify_per_ip: Limit,
    /// `POST /oauth/device/authorize` requests per client IP.
    pub device_authorize_per_ip: Limit,
    /// Device-grant polls of `/oauth/token` per client IP (on top of the per-code `slow_down`).
    pub device_poll_per_ip: Limit,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Key for the credential hashes: new credentials are hashed with it.
    pub pepper: Pepper,
    pub rate_limits: RateLimits,
    /// Peppers replaced by rotation. Credentials hashed with them still verify, so keep each
    /// one listed until the longest-lived credential it hashed has expired (refresh tokens:
    /// `refresh_ttl_ms`; client secrets: until rotated).
    pub previous_peppers: Vec<Pepper>,
}

impl ServerConfig {
    /// The documented defaults (product.md §3) for a server reachable at `public_url`.
    pub fn new(public_url: Url, pepper: Pepper) -> Self {
        Self {
            public_url,
            profile: Profile::Compat,
            code_ttl_ms: 60_000,
            access_ttl_ms: 3_600_000,
            refresh_ttl_ms: 30 * 24 * 3_600_000,
            refresh_grace_ms: 10_000,
            session_ttl_ms: 12 * 3_600_000,
            device_code_ttl_ms: 900_000,
            device_interval_ms: 5_000,
            // A person mistypes a code a few times; a guesser needs billions of tries.
            device_verify_per_session: Limit::new(10, 15 * 60_000),
            // Several people behind one office NAT may each mistype a few times.
            device_verify_per_ip: Limit::new(50, 15 * 60_000),
            device_authorize_per_ip: Limit::new(30, 60_000),
            // 25 devices behind one address polling every 5 s.
            device_poll_per_ip: Limit::new(300, 60_000),
            max_body_bytes: 16 * 1024,
            pepper,
            rate_limits: RateLimits::default(),
            previous_peppers: Vec::new(),
        }
    }

    /// The current pepper and the previous ones, for lookups of presented credentials.
    pub fn peppers(&self) -> Peppers<'_> {
        Peppers::new(&self.pepper, &self.previous_peppers)
    }

    /// The issuer identifier: the public URL without a trailing slash.
    pub fn issuer(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_owned()
    }

    /// Cookies get `Secure` when the server is reached over TLS.
    pub fn cookie_secure(&self) -> bool {
        self.public_url.scheme() == "https"
    }
}

/// Rate limits (see `http::rate_limit` for what they guarantee); `0` switches one off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    pub enabled: bool,
    /// Sign-in attempts per client IP per minute.
    pub login_per_ip_per_minute: u32,
    /// Failed sign-ins per account per minute; then the account waits out the minute.
    pub login_failures_per_account_per_minute: u32,
    /// Token and revoke requests per application per second.
    pub token_per_client_per_second: u32,
    /// Failed token/revoke requests (bad code, bad secret, ...) per client IP per minute.
    pub token_failures_per_ip_per_minute: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            login_per_ip_per_minute: 30,
            login_failures_per_account_per_minute: 5,
            token_per_client_per_second: 2_000,
            token_failures_per_ip_per_minute: 120,
        }
    }
}

/// Why no pepper could be had.
#[derive(Debug, thiserror::Error)]
pub enum PepperError {
    #[error("UCOAUTH_PEPPER must be at least 32 hex characters (16 bytes); generate one with `openssl rand -hex 32`")]
    Malformed,
    #[error("with PostgreSQL every node must share one pepper: set UCOAUTH_PEPPER (e.g. `openssl rand -hex 32`) to the same value on every node")]
    MissingForPostgres,
    #[error("pepper file {path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("pepper file {0} does not hold a valid pepper; restore it from backup (tokens cannot be verified without it)")]
    Corrupt(PathBuf),
}

/// The pepper: `explicit` (from `UCOAUTH_PEPPER`) if given; else, for SQLite, the key file
/// beside the database (`<file>.pepper`), created with mode 0600 on first use.
pub fn load_pepper(database_url: &str, explicit: Option<&str>) -> Result<Pepper, PepperError> {
    if let Some(hex) = explicit {
        return Pepper::from_hex(hex).ok_or(PepperError::Malformed);
    }
    match Backend::from_url(database_url) {
        Ok(Backend::Sqlite) => {}
        _ => return Err(PepperError::MissingForPostgres),
    }
    let path = pepper_path(database_url);
    match std::fs::read_to_string(&path) {
        Ok(text) => Pepper::from_hex(&text).ok_or(PepperError::Corrupt(path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let pepper = Pepper::generate();
            write_private(&path, &pepper.to_hex()).map_err(|source| PepperError::File {
                path: path.clone(),
                source,
            })?;
            Ok(pepper)
        }
        Err(source) => Err(PepperError::File { path, source }),
    }
}

/// `<database file>.pepper` for a SQLite URL.
pub fn pepper_path(database_url: &str) -> PathBuf {
    let rest = database_url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let file = rest.split('?').next().unwrap_or(rest);
    PathBuf::from(format!("{file}.pepper"))
}

/// Creates `path` readable only by its owner, failing if it already exists.
fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pepper_path_sits_beside_the_database_file() {
        assert_eq!(
            pepper_path("sqlite://ucoauth.db"),
            PathBuf::from("ucoauth.db.pepper")
        );
        assert_eq!(
            pepper_path("sqlite:///var/lib/x.db?mode=rwc"),
            PathBuf::from("/var/lib/x.db.pepper")
        );
    }

    #[test]
    fn a_pepper_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/t.db", dir.path().display());
        let a = load_pepper(&url, None).unwrap();
        let b = load_pepper(&url, None).unwrap();
        use crate::domain::secret::Purpose;
        assert_eq!(
            a.digest(Purpose::Session, "x"),
            b.digest(Purpose::Session, "x")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(pepper_path(&url))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn postgres_needs_an_explicit_pepper() {
        assert!(matches!(
            load_pepper("postgres://u@localhost/db", None),
            Err(PepperError::MissingForPostgres)
        ));
        assert!(load_pepper("postgres://u@localhost/db", Some(&"ab".repeat(16))).is_ok());
        assert!(matches!(
            load_pepper("postgres://u@localhost/db", Some("abc")),
            Err(PepperError::Malformed)
        ));
    }
}
