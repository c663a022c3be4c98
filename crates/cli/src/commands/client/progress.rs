//! A one-line progress indicator on standard error while the CLI waits for a person.
//!
//! On a terminal it is a spinner with the time left, redrawn in place; elsewhere (a pipe, a log
//! file, a test) it is one plain line, so logs stay readable.

use std::{
    io::{IsTerminal as _, Write as _},
    time::{Duration, Instant},
};

use tokio::task::JoinHandle;

const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// Shows `message` and the time left until the guard is finished or dropped.
pub struct Progress {
    task: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts showing `message`; `deadline` is when the wait gives up.
    pub fn start(message: &str, deadline: Instant) -> Self {
        let stderr = std::io::stderr();
        if !stderr.is_terminal() {
            let left = deadline.saturating_duration_since(Instant::now());
            eprintln!("{message} (up to {})", human_duration(left));
            return Self { task: None };
        }
        let message = message.to_owned();
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_millis(120));
            for frame in FRAMES.iter().cycle() {
                ticker.tick().await;
                let left = deadline.saturating_duration_since(Instant::now());
                let mut err = std::io::stderr().lock();
                // \r and "erase line" redraw in place.
                let _ = write!(
                    err,
                    "\r\x1b[2K{frame} {message} ({} left, Ctrl-C to cancel)",
                    human_duration(left)
                );
                let _ = err.flush();
            }
        });
        Self { task: Some(task) }
    }

    /// Stops and erases the indicator.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            // Abort only lands at an await point, so never in the middle of a write.
            task.abort();
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `4 min 05 s`, `42 s`.
pub fn human_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds >= 60 {
        format!("{} min {:02} s", seconds / 60, seconds % 60)
    } else {
        format!("{seconds} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(Duration::from_secs(42)), "42 s");
        assert_eq!(human_duration(Duration::from_secs(245)), "4 min 05 s");
        assert_eq!(human_duration(Duration::from_millis(999)), "0 s");
    }
}
