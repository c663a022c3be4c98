//! The workloads. Each spawns `concurrency` workers, each with its own keep-alive connection,
//! and records every request's latency; errors are counted, never hidden.

use std::{
    future::Future,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use crate::{
    flow::{self, Session},
    http::Conn,
};

/// What the workers of one workload measured.
pub struct Measured {
    pub latencies_us: Vec<u32>,
    pub errors: usize,
    pub seconds: f64,
    /// Values the workers produced (e.g. access tokens), for later workloads.
    pub produced: Vec<String>,
}

impl Measured {
    /// Successful requests per second.
    pub fn req_per_s(&self) -> f64 {
        self.latencies_us.len() as f64 / self.seconds.max(1e-9)
    }
}

/// Runs `worker(index, conn)` on `concurrency` connections and merges what they measured.
async fn run_workers<F, Fut>(addr: &str, concurrency: usize, worker: F) -> anyhow::Result<Measured>
where
    F: Fn(usize, Conn) -> Fut,
    Fut: Future<Output = (Vec<u32>, usize, Vec<String>)> + Send + 'static,
{
    let mut conns = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        conns.push(Conn::open(addr).await?);
    }
    let start = Instant::now();
    let handles: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, c)| tokio::spawn(worker(i, c)))
        .collect();
    let mut out = Measured {
        latencies_us: Vec::new(),
        errors: 0,
        seconds: 0.0,
        produced: Vec::new(),
    };
    for h in handles {
        let (lat, errors, produced) = h.await?;
        out.latencies_us.extend(lat);
        out.errors += errors;
        out.produced.extend(produced);
    }
    out.seconds = start.elapsed().as_secs_f64();
    Ok(out)
}

fn micros(since: Instant) -> u32 {
    u32::try_from(since.elapsed().as_micros()).unwrap_or(u32::MAX)
}

/// A request loop until `deadline`; `step` returns whether the request succeeded.
macro_rules! timed_loop {
    ($deadline:expr, $lat:ident, $errors:ident, $body:block) => {
        while Instant::now() < $deadline {
            let t = Instant::now();
            let ok: bool = $body;
            if ok {
                $lat.push(micros(t));
            } else {
                $errors += 1;
            }
        }
    };
}

/// GET /healthz: the same server stack without the store.
pub async fn baseline(addr: &str, c: usize, secs: f64) -> anyhow::Result<Measured> {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    run_workers(addr, c, move |_, mut conn| async move {
        let (mut lat, mut errors) = (Vec::new(), 0);
        timed_loop!(deadline, lat, errors, {
            matches!(conn.get("/healthz", None).await, Ok(r) if r.status == 200)
        });
        (lat, errors, Vec::new())
    })
    .await
}

/// GET /oauth/me with a valid bearer token.
pub async fn me(addr: &str, c: usize, secs: f64, token: Arc<String>) -> anyhow::Result<Measured> {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    run_workers(addr, c, move |_, mut conn| {
        let token = token.clone();
        async move {
            let (mut lat, mut errors) = (Vec::new(), 0);
            timed_loop!(deadline, lat, errors, {
                matches!(conn.get("/rest/v2/oauth/me", Some(&token)).await, Ok(r) if r.status == 200)
            });
            (lat, errors, Vec::new())
        }
    })
    .await
}

/// POST /oauth/introspect of a valid access token by a resource server (form credentials).
pub async fn introspect(
    addr: &str,
    c: usize,
    secs: f64,
    caller: Arc<(String, String)>,
    token: Arc<String>,
) -> anyhow::Result<Measured> {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    run_workers(addr, c, move |_, mut conn| {
        let (caller, token) = (caller.clone(), token.clone());
        async move {
            let (mut lat, mut errors) = (Vec::new(), 0);
            let form = [
                ("client_id", caller.0.as_str()),
                ("client_secret", caller.1.as_str()),
                ("token", token.as_str()),
            ];
            timed_loop!(deadline, lat, errors, {
                match conn.post_form("/rest/v2/oauth/introspect", &form).await {
                    Ok(r) if r.status == 200 => {
                        // An inactive answer would measure the cheap path: count it as an error.
                        matches!(r.json(), Ok(v) if v["active"] == true)
                    }
                    _ => false,
                }
            });
            (lat, errors, Vec::new())
        }
    })
    .await
}

/// GET /oauth/me, each request with an access token not checked before: every check reads
/// the store, where [`me`] is served from the server's memory of recent lookups.
pub async fn me_new_tokens(addr: &str, c: usize, tokens: Vec<String>) -> anyhow::Result<Measured> {
    let slices = share(tokens, c);
    run_workers(addr, c, move |i, mut conn| {
        let slices = slices.clone();
        async move {
            let (mut lat, mut errors) = (Vec::new(), 0);
            for token in &slices[i] {
                let t = Instant::now();
                match conn.get("/rest/v2/oauth/me", Some(token)).await {
                    Ok(r) if r.status == 200 => lat.push(micros(t)),
                    _ => errors += 1,
                }
            }
            (lat, errors, Vec::new())
        }
    })
    .await
}

