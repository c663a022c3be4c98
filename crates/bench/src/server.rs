//! The server under test: a real `ucoauth serve` process, seeded through the real CLI.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{bail, Context};
use tokio::process::{Child, Command};

pub struct Server {
    child: Child,
    pub addr: String,
    pid: u32,
}

/// How to run the `ucoauth` binary against one database.
#[derive(Clone)]
pub struct Binary {
    pub path: PathBuf,
    pub database: String,
    pub pepper: Option<String>,
}

impl Binary {
    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.path);
        cmd.env("UCOAUTH_DATABASE", &self.database);
        if let Some(p) = &self.pepper {
            cmd.env("UCOAUTH_PEPPER", p);
        }
        cmd.env("UCOAUTH_LOG", "warn");
        cmd
    }

    /// Runs a CLI subcommand to completion, feeding `stdin`; returns its standard output.
    pub async fn run(&self, args: &[&str], stdin: &str) -> anyhow::Result<String> {
        use tokio::io::AsyncWriteExt;
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {}", self.path.display()))?;
        if let Some(mut input) = child.stdin.take() {
            input.write_all(stdin.as_bytes()).await?;
        }
        let out = child.wait_with_output().await?;
        if !out.status.success() {
            bail!(
                "ucoauth {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8(out.stdout)?)
    }

    /// Starts `ucoauth serve` on a free loopback port and waits until it answers.
    pub async fn serve(&self) -> anyhow::Result<Server> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = self
            .command()
            .args(["serve", "--bind", &addr, "--no-rate-limits"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().context("server exited at once")?;
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(&addr).await.is_ok() {
                return Ok(Server { child, addr, pid });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the server did not start listening on {addr}")
    }
}

impl Server {
    /// Peak resident set size since the last reset, in KiB (Linux `VmHWM`).
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }

    /// Resets the peak RSS counter (writing 5 to `clear_refs`, Linux ≥ 4.0).
    pub fn reset_peak_rss(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5");
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// The `ucoauth` binary beside this one (both are built into the same target directory).
pub fn sibling_binary() -> PathBuf {
    let me = std::env::current_exe().unwrap_or_default();
    me.parent().unwrap_or(Path::new(".")).join("ucoauth")
}
