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
    /// The server's CPU time and context switches when the current workload began.
    mark: std::sync::Mutex<Usage>,
}

/// What the server process has consumed so far (all its threads).
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// User + system CPU time, in clock ticks (USER_HZ, 100 per second on Linux).
    pub cpu_ticks: u64,
    /// Voluntary + involuntary context switches, summed over the threads alive now.
    pub context_switches: u64,
    /// The load generator's own CPU time (this process), in clock ticks: what the benchmark
    /// takes from the two cores the server shares with it.
    pub bench_cpu_ticks: u64,
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
                return Ok(Server {
                    child,
                    addr,
                    pid,
                    mark: std::sync::Mutex::new(Usage::default()),
                });
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

    /// Starts measuring a workload: resets the peak RSS counter (writing 5 to `clear_refs`,
    /// Linux ≥ 4.0) and notes the CPU time and context switches so far.
    pub fn reset_peak_rss(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5");
        *self.mark.lock().expect("mark") = self.usage();
    }

    /// CPU time and context switches since the last [`Self::reset_peak_rss`]. Less sensitive
    /// to other load on a shared machine than req/s, so it is what to compare between builds.
    pub fn usage_since_mark(&self) -> Usage {
        let now = self.usage();
        let mark = *self.mark.lock().expect("mark");
        Usage {
            cpu_ticks: now.cpu_ticks.saturating_sub(mark.cpu_ticks),
            context_switches: now.context_switches.saturating_sub(mark.context_switches),
            bench_cpu_ticks: now.bench_cpu_ticks.saturating_sub(mark.bench_cpu_ticks),
        }
    }

    fn usage(&self) -> Usage {
        let proc_dir = format!("/proc/{}", self.pid);
        let server_ticks = cpu_ticks(&proc_dir);
        let mut context_switches = 0;
        if let Ok(tasks) = std::fs::read_dir(format!("{proc_dir}/task")) {
            for task in tasks.flatten() {
                let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
                    continue;
                };
                context_switches += status
                    .lines()
                    .filter(|l| l.contains("ctxt_switches:"))
                    .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                    .sum::<u64>();
            }
        }
        Usage {
            cpu_ticks: server_ticks,
            context_switches,
            bench_cpu_ticks: cpu_ticks("/proc/self"),
        }
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// User + system CPU time of a process, in clock ticks: fields 14 and 15 of `/proc/PID/stat`,
/// counted after the ")" that ends the name.
fn cpu_ticks(proc_dir: &str) -> u64 {
    std::fs::read_to_string(format!("{proc_dir}/stat"))
        .ok()
        .and_then(|stat| {
            let after_name = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = after_name.split_whitespace().collect();
            let utime: u64 = fields.get(11)?.parse().ok()?;
            let stime: u64 = fields.get(12)?.parse().ok()?;
            Some(utime + stime)
        })
        .unwrap_or(0)
}

/// The `ucoauth` binary beside this one (both are built into the same target directory).
pub fn sibling_binary() -> PathBuf {
    let me = std::env::current_exe().unwrap_or_default();
    me.parent().unwrap_or(Path::new(".")).join("ucoauth")
}
