//! Settings from four places, in this order of precedence:
//!
//! 1. command-line flags (`--access-token-ttl 30m`),
//! 2. environment variables (`UCOAUTH_ACCESS_TOKEN_TTL=30m`),
//! 3. the TOML file named by `--config FILE` / `UCOAUTH_CONFIG` (`access_token_ttl = "30m"`),
//! 4. the built-in defaults.
//!
//! Every setting has the same name in the three forms: `snake_case` in the file, `--kebab-case`
//! as a flag, `UCOAUTH_UPPER_CASE` in the environment. Durations are a number with a unit
//! (`500ms`, `90s`, `15m`, `1h`, `30d`) or a bare number of seconds. Unknown keys in the file are
//! errors, so a typo cannot silently fall back to a default.
//!
//! [`Resolved`] records where each value came from, which `ucoauth config check` prints.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use clap::{parser::ValueSource, ArgMatches};
use serde::{Deserialize, Serialize};
use ucoauth_server::{
    clock::Millis,
    config::{pepper_path, RateLimits, ServerConfig},
    domain::{profile::Profile, rate_limit::Limit, secret::Pepper},
    store::{redact_url, Backend},
};
use url::Url;

pub const DEFAULT_DATABASE: &str = "sqlite://ucoauth.db";
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
/// More previous peppers than this makes every missed lookup slow; retire old ones instead.
pub const MAX_PREVIOUS_PEPPERS: usize = 3;

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Flag,
    Env,
    File,
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Flag => "flag",
            Self::Env => "env",
            Self::File => "file",
            Self::Default => "default",
        })
    }
}

/// A secret setting (a pepper): its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Which arguments were given on the command line or in the environment, by argument id.
#[derive(Debug, Clone, Default)]
pub struct Sources(BTreeMap<String, Source>);

impl Sources {
    /// Walks the parsed command line (every subcommand level).
    pub fn from_matches(matches: &ArgMatches) -> Self {
        let mut found = BTreeMap::new();
        let mut level = Some(matches);
        while let Some(m) = level {
            for id in m.ids() {
                let source = match m.value_source(id.as_str()) {
                    Some(ValueSource::CommandLine) => Source::Flag,
                    Some(ValueSource::EnvVariable) => Source::Env,
                    _ => continue,
                };
                found.insert(id.as_str().to_owned(), source);
            }
            level = m.subcommand().map(|(_, sub)| sub);
        }
        Self(found)
    }

    fn get(&self, id: &str) -> Option<Source> {
        self.0.get(id).copied()
    }
}

/// A duration as written in the file: `"15m"` or a number of seconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum FileDuration {
    Seconds(u64),
    Text(String),
}

impl FileDuration {
    fn as_text(&self) -> String {
        match self {
            Self::Seconds(n) => n.to_string(),
            Self::Text(t) => t.clone(),
        }
    }
}

/// The TOML file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub database: Option<String>,
    pub pepper: Option<Secret>,
    pub previous_peppers: Option<Vec<Secret>>,
    pub bind: Option<String>,
    pub public_url: Option<String>,
    pub profile: Option<String>,
    pub log_format: Option<String>,
    pub code_ttl: Option<FileDuration>,
    pub access_token_ttl: Option<FileDuration>,
    pub refresh_token_ttl: Option<FileDuration>,
    pub refresh_grace: Option<FileDuration>,
    pub session_ttl: Option<FileDuration>,
    pub no_rate_limits: Option<bool>,
    pub login_per_ip_per_minute: Option<u32>,
    pub login_failures_per_account_per_minute: Option<u32>,
    pub token_per_client_per_second: Option<u32>,
    pub token_failures_per_ip_per_minute: Option<u32>,
    pub device_verify_per_session: Option<String>,
    pub device_verify_per_ip: Option<String>,
    pub device_authorize_per_ip: Option<String>,
    pub device_poll_per_ip: Option<String>,
}

impl FileConfig {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the config file {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))
    }

    /// Whether the file holds a secret.
    fn has_secrets(&self) -> bool {
        self.pepper.is_some()
            || self
                .previous_peppers
                .as_ref()
                .is_some_and(|p| !p.is_empty())
    }
}

