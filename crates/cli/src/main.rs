//! `ucoauth`: run the authorization server and manage what it serves.
//!
//! Each subcommand lives in its own module under `commands/` with a `run` function. Commands
//! that print data take `--json`; every failure exits non-zero with one line saying what to do.

mod commands;
mod output;

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = commands::Cli::parse();
    match commands::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
