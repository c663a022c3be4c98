//! `ucoauth config ...`.

use clap::{Args, Subcommand};
use serde::Serialize;

use super::{serve::ServeArgs, Global};
use crate::settings::Source;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the settings and print the effective values (secrets redacted).
    #[command(long_about = CHECK_LONG_ABOUT, after_long_help = CHECK_EXAMPLES)]
    Check(CheckArgs),
}

const CHECK_LONG_ABOUT: &str = "\
Validate the settings and print the effective values (secrets redacted).

Merges the settings exactly as `ucoauth serve` would — flag > environment > --config file >
default — checks every value (durations and their ranges, URLs, the bind address, peppers,
the profile), and prints each effective value with where it came from. Every problem is listed,
not only the first, and the exit status is 1 if there is any. Nothing is created or changed:
the database is not opened and a missing pepper key file is reported, not written.

Peppers are never printed; a database URL's password is replaced by REDACTED.";

const CHECK_EXAMPLES: &str = "\
EXAMPLES
  ucoauth --config /etc/ucoauth.toml config check
  UCOAUTH_ACCESS_TOKEN_TTL=30m ucoauth config check --json
  ucoauth config check --profile strict --refresh-grace 5s

A configuration file (all keys optional):
  database = \"postgres://ucoauth@db.internal/ucoauth\"
  pepper = \"<64 hex characters>\"         # or UCOAUTH_PEPPER; chmod 600 this file
  previous_peppers = [\"<old pepper>\"]    # after a rotation, until its tokens expire
  bind = \"0.0.0.0:8080\"
  public_url = \"https://auth.example.com\"
  profile = \"strict\"
  log_format = \"json\"
  code_ttl = \"60s\"
  access_token_ttl = \"1h\"
  refresh_token_ttl = \"30d\"
  refresh_grace = \"10s\"
  session_ttl = \"12h\"
  login_per_ip_per_minute = 30          # in-memory, per node; 0 switches one off
  login_failures_per_account_per_minute = 5
  token_per_client_per_second = 2000
  token_failures_per_ip_per_minute = 120
  device_verify_per_session = \"10/15m\"  # in the database, shared by every node
  device_verify_per_ip = \"50/15m\"
  device_authorize_per_ip = \"30/1m\"
  device_poll_per_ip = \"300/1m\"";

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct SettingView {
    value: String,
    source: Source,
}

#[derive(Serialize)]
struct Report {
    valid: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    problems: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    settings: std::collections::BTreeMap<&'static str, SettingView>,
}

pub fn run(
    global: &Global,
    cmd: ConfigCommand,
    file_error: Option<anyhow::Error>,
) -> anyhow::Result<()> {
    let ConfigCommand::Check(args) = cmd;
    let resolved = match file_error {
        Some(e) => Err(e),
        None => global.resolve(Some(&args.serve)),
    };
    match resolved {
        Ok(settings) => {
            let rows = settings.report();
            if args.json {
                let report = Report {
                    valid: true,
                    problems: Vec::new(),
                    warnings: settings.warnings.clone(),
                    settings: rows
                        .into_iter()
                        .map(|(name, value, source)| (name, SettingView { value, source }))
                        .collect(),
                };
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                let width = rows.iter().map(|(n, _, _)| n.len()).max().unwrap_or(0);
                for (name, value, source) in rows {
                    println!("{name:<width$}  {value}  ({source})");
                }
                for warning in &settings.warnings {
                    println!("warning: {warning}");
                }
                println!("ok: the settings are valid");
            }
            Ok(())
        }
        Err(e) => {
            let problems: Vec<String> = match e.downcast_ref::<crate::settings::Invalid>() {
                Some(invalid) => invalid.0.clone(),
                None => vec![format!("{e:#}")],
            };
            if args.json {
                let report = Report {
                    valid: false,
                    problems: problems.clone(),
                    warnings: Vec::new(),
                    settings: Default::default(),
                };
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for p in &problems {
                    eprintln!("problem: {p}");
                }
            }
            anyhow::bail!(
                "the settings are not valid ({} problem{})",
                problems.len(),
                if problems.len() == 1 { "" } else { "s" }
            )
        }
    }
}