/// The values given by flag or environment (clap has already applied "flag over env").
#[derive(Debug, Clone, Default)]
pub struct Given {
    pub database: Option<String>,
    pub pepper: Option<Secret>,
    pub previous_peppers: Vec<Secret>,
    pub bind: Option<String>,
    pub public_url: Option<String>,
    pub profile: Option<String>,
    pub log_format: Option<String>,
    pub code_ttl: Option<String>,
    pub access_token_ttl: Option<String>,
    pub refresh_token_ttl: Option<String>,
    pub refresh_grace: Option<String>,
    pub session_ttl: Option<String>,
    /// `Some(true)` when rate limits were switched off by flag or environment.
    pub no_rate_limits: Option<bool>,
    pub login_per_ip_per_minute: Option<u32>,
    pub login_failures_per_account_per_minute: Option<u32>,
    pub token_per_client_per_second: Option<u32>,
    pub token_failures_per_ip_per_minute: Option<u32>,
    pub device_verify_per_session: Option<String>,
    pub device_verify_per_ip: Option<String>,
    pub device_authorize_per_ip: Option<String>,
    pub device_poll_per_ip: Option<String>,
}

/// A setting's value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Valued<T> {
    pub value: T,
    pub source: Source,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Every setting, validated. `Debug` shows the redacted report.
#[derive(Clone)]
pub struct Resolved {
    pub config_file: Valued<Option<PathBuf>>,
    pub database: Valued<String>,
    /// `None`: the key file beside a SQLite database.
    pub pepper: Valued<Option<Secret>>,
    pub previous_peppers: Valued<Vec<Secret>>,
    pub bind: Valued<String>,
    /// `None`: `http://<bound address>`.
    pub public_url: Valued<Option<Url>>,
    pub profile: Valued<Profile>,
    pub log_format: Valued<LogFormat>,
    pub code_ttl_ms: Valued<Millis>,
    pub access_ttl_ms: Valued<Millis>,
    pub refresh_ttl_ms: Valued<Millis>,
    pub refresh_grace_ms: Valued<Millis>,
    pub session_ttl_ms: Valued<Millis>,
    /// The in-memory, per-node limits (`http::rate_limit`); counts of 0 switch one off.
    pub rate_limits_enabled: Valued<bool>,
    pub login_per_ip_per_minute: Valued<u32>,
    pub login_failures_per_account_per_minute: Valued<u32>,
    pub token_per_client_per_second: Valued<u32>,
    pub token_failures_per_ip_per_minute: Valued<u32>,
    /// The database-backed limits of the device flow, shared by every node.
    pub device_verify_per_session: Valued<Limit>,
    pub device_verify_per_ip: Valued<Limit>,
    pub device_authorize_per_ip: Valued<Limit>,
    pub device_poll_per_ip: Valued<Limit>,
    /// Not errors, but worth saying (e.g. a world-readable file holding the pepper).
    pub warnings: Vec<String>,
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.report()).finish()
    }
}

/// Every problem found, so one run of `config check` lists them all.
#[derive(Debug)]
pub struct Invalid(pub Vec<String>);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.join("; "))
    }
}

impl std::error::Error for Invalid {}

/// Parses `90s`, `15m`, `1h`, `30d`, `500ms`, or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Millis, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration; use e.g. 90s, 15m, 1h or 30d"))?;
    let factor = match unit.trim() {
        "" | "s" => 1_000,
        "ms" => 1,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => {
            return Err(format!(
                "{text:?}: unknown unit {other:?}; use ms, s, m, h or d"
            ))
        }
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// The most events one limit may allow per window (beyond it a limit protects nothing).
pub const MAX_LIMIT_COUNT: u32 = 1_000_000;

/// Parses a database-backed limit, `COUNT/DURATION` (`10/15m`): at most COUNT events per
/// window of DURATION (1s..1d), COUNT 1..1 000 000.
pub fn parse_limit(text: &str) -> Result<Limit, String> {
    let (count, window) = text.split_once('/').ok_or_else(|| {
        format!("{text:?} is not COUNT/DURATION (e.g. 10/15m: at most 10 per 15 minutes)")
    })?;
    let count: u32 = count
        .trim()
        .parse()
        .map_err(|_| format!("{text:?}: {count:?} is not a whole number"))?;
    if !(1..=MAX_LIMIT_COUNT).contains(&count) {
        return Err(format!("{text:?}: the count must be 1..{MAX_LIMIT_COUNT}"));
    }
    let window_ms = parse_duration(window)?;
    if !(1_000..=86_400_000).contains(&window_ms) {
        return Err(format!("{text:?}: the window must be 1s..1d"));
    }
    Ok(Limit::new(i64::from(count), window_ms))
}

/// Formats a limit the way [`parse_limit`] reads it.
pub fn format_limit(limit: Limit) -> String {
    format!("{}/{}", limit.max, format_duration(limit.window_ms))
}

/// Formats milliseconds the way [`parse_duration`] reads them.
pub fn format_duration(ms: Millis) -> String {
    for (unit, factor) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms != 0 && ms % factor == 0 {
            return format!("{}{unit}", ms / factor);
        }
    }
    format!("{ms}ms")
}

