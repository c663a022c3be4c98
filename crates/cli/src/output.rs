//! Printing results as text for people or JSON for scripts.

use serde::Serialize;

/// Prints `value` as pretty JSON when `json` is set, else prints `text()`.
pub fn print<T: Serialize>(
    json: bool,
    value: &T,
    text: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        println!("{}", text());
    }
    Ok(())
}
