//! `ucoauth-bench`: a load generator for ucoauth.
//!
//! It starts a real `ucoauth serve` process on a fresh database, seeds a merchant and an
//! application through the real CLI, signs in through the login form, and then drives each
//! workload over loopback HTTP/1.1 keep-alive connections at each concurrency:
//! baseline (`/healthz`, no store), `/oauth/me` (one token, as an API client sends it, and
//! each request a token not checked before), introspection, `refresh_token` grants,
//! `authorization_code` exchanges, revocations, and the whole browser flow. Every figure is
//! also given as a ratio to the baseline measured in the same run, just before and after the
//! workload, because these machines are shared and noisy.
//!
//! Example: `cargo run --release -p ucoauth-bench -- --runs 3 --markdown BENCHMARKS.table.md`

mod flow;
mod http;
mod report;
mod server;
mod workloads;

use std::{path::PathBuf, sync::Arc};

use anyhow::Context;
use clap::Parser;
use report::Figures;
use tokio::signal::unix::SignalKind;

/// Load generator for ucoauth: req/s, p50/p99 and server peak RSS per workload, as ratios to a
/// no-store baseline of the same server.
#[derive(Debug, Parser)]
struct Args {
    /// The `ucoauth` binary to benchmark (default: the one beside this binary).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Database URL for the server (default: a fresh SQLite file in a temporary directory).
    /// With postgres://, the database should be empty and --pepper (or UCOAUTH_PEPPER) set.
    #[arg(long)]
    database: Option<String>,
    #[arg(long, env = "UCOAUTH_PEPPER", hide_env_values = true)]
    pepper: Option<String>,
    /// Concurrency levels (connections), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "32,256")]
    concurrency: Vec<usize>,
    /// Seconds per time-bounded workload (baseline, me, refresh, browser flow).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Seconds of baseline measured just before and just after each workload (0: none). A
    /// workload's ratio is against the mean of those two, so that the machine's drift over a
    /// run (these machines are shared) moves both sides of the ratio alike; without them, it
    /// is against the run's first baseline.
    #[arg(long, default_value_t = 2.0)]
    adjacent_seconds: f64,
    /// Codes minted (and exchanged, then revoked) per run and concurrency.
    #[arg(long, default_value_t = 4000)]
    codes: usize,
    /// Runs of everything; medians are reported.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Write the results table (Markdown) here too.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Exit with status 1 when any request failed (the CI smoke run uses this).
    #[arg(long)]
    fail_on_errors: bool,
    /// Write the results (JSON) here too.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Registers an application through the CLI; its `client_id` and `client_secret`.
async fn create_app(
    binary: &server::Binary,
    name: &str,
    extra: &[&str],
) -> anyhow::Result<(String, String)> {
    let mut args = vec![
        "app",
        "create",
        "--name",
        name,
        "--redirect-uri",
        flow::REDIRECT_URI,
        "--scope",
        "item_read",
        "--json",
    ];
    args.extend_from_slice(extra);
    let created: serde_json::Value = serde_json::from_str(&binary.run(&args, "").await?)?;
    let field = |name: &str| -> anyhow::Result<String> {
        Ok(created[name]
            .as_str()
            .with_context(|| format!("no {name} in `app create --json`"))?
            .to_owned())
    };
    Ok((field("client_id")?, field("client_secret")?))
}

/// Short baseline measurements around the workloads. The one taken after a workload also
/// serves as the one before the next, unless something else ran in between (minting codes).
struct Around {
    seconds: f64,
    last: Option<f64>,
}

impl Around {
    fn new(seconds: f64) -> Self {
        Self {
            seconds,
            last: None,
        }
    }

    async fn before(&mut self, addr: &str, c: usize) -> anyhow::Result<Option<f64>> {
        match self.last.take() {
            Some(last) => Ok(Some(last)),
            None => self.slice(addr, c).await,
        }
    }

    async fn after(&mut self, addr: &str, c: usize) -> anyhow::Result<Option<f64>> {
        self.last = self.slice(addr, c).await?;
        Ok(self.last)
    }

    fn interrupted(&mut self) {
        self.last = None;
    }

    /// The baseline's req/s, after a pause: the checkpoint of the previous workload's writes
    /// (done within 100 ms, docs/performance.md) must not slow the baseline, which would
    /// flatter the ratio.
    async fn slice(&self, addr: &str, c: usize) -> anyhow::Result<Option<f64>> {
        if self.seconds <= 0.0 {
            return Ok(None);
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let m = workloads::baseline(addr, c, self.seconds).await?;
        Ok(Some(m.req_per_s()))
    }
}

const LOGIN: &str = "bench";
const PASSWORD: &str = "bench password 1";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut terminate = tokio::signal::unix::signal(SignalKind::terminate())?;
    // Stopping early drops the run, and with it the server under test (spawned with
    // kill_on_drop) and its temporary database. Without this a SIGTERM, as `timeout` or a
    // script's `kill` sends, would leave `ucoauth serve` running and loading the machine
    // during whatever is measured next.
    tokio::select! {
        result = run(args) => result,
        _ = terminate.recv() => anyhow::bail!("stopped by SIGTERM (the server under test too)"),
        _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted (the server under test too)"),
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let binary = server::Binary {
        path: args
            .server_bin
            .clone()
            .unwrap_or_else(server::sibling_binary),
        database: args
            .database
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}/bench.db", dir.path().display())),
        pepper: args.pepper.clone(),
    };
    eprintln!("seeding {} ...", binary.database);
    binary
        .run(
            &[
                "merchant",
                "create",
                "--merchant-id",
                "BENCH",
                "--name",
                "Bench Co",
                "--login",
                LOGIN,
                "--password-stdin",
            ],
            &format!("{PASSWORD}\n"),
        )
        .await?;
    let client_id = Arc::new(create_app(&binary, "Bench", &[]).await?.0);
    let caller = Arc::new(create_app(&binary, "Bench item API", &["--resource-server"]).await?);