/// refresh_token grants, each with the refresh token the previous one returned; produces the
/// access tokens issued.
pub async fn refresh(
    addr: &str,
    c: usize,
    secs: f64,
    client_id: Arc<String>,
    seeds: Vec<String>,
) -> anyhow::Result<Measured> {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let seeds = Arc::new(seeds);
    run_workers(addr, c, move |i, mut conn| {
        let client_id = client_id.clone();
        let mut current = seeds.get(i).cloned().unwrap_or_default();
        async move {
            let (mut lat, mut errors, mut produced) = (Vec::new(), 0, Vec::new());
            timed_loop!(deadline, lat, errors, {
                let reply = conn
                    .post_form(
                        "/rest/v2/oauth/token",
                        &[
                            ("client_id", &client_id),
                            ("grant_type", "refresh_token"),
                            ("refresh_token", &current),
                        ],
                    )
                    .await;
                match reply.as_ref().map(flow::tokens) {
                    Ok(Ok((access, next))) => {
                        produced.push(access);
                        current = next;
                        true
                    }
                    _ => false,
                }
            });
            (lat, errors, produced)
        }
    })
    .await
}

/// Splits `items` into `c` slices, one per worker.
fn share(items: Vec<String>, c: usize) -> Arc<Vec<Vec<String>>> {
    let mut slices = vec![Vec::new(); c];
    for (i, item) in items.into_iter().enumerate() {
        slices[i % c].push(item);
    }
    Arc::new(slices)
}

/// authorization_code exchanges, each of a fresh code; produces the access tokens.
pub async fn exchange(
    addr: &str,
    c: usize,
    client_id: Arc<String>,
    codes: Vec<String>,
) -> anyhow::Result<Measured> {
    let slices = share(codes, c);
    run_workers(addr, c, move |i, mut conn| {
        let client_id = client_id.clone();
        let slices = slices.clone();
        async move {
            let (mut lat, mut errors, mut produced) = (Vec::new(), 0, Vec::new());
            for code in &slices[i] {
                let t = Instant::now();
                match flow::exchange(&mut conn, &client_id, code).await {
                    Ok((access, _)) => {
                        lat.push(micros(t));
                        produced.push(access);
                    }
                    Err(_) => errors += 1,
                }
            }
            (lat, errors, produced)
        }
    })
    .await
}

/// POST /oauth/revoke, each of a different live grant.
pub async fn revoke(
    addr: &str,
    c: usize,
    client_id: Arc<String>,
    tokens: Vec<String>,
) -> anyhow::Result<Measured> {
    let slices = share(tokens, c);
    run_workers(addr, c, move |i, mut conn| {
        let client_id = client_id.clone();
        let slices = slices.clone();
        async move {
            let (mut lat, mut errors) = (Vec::new(), 0);
            for token in &slices[i] {
                let t = Instant::now();
                let reply = conn
                    .post_form("/rest/v2/oauth/revoke", &[("client_id", &client_id), ("token", token)])
                    .await;
                let ok = matches!(reply.as_ref().map(|r| r.json()), Ok(Ok(v)) if v["successful"] == true);
                if ok {
                    lat.push(micros(t));
                } else {
                    errors += 1;
                }
            }
            (lat, errors, Vec::new())
        }
    })
    .await
}

/// The whole browser flow: authorize (consent page) → approve → exchange, per flow.
pub async fn browser_flow(
    addr: &str,
    c: usize,
    secs: f64,
    session: Arc<Session>,
) -> anyhow::Result<Measured> {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    run_workers(addr, c, move |_, mut conn| {
        let s = session.clone();
        async move {
            conn.cookie = Some(s.cookie.clone());
            let path = flow::authorize_path(&s.client_id);
            let (mut lat, mut errors) = (Vec::new(), 0);
            timed_loop!(deadline, lat, errors, {
                let ok = async {
                    let page = conn.get(&path, None).await?;
                    anyhow::ensure!(page.status == 200, "consent page {}", page.status);
                    let code = flow::approve(&mut conn, &s).await?;
                    flow::exchange(&mut conn, &s.client_id, &code).await
                };
                ok.await.is_ok()
            });
            (lat, errors, Vec::new())
        }
    })
    .await
}

/// Mints `n` codes through the consent form (setup, not measured), returned in the order the
/// server issued them. A client redeems its code moments after it is issued, so at any time
/// the codes being exchanged are ones issued together; returning them by minting worker
/// instead made each write of the exchange touch codes issued far apart.
pub async fn mint_codes(
    addr: &str,
    c: usize,
    n: usize,
    session: Arc<Session>,
) -> anyhow::Result<Vec<String>> {
    let per_worker = n.div_ceil(c);
    let issued = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let order = Arc::new(AtomicUsize::new(0));
    let collected = issued.clone();
    let m = run_workers(addr, c, move |i, mut conn| {
        let s = session.clone();
        let (issued, order) = (collected.clone(), order.clone());
        async move {
            conn.cookie = Some(s.cookie.clone());
            let mut errors = 0;
            for _ in 0..per_worker.min(n.saturating_sub(i * per_worker)) {
                match flow::approve(&mut conn, &s).await {
                    Ok(code) => {
                        let rank = order.fetch_add(1, Ordering::Relaxed);
                        issued.lock().expect("codes").push((rank, code));
                    }
                    Err(_) => errors += 1,
                }
            }
            (Vec::new(), errors, Vec::new())
        }
    })
    .await?;
    anyhow::ensure!(m.errors == 0, "{} codes could not be minted", m.errors);
    let mut codes = std::mem::take(&mut *issued.lock().expect("codes"));
    codes.sort_unstable_by_key(|(rank, _)| *rank);
    Ok(codes.into_iter().map(|(_, code)| code).collect())
}