impl Resolved {
    /// Merges flags/env (`given`, with their `sources`), the file, and the defaults, and
    /// validates the result.
    pub fn resolve(
        given: Given,
        sources: &Sources,
        file: Option<(&Path, &FileConfig)>,
    ) -> Result<Self, Invalid> {
        let empty = FileConfig::default();
        let (config_file, f) = match file {
            Some((path, config)) => (Some(path.to_path_buf()), config),
            None => (None, &empty),
        };
        let mut problems = Vec::new();
        let mut warnings = Vec::new();

        // Picks flag/env, then file, then default, and names the source.
        fn pick<T>(
            id: &str,
            given: Option<T>,
            file: Option<T>,
            sources: &Sources,
        ) -> Option<Valued<T>> {
            match (given, file) {
                (Some(value), _) => Some(Valued {
                    value,
                    source: sources.get(id).unwrap_or(Source::Flag),
                }),
                (None, Some(value)) => Some(Valued {
                    value,
                    source: Source::File,
                }),
                (None, None) => None,
            }
        }
        /// The picked text parsed, or `default` (with the problem noted) when it does not parse.
        fn parsed<T>(
            id: &str,
            picked: Option<Valued<String>>,
            default: T,
            parse: fn(&str) -> Result<T, String>,
            problems: &mut Vec<String>,
        ) -> Valued<T> {
            let Some(v) = picked else {
                return Valued {
                    value: default,
                    source: Source::Default,
                };
            };
            match parse(&v.value) {
                Ok(value) => Valued {
                    value,
                    source: v.source,
                },
                Err(e) => {
                    problems.push(format!("{id} ({}): {e}", v.source));
                    Valued {
                        value: default,
                        source: v.source,
                    }
                }
            }
        }
        let text = |id: &str, g: Option<String>, file: Option<String>, default: &str| {
            pick(id, g, file, sources).unwrap_or(Valued {
                value: default.to_owned(),
                source: Source::Default,
            })
        };

        let database = text(
            "database",
            given.database,
            f.database.clone(),
            DEFAULT_DATABASE,
        );
        let backend = match Backend::from_url(&database.value) {
            Ok(b) => Some(b),
            Err(e) => {
                problems.push(format!("database ({}): {e}", database.source));
                None
            }
        };

        let pepper = pick("pepper", given.pepper, f.pepper.clone(), sources).map_or(
            Valued {
                value: None,
                source: Source::Default,
            },
            |v| Valued {
                value: Some(v.value),
                source: v.source,
            },
        );
        let current = match &pepper.value {
            Some(Secret(hex)) => {
                let parsed = Pepper::from_hex(hex);
                if parsed.is_none() {
                    problems.push(format!(
                        "pepper ({}): must be at least 32 hex characters (generate one with `openssl rand -hex 32`)",
                        pepper.source
                    ));
                }
                parsed
            }
            None => {
                if backend == Some(Backend::Postgres) {
                    problems.push("pepper: with PostgreSQL every node must share one pepper; set UCOAUTH_PEPPER (or `pepper` in the config file)".into());
                }
                None
            }
        };

        let previous_given = (!given.previous_peppers.is_empty()).then_some(given.previous_peppers);
        let previous_peppers = pick(
            "previous_peppers",
            previous_given,
            f.previous_peppers.clone(),
            sources,
        )
        .unwrap_or(Valued {
            value: Vec::new(),
            source: Source::Default,
        });
        if previous_peppers.value.len() > MAX_PREVIOUS_PEPPERS {
            problems.push(format!(
                "previous_peppers ({}): at most {MAX_PREVIOUS_PEPPERS}; each one costs a lookup when a credential is not found — drop peppers whose credentials have all expired",
                previous_peppers.source
            ));
        }
        for (i, Secret(hex)) in previous_peppers.value.iter().enumerate() {
            match Pepper::from_hex(hex) {
                None => problems.push(format!(
                    "previous_peppers ({}): entry {} must be at least 32 hex characters",
                    previous_peppers.source,
                    i + 1
                )),
                Some(p) => {
                    if current.as_ref().is_some_and(|c| c.to_hex() == p.to_hex()) {
                        problems.push(format!(
                            "previous_peppers ({}): entry {} is the current pepper",
                            previous_peppers.source,
                            i + 1
                        ));
                    }
                }
            }
        }
        if !previous_peppers.value.is_empty() && pepper.value.is_none() {
            problems.push("previous_peppers: set the new pepper explicitly (UCOAUTH_PEPPER or `pepper`) when listing previous ones".into());
        }

        let bind = text("bind", given.bind, f.bind.clone(), DEFAULT_BIND);
        if let Err(e) = check_bind(&bind.value) {
            problems.push(format!("bind ({}): {e}", bind.source));
        }

        let public_url = match pick(
            "public_url",
            given.public_url,
            f.public_url.clone(),
            sources,
        ) {
            None => Valued {
                value: None,
                source: Source::Default,
            },
            Some(v) => match check_public_url(&v.value) {
                Ok(url) => Valued {
                    value: Some(url),
                    source: v.source,
                },
                Err(e) => {
                    problems.push(format!("public_url ({}): {e}", v.source));
                    Valued {
                        value: None,
                        source: v.source,
                    }
                }
            },
        };

        let profile_text = text("profile", given.profile, f.profile.clone(), "compat");
        let profile = Valued {
            value: profile_text.value.parse::<Profile>().unwrap_or_else(|e| {
                problems.push(format!("profile ({}): {e}", profile_text.source));
                Profile::Compat
            }),
            source: profile_text.source,
        };

        let log_text = text("log_format", given.log_format, f.log_format.clone(), "text");
        let log_format = Valued {
            value: match log_text.value.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => {
                    problems.push(format!(
                        "log_format ({}): {other:?}; expected \"text\" or \"json\"",
                        log_text.source
                    ));
                    LogFormat::Text
                }
            },
            source: log_text.source,
        };

