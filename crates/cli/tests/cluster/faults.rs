//! Faults under load: a node killed with SIGKILL, PostgreSQL restarted.

use std::{
    collections::HashSet,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use reqwest::{Client, StatusCode};
use tokio::task::JoinSet;

use crate::harness::*;

on_both_backends!(every_token_answered_200_survives_a_kill_9_of_a_node_under_load);

/// What the load has been handed out, and what went wrong.
#[derive(Default)]
struct Ledger {
    /// Access tokens that came back in a 200.
    access: Vec<String>,
    /// Refresh tokens that came back in a 200 and were never sent back since.
    unused_refresh: HashSet<String>,
    refusals: Vec<Refusal>,
    successes: usize,
}

/// `workers` browsers each running flows (consent → exchange → refresh → me) in a loop over
/// the nodes, until `stop` is set.
fn start_load(
    d: &Arc<Deployment>,
    sessions: Vec<String>,
    stop: &Arc<AtomicBool>,
    ledger: &Arc<Mutex<Ledger>>,
) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    for (w, session) in sessions.into_iter().enumerate() {
        let (d, stop, ledger) = (d.clone(), stop.clone(), ledger.clone());
        tasks.spawn(async move {
            let http = client();
            let mut round = w;
            while !stop.load(Ordering::Relaxed) {
                round += 1;
                if let Err(r) = one_flow(&d, &http, &session, round, &ledger).await {
                    ledger.lock().unwrap().refusals.push(r);
                    // Do not spin on a node that is down.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        });
    }
    tasks
}

async fn one_flow(
    d: &Deployment,
    http: &Client,
    session: &str,
    round: usize,
    ledger: &Mutex<Ledger>,
) -> Result<(), Refusal> {
    let n = d.nodes.len();
    let node = |k: usize| &d.nodes[(round + k) % n];
    let code = code_with_session(http, node(0), node(1), &d.client_id, session).await?;
    let first = exchange(http, node(1), &d.client_id, &code).await?;
    let (access, refresh_token) = tokens_of(&first);
    {
        let mut l = ledger.lock().unwrap();
        l.access.push(access.clone());
        l.unused_refresh.insert(refresh_token.clone());
        l.successes += 1;
    }
    // Sent back: from now on its fate depends on whether this request got through.
    ledger.lock().unwrap().unused_refresh.remove(&refresh_token);
    let second = refresh(http, node(2), &d.client_id, &refresh_token).await?;
    let (access2, refresh2) = tokens_of(&second);
    {
        let mut l = ledger.lock().unwrap();
        l.access.push(access2.clone());
        l.unused_refresh.insert(refresh2);
        l.successes += 1;
    }
    me(http, node(0), &access2).await?;
    Ok(())
}

fn tokens_of(body: &serde_json::Value) -> (String, String) {
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

async fn every_token_answered_200_survives_a_kill_9_of_a_node_under_load(backend: Backend) {
    let Some(mut d) = Deployment::new(backend).await else {
        return;
    };
    d.start_nodes(node_count(backend), &[]).await;
    let mut sessions = Vec::new();
    for _ in 0..16 {
        sessions.push(d.session_for(&d.user_id).await);
    }
    let d = Arc::new(d);
    let stop = Arc::new(AtomicBool::new(false));
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let started = Instant::now();
    let mut load = start_load(&d, sessions, &stop, &ledger);
    let warmed = eventually(Duration::from_secs(30), || async {
        ledger.lock().unwrap().successes >= 60
    })
    .await;
    assert!(warmed.is_some(), "the load did not get going");
    let status = std::process::Command::new("kill")
        .args(["-9", &d.nodes[0].pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let killed_after = started.elapsed();
    // Keep the load on the survivors (PostgreSQL) for a moment, then stop it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    while load.join_next().await.is_some() {}

    let mut d = Arc::try_unwrap(d)
        .ok()
        .expect("the load has finished with the deployment");
    d.kill_node(0).await; // reaps the process killed above
    d.restart_node(0).await;
    let (access, unused_refresh, refusals) = {
        let l = ledger.lock().unwrap();
        (
            l.access.clone(),
            l.unused_refresh.iter().cloned().collect::<Vec<_>>(),
            l.refusals.len(),
        )
    };
    let http = client();
    let checking = Instant::now();
    for (i, token) in access.iter().enumerate() {
        let node = &d.nodes[i % d.nodes.len()];
        match me(&http, node, token).await {
            Ok(whose) => assert_eq!(whose, "DEMO"),
            Err(r) => panic!(
                "an access token answered with 200 before the kill no longer works: {r:?}\n{}",
                d.logs()
            ),
        }
    }
    for (i, token) in unused_refresh.iter().enumerate() {
        let node = &d.nodes[i % d.nodes.len()];
        let next = refresh(&http, node, &d.client_id, token).await;
        assert!(
            next.is_ok(),
            "a refresh token answered with 200 before the kill no longer works: {next:?}"
        );
    }
    println!(
        "{}: killed node 0 of {} under load {:.1} s after the load started; {} access and {} \
         refresh tokens answered 200 all work after restart (checked in {:.1} s); {refusals} \
         requests failed around the kill",
        backend.name(),
        d.nodes.len(),
        killed_after.as_secs_f64(),
        access.len(),
        unused_refresh.len(),
        checking.elapsed().as_secs_f64(),
    );
}

/// PostgreSQL stopped under load: the nodes answer 503 `ErrorResponse` with `Retry-After` and
/// `/readyz` says 503 while it is down; after it comes back they recover without a restart,
/// and nothing answered 200 before is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_load_nodes_answer_503_then_recover_by_themselves() {
    bounded(async {
        let Some(mut d) = Deployment::on_private_cluster().await else {
            return;
        };
        // Requests give up on the database after one second instead of five.
        d.start_nodes(2, &["--db-acquire-timeout-ms", "1000"]).await;
        let http = client();
        let mut sessions = Vec::new();
        for _ in 0..8 {
            sessions.push(d.session_for(&d.user_id).await);
        }
        let d = Arc::new(d);
        let stop = Arc::new(AtomicBool::new(false));
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let mut load = start_load(&d, sessions, &stop, &ledger);
        let warmed = eventually(Duration::from_secs(30), || async {
            ledger.lock().unwrap().successes >= 40
        })
        .await;
        assert!(warmed.is_some(), "the load did not get going");
        let before = ledger.lock().unwrap().access.clone();

        let cluster = d.cluster.clone().unwrap();
        let stopping = cluster.clone();
        tokio::task::spawn_blocking(move || stopping.stop("fast"))
            .await
            .unwrap();
        let down_at = Instant::now();
        // While it is down: every node says 503 on /readyz and on the API.
        let unready = eventually(Duration::from_secs(10), || async {
            let mut all = true;
            for node in &d.nodes {
                all &= readyz(&http, node).await == Some(StatusCode::SERVICE_UNAVAILABLE);
            }
            all
        })
        .await;
        assert!(unready.is_some(), "/readyz did not turn 503");
        // One probe takes about the acquire timeout (1 s here) to give up on the database.
        let probing = Instant::now();
        assert_eq!(
            readyz(&http, &d.nodes[0]).await,
            Some(StatusCode::SERVICE_UNAVAILABLE)
        );
        let probe = probing.elapsed();
        for node in &d.nodes {
            let r = me(&http, node, &before[0]).await.unwrap_err();
            assert!(r.is_shaped_503(), "{r:?}");
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let downtime = down_at.elapsed();
        let starting = cluster.clone();
        tokio::task::spawn_blocking(move || starting.start_again())
            .await
            .unwrap();
        let recovered = eventually(Duration::from_secs(30), || async {
            let mut all = true;
            for node in &d.nodes {
                all &= readyz(&http, node).await == Some(StatusCode::OK);
            }
            all
        })
        .await
        .expect("the nodes did not recover within 30 s of PostgreSQL coming back");
        let successes_at_up = ledger.lock().unwrap().successes;
        let flowing = eventually(Duration::from_secs(30), || async {
            ledger.lock().unwrap().successes >= successes_at_up + 20
        })
        .await;
        assert!(flowing.is_some(), "the load did not resume\n{}", d.logs());
        stop.store(true, Ordering::Relaxed);
        while load.join_next().await.is_some() {}

        let (refusals, issued) = {
            let l = ledger.lock().unwrap();
            (l.refusals.clone(), l.access.len())
        };
        let mut shaped = 0;
        for r in &refusals {
            assert!(
                r.is_shaped_503(),
                "while PostgreSQL was down a request got something other than a 503 \
                 ErrorResponse with Retry-After: {r:?}"
            );
            shaped += 1;
        }
        assert!(shaped > 0, "the load never saw the database down");
        for (i, token) in before.iter().enumerate() {
            let node = &d.nodes[i % d.nodes.len()];
            assert_eq!(me(&http, node, token).await.unwrap(), "DEMO");
        }
        println!(
            "postgres restart: down {:.1} s; {shaped} requests answered 503 + Retry-After; \
             a /readyz probe answers 503 in {:.2} s; all nodes ready {:.2} s after PostgreSQL \
             was back; \
             {} tokens answered 200 in total, the {} issued before the stop still work",
            downtime.as_secs_f64(),
            probe.as_secs_f64(),
            recovered.as_secs_f64(),
            issued,
            before.len(),
        );
    })
    .await;
}

/// `--db-max-connections` caps the node's connections, and `--db-statement-timeout-ms` cancels
/// a statement stuck behind a lock: the request gets 503 + Retry-After instead of hanging, and
/// the same request succeeds once the lock is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_size_and_statement_timeout_are_honoured() {
    bounded(async {
        // A private cluster, so the connection count below is this node's alone.
        let Some(mut d) = Deployment::on_private_cluster().await else {
            return;
        };
        let http = client();
        let session = d.session_for(&d.user_id).await;
        d.start_nodes(
            1,
            &[
                "--db-max-connections",
                "2",
                "--db-statement-timeout-ms",
                "300",
            ],
        )
        .await;
        let node = &d.nodes[0];
        let code = code_with_session(&http, node, node, &d.client_id, &session)
            .await
            .unwrap();
        let tokens = exchange(&http, node, &d.client_id, &code).await.unwrap();
        let access = tokens["access_token"].as_str().unwrap().to_owned();
        let refresh_token = tokens["refresh_token"].as_str().unwrap();

        // 40 requests at once through a pool of 2.
        let mut tasks = JoinSet::new();
        for _ in 0..40 {
            let (http, base, access) = (http.clone(), node.api(), access.clone());
            tasks.spawn(async move {
                http.get(format!("{base}/oauth/me"))
                    .bearer_auth(access)
                    .send()
                    .await
                    .map(|r| r.status())
            });
        }
        while let Some(status) = tasks.join_next().await {
            assert_eq!(status.unwrap().unwrap(), StatusCode::OK);
        }
        let cluster = d.cluster.clone().unwrap();
        let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&cluster.admin_url())
            .await
            .unwrap();
        // The test's own store uses the same application name; close it first. Its backend
        // leaves pg_stat_activity a moment after the client hangs up, so count until it has
        // gone (at most 5 s); the node's own connections stay open (idle in its pool), so an
        // excess of them would still show.
        d.store.close().await;
        let mut connections = 0_i64;
        for _ in 0..50 {
            connections = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'ucoauth'",
            )
            .fetch_one(&mut admin)
            .await
            .unwrap();
            if connections <= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            (1..=2).contains(&connections),
            "{connections} connections from a node limited to 2"
        );

        // Hold the grant's row lock from another session; the refresh waits for it and is
        // cancelled after 300 ms.
        let mut locker = <sqlx::PgConnection as sqlx::Connection>::connect(&d.db.url)
            .await
            .unwrap();
        sqlx::query("BEGIN").execute(&mut locker).await.unwrap();
        sqlx::query("SELECT grant_id FROM grants FOR UPDATE")
            .execute(&mut locker)
            .await
            .unwrap();
        let asked = Instant::now();
        let r = refresh(&http, node, &d.client_id, refresh_token)
            .await
            .unwrap_err();
        let waited = asked.elapsed();
        assert!(r.is_shaped_503(), "{r:?}");
        assert!(
            waited < Duration::from_secs(3),
            "the refresh waited {waited:?}"
        );
        sqlx::query("ROLLBACK").execute(&mut locker).await.unwrap();
        // Nothing was changed by the cancelled attempt: the same token still refreshes.
        let next = refresh(&http, node, &d.client_id, refresh_token).await;
        assert!(next.is_ok(), "{next:?}\n{}", d.logs());
        println!(
            "pool of 2: {connections} connection(s) after 40 concurrent requests; a refresh \
             behind a held lock answered 503 after {} ms (statement timeout 300 ms)",
            waited.as_millis()
        );
    })
    .await;
}
