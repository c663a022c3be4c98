//! `ucoauth`: run the authorization server and manage what it serves.
//!
//! Each subcommand lives in its own module under `commands/` with a `run` function. Commands
//! that print data take `--json`; every failure exits non-zero with one line saying what to do.
//! Settings are merged in `settings` (flag > environment > config file > default).

mod commands;
mod output;
mod settings;

use clap::{CommandFactory, FromArgMatches};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let matches = commands::Cli::command().get_matches();
    let mut cli = match commands::Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    cli.global.sources = settings::Sources::from_matches(&matches);
    match commands::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