        let defaults = ServerConfig::new(
            Url::parse("http://127.0.0.1/").unwrap_or_else(|_| unreachable!("a valid URL")),
            Pepper::generate(),
        );
        let mut duration =
            |id: &str, g: Option<String>, file: &Option<FileDuration>, default: Millis| {
                let picked = pick(id, g, file.as_ref().map(FileDuration::as_text), sources);
                parsed(id, picked, default, parse_duration, &mut problems)
            };
        let code_ttl_ms = duration(
            "code_ttl",
            given.code_ttl,
            &f.code_ttl,
            defaults.code_ttl_ms,
        );
        let access_ttl_ms = duration(
            "access_token_ttl",
            given.access_token_ttl,
            &f.access_token_ttl,
            defaults.access_ttl_ms,
        );
        let refresh_ttl_ms = duration(
            "refresh_token_ttl",
            given.refresh_token_ttl,
            &f.refresh_token_ttl,
            defaults.refresh_ttl_ms,
        );
        let refresh_grace_ms = duration(
            "refresh_grace",
            given.refresh_grace,
            &f.refresh_grace,
            defaults.refresh_grace_ms,
        );
        let session_ttl_ms = duration(
            "session_ttl",
            given.session_ttl,
            &f.session_ttl,
            defaults.session_ttl_ms,
        );
        let mut range = |name: &str, v: &Valued<Millis>, min: Millis, max: Millis| {
            if v.value < min || v.value > max {
                problems.push(format!(
                    "{name} ({}): {} is outside {}..{}",
                    v.source,
                    format_duration(v.value),
                    format_duration(min),
                    format_duration(max)
                ));
            }
        };
        range("code_ttl", &code_ttl_ms, 1_000, 600_000);
        range("access_token_ttl", &access_ttl_ms, 60_000, 86_400_000);
        range(
            "refresh_token_ttl",
            &refresh_ttl_ms,
            60_000,
            366 * 86_400_000,
        );
        // A long grace window lets a stolen, rotated-out refresh token be used unnoticed.
        range("refresh_grace", &refresh_grace_ms, 0, 300_000);
        range("session_ttl", &session_ttl_ms, 60_000, 30 * 86_400_000);

