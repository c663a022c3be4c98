//! Printing results as text for people or JSON for scripts.

use std::io::Write;

use serde::Serialize;

/// Prints `value` as pretty JSON when `json` is set, else prints `text()`. A closed pipe
/// (`ucoauth app list | head -1`) is not an error.
pub fn print<T: Serialize>(
    json: bool,
    value: &T,
    text: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    let out = if json {
        serde_json::to_string_pretty(value)?
    } else {
        text()
    };
    match writeln!(std::io::stdout().lock(), "{out}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}
