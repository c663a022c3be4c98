//! Turning latencies into the figures BENCHMARKS.md reports.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub workload: String,
    pub concurrency: usize,
    pub requests: usize,
    pub errors: usize,
    pub seconds: f64,
    pub req_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub peak_rss_mib: f64,
    /// req/s as a fraction of `baseline_req_per_s` (see [`Figures::set_baseline`]).
    pub ratio_to_baseline: f64,
    /// The baseline's req/s this workload is compared with: the mean of the baseline measured
    /// just before and just after it, or (without those) the run's first baseline.
    pub baseline_req_per_s: f64,
    /// Server CPU time (user + system, all threads) per successful request, in microseconds.
    pub server_cpu_us_per_req: f64,
    /// Server context switches per successful request.
    pub context_switches_per_req: f64,
    /// The load generator's own CPU time per successful request, in microseconds.
    pub bench_cpu_us_per_req: f64,
}

/// Latencies in microseconds → figures (ratio filled in later).
pub fn figures(
    workload: &str,
    concurrency: usize,
    mut latencies_us: Vec<u32>,
    errors: usize,
    seconds: f64,
    peak_rss_kib: u64,
    usage: crate::server::Usage,
) -> Figures {
    let requests = latencies_us.len().max(1) as f64;
    let per_req = |total: f64| total / requests;
    latencies_us.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((latencies_us.len() as f64 - 1.0) * p).round() as usize;
        f64::from(latencies_us[i.min(latencies_us.len() - 1)]) / 1000.0
    };
    Figures {
        workload: workload.to_owned(),
        concurrency,
        requests: latencies_us.len(),
        errors,
        seconds,
        req_per_s: latencies_us.len() as f64 / seconds.max(1e-9),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        peak_rss_mib: peak_rss_kib as f64 / 1024.0,
        ratio_to_baseline: 0.0,
        baseline_req_per_s: 0.0,
        // USER_HZ is 100 on Linux: one tick is 10 ms.
        server_cpu_us_per_req: per_req(usage.cpu_ticks as f64 * 10_000.0),
        context_switches_per_req: per_req(usage.context_switches as f64),
        bench_cpu_us_per_req: per_req(usage.bench_cpu_ticks as f64 * 10_000.0),
    }
}

impl Figures {
    /// Compares this workload with a baseline of `req_per_s`.
    pub fn set_baseline(&mut self, req_per_s: f64) {
        self.baseline_req_per_s = req_per_s;
        self.ratio_to_baseline = if req_per_s > 0.0 {
            self.req_per_s / req_per_s
        } else {
            0.0
        };
    }
}

/// The median of several runs of one (workload, concurrency), by req/s.
pub fn median(mut runs: Vec<Figures>) -> Option<Figures> {
    runs.sort_by(|a, b| a.req_per_s.total_cmp(&b.req_per_s));
    let mid = runs.len() / 2;
    runs.into_iter().nth(mid)
}

pub fn markdown(rows: &[Figures]) -> String {
    let mut out = String::from(
        "| workload | conc. | requests | errors | req/s | ratio to baseline | baseline req/s | p50 ms | p99 ms | peak RSS MiB | server CPU µs/req | ctx switches/req | bench CPU µs/req |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.0} | {:.2} | {:.0} | {:.2} | {:.2} | {:.1} | {:.0} | {:.1} | {:.0} |\n",
            r.workload,
            r.concurrency,
            r.requests,
            r.errors,
            r.req_per_s,
            r.ratio_to_baseline,
            r.baseline_req_per_s,
            r.p50_ms,
            r.p99_ms,
            r.peak_rss_mib,
            r.server_cpu_us_per_req,
            r.context_switches_per_req,
            r.bench_cpu_us_per_req
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_rate() {
        let f = figures(
            "x",
            1,
            (1..=100).map(|i| i * 1000).collect(),
            0,
            2.0,
            2048,
            crate::server::Usage::default(),
        );
        assert_eq!(f.requests, 100);
        assert!((f.req_per_s - 50.0).abs() < 1e-9);
        assert!((f.p50_ms - 51.0).abs() < 1e-9 || (f.p50_ms - 50.0).abs() < 1e-9);
        assert!((f.p99_ms - 99.0).abs() < 1e-9 || (f.p99_ms - 100.0).abs() < 1e-9);
        assert!((f.peak_rss_mib - 2.0).abs() < 1e-9);
    }

    #[test]
    fn median_picks_the_middle_run() {
        let runs = [3.0, 1.0, 2.0]
            .iter()
            .map(|s| {
                figures(
                    "x",
                    1,
                    vec![1; 6],
                    0,
                    *s,
                    0,
                    crate::server::Usage::default(),
                )
            })
            .collect();
        let m = median(runs).unwrap();
        assert!((m.seconds - 2.0).abs() < 1e-9);
    }
}