        // Rate limits. Counts per minute/second of the in-memory limits: 0 switches one off.
        let rate_limits_enabled = match pick(
            "no_rate_limits",
            given.no_rate_limits,
            f.no_rate_limits,
            sources,
        ) {
            Some(v) => Valued {
                value: !v.value,
                source: v.source,
            },
            None => Valued {
                value: true,
                source: Source::Default,
            },
        };
        let memory = defaults.rate_limits;
        let mut count = |id: &str, g: Option<u32>, file: Option<u32>, default: u32| {
            let v = pick(id, g, file, sources).unwrap_or(Valued {
                value: default,
                source: Source::Default,
            });
            if v.value > MAX_LIMIT_COUNT {
                problems.push(format!(
                    "{id} ({}): {} is more than {MAX_LIMIT_COUNT}; use 0 to switch this limit off",
                    v.source, v.value
                ));
            }
            v
        };
        let login_per_ip_per_minute = count(
            "login_per_ip_per_minute",
            given.login_per_ip_per_minute,
            f.login_per_ip_per_minute,
            memory.login_per_ip_per_minute,
        );
        let login_failures_per_account_per_minute = count(
            "login_failures_per_account_per_minute",
            given.login_failures_per_account_per_minute,
            f.login_failures_per_account_per_minute,
            memory.login_failures_per_account_per_minute,
        );
        let token_per_client_per_second = count(
            "token_per_client_per_second",
            given.token_per_client_per_second,
            f.token_per_client_per_second,
            memory.token_per_client_per_second,
        );
        let token_failures_per_ip_per_minute = count(
            "token_failures_per_ip_per_minute",
            given.token_failures_per_ip_per_minute,
            f.token_failures_per_ip_per_minute,
            memory.token_failures_per_ip_per_minute,
        );
        let mut limit = |id: &str, g: Option<String>, file: Option<String>, default: Limit| {
            parsed(
                id,
                pick(id, g, file, sources),
                default,
                parse_limit,
                &mut problems,
            )
        };
        let device_verify_per_session = limit(
            "device_verify_per_session",
            given.device_verify_per_session,
            f.device_verify_per_session.clone(),
            defaults.device_verify_per_session,
        );
        let device_verify_per_ip = limit(
            "device_verify_per_ip",
            given.device_verify_per_ip,
            f.device_verify_per_ip.clone(),
            defaults.device_verify_per_ip,
        );
        let device_authorize_per_ip = limit(
            "device_authorize_per_ip",
            given.device_authorize_per_ip,
            f.device_authorize_per_ip.clone(),
            defaults.device_authorize_per_ip,
        );
        let device_poll_per_ip = limit(
            "device_poll_per_ip",
            given.device_poll_per_ip,
            f.device_poll_per_ip.clone(),
            defaults.device_poll_per_ip,
        );

        let config_file = Valued {
            source: match config_file {
                Some(_) => sources.get("config").unwrap_or(Source::Flag),
                None => Source::Default,
            },
            value: config_file,
        };
        if let (Some(path), true) = (&config_file.value, f.has_secrets()) {
            if is_readable_by_others(path) {
                warnings.push(format!(
                    "{} holds a pepper and is readable by other users; chmod 600 it",
                    path.display()
                ));
            }
        }