    let server = binary.serve().await?;
    let addr = server.addr.clone();
    let mut conn = http::Conn::open(&addr).await?;
    let session = Arc::new(flow::sign_in(&mut conn, &client_id, LOGIN, PASSWORD).await?);

    let mut all: Vec<Figures> = Vec::new();
    for run in 0..args.runs {
        for &c in &args.concurrency {
            eprintln!("run {}/{} at concurrency {c} ...", run + 1, args.runs);
            // A workload's figures, printed as they come; its baseline is set by the caller.
            let figures_of = |name: &str, m: workloads::Measured| {
                let f = report::figures(
                    name,
                    c,
                    m.latencies_us,
                    m.errors,
                    m.seconds,
                    server.peak_rss_kib().unwrap_or(0),
                    server.usage_since_mark(),
                );
                eprintln!(
                    "  {:<22} {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  errors {}  \
                     cpu {:>5.0} µs/req  cs {:>5.1}/req  bench cpu {:>4.0} µs/req",
                    f.workload,
                    f.req_per_s,
                    f.p50_ms,
                    f.p99_ms,
                    f.errors,
                    f.server_cpu_us_per_req,
                    f.context_switches_per_req,
                    f.bench_cpu_us_per_req
                );
                server.reset_peak_rss();
                f
            };
            server.reset_peak_rss();
            let mut first = figures_of(
                "baseline (/healthz)",
                workloads::baseline(&addr, c, args.seconds).await?,
            );
            first.set_baseline(first.req_per_s);
            let first_rate = first.req_per_s;
            all.push(first);
            let mut around = Around::new(args.adjacent_seconds);
            // One workload between two baseline slices, compared with their mean (without
            // slices, with the run's first baseline).
            macro_rules! between_baselines {
                ($name:expr, $workload:expr) => {{
                    let before = around.before(&addr, c).await?;
                    server.reset_peak_rss();
                    let mut m: workloads::Measured = $workload.await?;
                    let produced = std::mem::take(&mut m.produced);
                    let mut f = figures_of($name, m);
                    let after = around.after(&addr, c).await?;
                    match before.zip(after) {
                        Some((b, a)) => {
                            f.set_baseline((b + a) / 2.0);
                            eprintln!(
                                "    ratio {:.2} to the baseline around it ({b:.0} before, {a:.0} after)",
                                f.ratio_to_baseline
                            );
                        }
                        None => f.set_baseline(first_rate),
                    }
                    all.push(f);
                    produced
                }};
            }

            // Seed tokens: one refresh family per worker, and an access token for /oauth/me.
            let seeds = workloads::mint_codes(&addr, c.min(64), c, session.clone()).await?;
            let mut refresh_seeds = Vec::new();
            let mut access = String::new();
            for code in seeds {
                let (a, r) = flow::exchange(&mut conn, &client_id, &code).await?;
                access = a;
                refresh_seeds.push(r);
            }
            let access = Arc::new(access);
            between_baselines!(
                "oauth/me",
                workloads::me(&addr, c, args.seconds, access.clone())
            );
            between_baselines!(
                "introspection",
                workloads::introspect(&addr, c, args.seconds, caller.clone(), access.clone())
            );
            let refreshed = between_baselines!(
                "refresh_token grant",
                workloads::refresh(&addr, c, args.seconds, client_id.clone(), refresh_seeds)
            );
            between_baselines!(
                "oauth/me, new tokens",
                workloads::me_new_tokens(&addr, c, refreshed)
            );

            let codes =
                workloads::mint_codes(&addr, c.min(64), args.codes, session.clone()).await?;
            around.interrupted();
            // Marks where the exchange starts (scripts/callgrind.sh waits for this line).
            eprintln!("  minted {} codes through the browser flow", codes.len());
            let tokens = between_baselines!(
                "authorization_code",
                workloads::exchange(&addr, c, client_id.clone(), codes)
            );
            between_baselines!(
                "revoke",
                workloads::revoke(&addr, c, client_id.clone(), tokens)
            );
            between_baselines!(
                "browser flow (per flow)",
                workloads::browser_flow(&addr, c, args.seconds, session.clone())
            );
        }
    }
    server.stop().await;

    // Medians over runs.
    let mut rows = Vec::new();
    for &c in &args.concurrency {
        let mut names: Vec<String> = Vec::new();
        for f in all.iter().filter(|f| f.concurrency == c) {
            if !names.contains(&f.workload) {
                names.push(f.workload.clone());
            }
        }
        for name in names {
            let runs = all
                .iter()
                .filter(|f| f.concurrency == c && f.workload == name)
                .cloned()
                .collect();
            rows.extend(report::median(runs));
        }
    }
    let table = report::markdown(&rows);
    println!("{table}");
    if let Some(path) = &args.markdown {
        std::fs::write(path, &table)?;
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&rows)?)?;
    }
    let failed: usize = all.iter().map(|f| f.errors).sum();
    if args.fail_on_errors && failed > 0 {
        anyhow::bail!("{failed} requests failed");
    }
    Ok(())
}