        if !problems.is_empty() {
            return Err(Invalid(problems));
        }
        Ok(Self {
            config_file,
            database,
            pepper,
            previous_peppers,
            bind,
            public_url,
            profile,
            log_format,
            code_ttl_ms,
            access_ttl_ms,
            refresh_ttl_ms,
            refresh_grace_ms,
            session_ttl_ms,
            rate_limits_enabled,
            login_per_ip_per_minute,
            login_failures_per_account_per_minute,
            token_per_client_per_second,
            token_failures_per_ip_per_minute,
            device_verify_per_session,
            device_verify_per_ip,
            device_authorize_per_ip,
            device_poll_per_ip,
            warnings,
        })
    }

    /// The previous peppers, parsed (validated in [`Resolved::resolve`]).
    pub fn previous_peppers(&self) -> Vec<Pepper> {
        self.previous_peppers
            .value
            .iter()
            .filter_map(|Secret(h)| Pepper::from_hex(h))
            .collect()
    }

    /// The in-memory rate limits.
    pub fn rate_limits(&self) -> RateLimits {
        RateLimits {
            enabled: self.rate_limits_enabled.value,
            login_per_ip_per_minute: self.login_per_ip_per_minute.value,
            login_failures_per_account_per_minute: self.login_failures_per_account_per_minute.value,
            token_per_client_per_second: self.token_per_client_per_second.value,
            token_failures_per_ip_per_minute: self.token_failures_per_ip_per_minute.value,
        }
    }

    /// Applies the lifetimes, profile, rate limits and previous peppers to a server
    /// configuration.
    pub fn apply(&self, config: &mut ServerConfig) {
        config.rate_limits = self.rate_limits();
        config.device_verify_per_session = self.device_verify_per_session.value;
        config.device_verify_per_ip = self.device_verify_per_ip.value;
        config.device_authorize_per_ip = self.device_authorize_per_ip.value;
        config.device_poll_per_ip = self.device_poll_per_ip.value;
        config.profile = self.profile.value;
        config.code_ttl_ms = self.code_ttl_ms.value;
        config.access_ttl_ms = self.access_ttl_ms.value;
        config.refresh_ttl_ms = self.refresh_ttl_ms.value;
        config.refresh_grace_ms = self.refresh_grace_ms.value;
        config.session_ttl_ms = self.session_ttl_ms.value;
        config.previous_peppers = self.previous_peppers();
    }

    /// The effective settings for people and scripts, secrets redacted.
    pub fn report(&self) -> Vec<(&'static str, String, Source)> {
        let pepper = match &self.pepper.value {
            Some(_) => "[redacted]".to_owned(),
            None => {
                let path = pepper_path(&self.database.value);
                let state = if path.exists() {
                    "exists"
                } else {
                    "created on first start"
                };
                format!("key file {} ({state})", path.display())
            }
        };
        let previous = match self.previous_peppers.value.len() {
            0 => "none".to_owned(),
            n => format!("{n} × [redacted]"),
        };
        vec![
            (
                "config_file",
                self.config_file
                    .value
                    .as_ref()
                    .map_or("none".into(), |p| p.display().to_string()),
                self.config_file.source,
            ),
            (
                "database",
                redact_url(&self.database.value),
                self.database.source,
            ),
            ("pepper", pepper, self.pepper.source),
            ("previous_peppers", previous, self.previous_peppers.source),
            ("bind", self.bind.value.clone(), self.bind.source),
            (
                "public_url",
                self.public_url
                    .value
                    .as_ref()
                    .map_or("http://<bound address>".into(), Url::to_string),
                self.public_url.source,
            ),
            (
                "profile",
                self.profile.value.to_string(),
                self.profile.source,
            ),
            (
                "log_format",
                match self.log_format.value {
                    LogFormat::Text => "text".into(),
                    LogFormat::Json => "json".into(),
                },
                self.log_format.source,
            ),
            (
                "code_ttl",
                format_duration(self.code_ttl_ms.value),
                self.code_ttl_ms.source,
            ),
            (
                "access_token_ttl",
                format_duration(self.access_ttl_ms.value),
                self.access_ttl_ms.source,
            ),
            (
                "refresh_token_ttl",
                format_duration(self.refresh_ttl_ms.value),
                self.refresh_ttl_ms.source,
            ),
            (
                "refresh_grace",
                format_duration(self.refresh_grace_ms.value),
                self.refresh_grace_ms.source,
            ),
            (
                "session_ttl",
                format_duration(self.session_ttl_ms.value),
                self.session_ttl_ms.source,
            ),
            (
                "rate_limits",
                if self.rate_limits_enabled.value {
                    "on".into()
                } else {
                    "off (every in-memory limit)".into()
                },
                self.rate_limits_enabled.source,
            ),
            count_row("login_per_ip_per_minute", &self.login_per_ip_per_minute),
            count_row(
                "login_failures_per_account_per_minute",
                &self.login_failures_per_account_per_minute,
            ),
            count_row(
                "token_per_client_per_second",
                &self.token_per_client_per_second,
            ),
            count_row(
                "token_failures_per_ip_per_minute",
                &self.token_failures_per_ip_per_minute,
            ),
            limit_row("device_verify_per_session", &self.device_verify_per_session),
            limit_row("device_verify_per_ip", &self.device_verify_per_ip),
            limit_row("device_authorize_per_ip", &self.device_authorize_per_ip),
            limit_row("device_poll_per_ip", &self.device_poll_per_ip),
        ]
    }
}

fn count_row(name: &'static str, v: &Valued<u32>) -> (&'static str, String, Source) {
    let value = if v.value == 0 {
        "0 (off)".to_owned()
    } else {
        v.value.to_string()
    };
    (name, value, v.source)
}

fn limit_row(name: &'static str, v: &Valued<Limit>) -> (&'static str, String, Source) {
    (name, format_limit(v.value), v.source)
}

/// `host:port` with a numeric port, or a socket address.
fn check_bind(bind: &str) -> Result<(), String> {
    if bind.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    match bind.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(()),
        _ => Err(format!(
            "{bind:?} is not HOST:PORT (e.g. 127.0.0.1:8080 or [::]:8080)"
        )),
    }
}

/// An absolute http(s) URL without query or fragment.
fn check_public_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text:?} must be an http or https URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{text:?} must not have a query or fragment"));
    }
    Ok(url)
}

#[cfg(unix)]
fn is_readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
}

#[cfg(not(unix))]
fn is_readable_by_others(_path: &Path) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(pairs: &[(&str, Source)]) -> Sources {
        Sources(pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect())
    }

    fn file(text: &str) -> FileConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn durations_read_units_and_bare_seconds() {
        assert_eq!(parse_duration("90"), Ok(90_000));
        assert_eq!(parse_duration("90s"), Ok(90_000));
        assert_eq!(parse_duration("15m"), Ok(900_000));
        assert_eq!(parse_duration("1h"), Ok(3_600_000));
        assert_eq!(parse_duration("30d"), Ok(2_592_000_000));
        assert_eq!(parse_duration("250ms"), Ok(250));
        assert!(parse_duration("1x").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("-5s").is_err());
        assert_eq!(format_duration(3_600_000), "1h");
        assert_eq!(format_duration(90_000), "90s");
        assert_eq!(format_duration(250), "250ms");
    }

    #[test]
    fn defaults_apply_when_nothing_is_given() {
        let r = Resolved::resolve(Given::default(), &Sources::default(), None).unwrap();
        assert_eq!(r.database.value, DEFAULT_DATABASE);
        assert_eq!(r.database.source, Source::Default);
        assert_eq!(r.access_ttl_ms.value, 3_600_000);
        assert_eq!(r.refresh_grace_ms.value, 10_000);
        assert_eq!(r.profile.value, Profile::Compat);
    }

    #[test]
    fn flags_and_env_win_over_the_file_which_wins_over_defaults() {
        let f = file(
            r#"
            bind = "127.0.0.1:9000"
            profile = "strict"
            access_token_ttl = "30m"
            refresh_grace = 5
            "#,
        );
        let given = Given {
            bind: Some("127.0.0.1:9100".into()),
            access_token_ttl: Some("10m".into()),
            ..Default::default()
        };
        let src = sources(&[("bind", Source::Flag), ("access_token_ttl", Source::Env)]);
        let r = Resolved::resolve(given, &src, Some((Path::new("u.toml"), &f))).unwrap();
        assert_eq!(
            r.bind,
            Valued {
                value: "127.0.0.1:9100".into(),
                source: Source::Flag
            }
        );
        assert_eq!(r.access_ttl_ms.value, 600_000);
        assert_eq!(r.access_ttl_ms.source, Source::Env);
        assert_eq!(r.profile.value, Profile::Strict);
        assert_eq!(r.profile.source, Source::File);
        assert_eq!(r.refresh_grace_ms.value, 5_000);
        assert_eq!(r.code_ttl_ms.source, Source::Default);
    }

    #[test]
    fn every_problem_is_reported_with_its_source() {
        let f = file(
            r#"
            profile = "lenient"
            code_ttl = "2h"
            refresh_grace = "1h"
            "#,
        );
        let given = Given {
            bind: Some("nowhere".into()),
            pepper: Some(Secret("abc".into())),
            ..Default::default()
        };
        let src = sources(&[("bind", Source::Flag), ("pepper", Source::Env)]);
        let Err(Invalid(problems)) =
            Resolved::resolve(given, &src, Some((Path::new("u.toml"), &f)))
        else {
            panic!("should be invalid");
        };
        let all = problems.join("\n");
        for needle in [
            "profile (file)",
            "code_ttl (file)",
            "refresh_grace (file)",
            "bind (flag)",
            "pepper (env)",
        ] {
            assert!(all.contains(needle), "{needle} missing from:\n{all}");
        }
        assert_eq!(problems.len(), 5, "{all}");
    }

    #[test]
    fn rate_limits_layer_like_the_other_settings_and_map_onto_the_server_config() {
        let f = file(
            r#"
            login_per_ip_per_minute = 7
            token_per_client_per_second = 0
            device_verify_per_ip = "20/10m"
            device_poll_per_ip = "100/1m"
            "#,
        );
        let given = Given {
            login_per_ip_per_minute: Some(9),
            device_poll_per_ip: Some("60/30s".into()),
            ..Default::default()
        };
        let src = sources(&[
            ("login_per_ip_per_minute", Source::Env),
            ("device_poll_per_ip", Source::Flag),
        ]);
        let r = Resolved::resolve(given, &src, Some((Path::new("u.toml"), &f))).unwrap();
        assert_eq!(
            r.login_per_ip_per_minute,
            Valued {
                value: 9,
                source: Source::Env
            }
        );
        assert_eq!(r.token_per_client_per_second.source, Source::File);
        assert_eq!(
            r.login_failures_per_account_per_minute.source,
            Source::Default
        );
        assert_eq!(r.rate_limits_enabled.source, Source::Default);

        let mut config =
            ServerConfig::new(Url::parse("http://127.0.0.1/").unwrap(), Pepper::generate());
        r.apply(&mut config);
        assert_eq!(
            config.rate_limits,
            RateLimits {
                enabled: true,
                login_per_ip_per_minute: 9,
                login_failures_per_account_per_minute: 5,
                token_per_client_per_second: 0,
                token_failures_per_ip_per_minute: 120,
            }
        );
        assert_eq!(config.device_verify_per_ip, Limit::new(20, 600_000));
        assert_eq!(config.device_poll_per_ip, Limit::new(60, 30_000));
        assert_eq!(config.device_verify_per_session, Limit::new(10, 900_000));
        assert_eq!(config.device_authorize_per_ip, Limit::new(30, 60_000));

        let report = r.report();
        let row = |name: &str| {
            report
                .iter()
                .find(|(n, _, _)| *n == name)
                .map(|(_, v, s)| (v.clone(), *s))
                .unwrap_or_else(|| panic!("{name} missing from the report"))
        };
        assert_eq!(row("rate_limits"), ("on".into(), Source::Default));
        assert_eq!(row("login_per_ip_per_minute"), ("9".into(), Source::Env));
        assert_eq!(
            row("token_per_client_per_second"),
            ("0 (off)".into(), Source::File)
        );
        assert_eq!(row("device_verify_per_ip"), ("20/10m".into(), Source::File));
        assert_eq!(row("device_poll_per_ip"), ("60/30s".into(), Source::Flag));

        // Switched off in the file, and by the flag.
        let off = file("no_rate_limits = true");
        let r = Resolved::resolve(
            Given::default(),
            &Sources::default(),
            Some((Path::new("u.toml"), &off)),
        )
        .unwrap();
        assert!(!r.rate_limits().enabled);
        let r = Resolved::resolve(
            Given {
                no_rate_limits: Some(true),
                ..Default::default()
            },
            &sources(&[("no_rate_limits", Source::Flag)]),
            None,
        )
        .unwrap();
        assert!(!r.rate_limits().enabled);
        assert_eq!(r.rate_limits_enabled.source, Source::Flag);
    }

    #[test]
    fn bad_rate_limits_are_reported_with_their_source() {
        assert_eq!(parse_limit("10/15m"), Ok(Limit::new(10, 900_000)));
        assert_eq!(format_limit(Limit::new(10, 900_000)), "10/15m");
        for bad in [
            "10",
            "0/1m",
            "ten/1m",
            "10/0s",
            "10/2d",
            "10/1x",
            "2000000/1m",
        ] {
            assert!(parse_limit(bad).is_err(), "{bad}");
        }
        let f = file(
            r#"
            device_verify_per_session = "0/15m"
            login_failures_per_account_per_minute = 2000000
            "#,
        );
        let given = Given {
            device_authorize_per_ip: Some("lots".into()),
            ..Default::default()
        };
        let src = sources(&[("device_authorize_per_ip", Source::Env)]);
        let Err(Invalid(problems)) =
            Resolved::resolve(given, &src, Some((Path::new("u.toml"), &f)))
        else {
            panic!("should be invalid");
        };
        let all = problems.join("\n");
        for needle in [
            "device_verify_per_session (file)",
            "login_failures_per_account_per_minute (file)",
            "device_authorize_per_ip (env)",
        ] {
            assert!(all.contains(needle), "{needle} missing from:\n{all}");
        }
        assert_eq!(problems.len(), 3, "{all}");
        // A negative or non-numeric count in the file is a parse error of the file.
        assert!(toml::from_str::<FileConfig>("login_per_ip_per_minute = -1").is_err());
    }

    #[test]
    fn unknown_file_keys_are_errors() {
        assert!(toml::from_str::<FileConfig>("acess_token_ttl = \"1h\"").is_err());
    }

    #[test]
    fn previous_peppers_must_be_valid_distinct_and_few() {
        let current = "ab".repeat(16);
        let old = "cd".repeat(16);
        let ok = Given {
            pepper: Some(Secret(current.clone())),
            previous_peppers: vec![Secret(old.clone())],
            ..Default::default()
        };
        let r = Resolved::resolve(ok, &Sources::default(), None).unwrap();
        assert_eq!(r.previous_peppers().len(), 1);

        let same = Given {
            pepper: Some(Secret(current.clone())),
            previous_peppers: vec![Secret(current.clone())],
            ..Default::default()
        };
        assert!(Resolved::resolve(same, &Sources::default(), None).is_err());
        let many = Given {
            pepper: Some(Secret(current)),
            previous_peppers: vec![Secret(old); 4],
            ..Default::default()
        };
        assert!(Resolved::resolve(many, &Sources::default(), None).is_err());
        let without_current = Given {
            previous_peppers: vec![Secret("cd".repeat(16))],
            ..Default::default()
        };
        assert!(Resolved::resolve(without_current, &Sources::default(), None).is_err());
    }

    #[test]
    fn the_report_never_shows_a_pepper_or_a_database_password() {
        let secret = "ab".repeat(16);
        let given = Given {
            database: Some("postgres://u:hunter2@db.example/ucoauth".into()),
            pepper: Some(Secret(secret.clone())),
            previous_peppers: vec![Secret("cd".repeat(16))],
            ..Default::default()
        };
        let r = Resolved::resolve(given, &Sources::default(), None).unwrap();
        let text = format!("{:?} {r:?}", r.report());
        assert!(!text.contains(&secret));
        assert!(!text.contains(&"cd".repeat(16)));
        assert!(!text.contains("hunter2"));
        assert!(text.contains("[redacted]"));
    }
}
