//! Concurrent requests for one credential: the database decides, never a node. On SQLite one
//! node; on PostgreSQL three, with the requests spread over them round-robin.

use std::{sync::Arc, time::Instant};

use reqwest::StatusCode;
use sqlx::Row;
use tokio::{sync::Semaphore, task::JoinSet};
use ucoauth_server::domain::secret::Purpose;

use crate::harness::*;

on_both_backends!(one_code_redeemed_100_times_at_once_gives_one_token_response);
on_both_backends!(one_refresh_token_used_50_times_at_once_leaves_at_most_one_live_family);
on_both_backends!(a_thousand_flows_of_different_merchants_all_succeed);

async fn one_code_redeemed_100_times_at_once_gives_one_token_response(backend: Backend) {
    let Some(mut d) = Deployment::new(backend).await else {
        return;
    };
    d.start_nodes(node_count(backend), &[]).await;
    let d = Arc::new(d);
    let http = client();
    let session = d.session_for(&d.user_id).await;
    let code = code_with_session(&http, &d.nodes[0], &d.nodes[0], &d.client_id, &session)
        .await
        .unwrap();

    let mut tasks = JoinSet::new();
    for i in 0..100 {
        let (d, http, code) = (d.clone(), http.clone(), code.clone());
        tasks.spawn(async move {
            let node = &d.nodes[i % d.nodes.len()];
            exchange(&http, node, &d.client_id, &code).await
        });
    }
    let mut issued = Vec::new();
    let mut refused = Vec::new();
    while let Some(outcome) = tasks.join_next().await {
        match outcome.unwrap() {
            Ok(body) => issued.push(body),
            Err(refusal) => refused.push(refusal),
        }
    }
    assert_eq!(issued.len(), 1, "exactly one token response\n{}", d.logs());
    assert_eq!(refused.len(), 99);
    for r in &refused {
        assert_eq!(r.status, Some(StatusCode::BAD_REQUEST), "{r:?}");
        assert!(r.body.contains("\"invalid_grant\""), "{r:?}");
    }
    // Every losing redemption is a replay, and a replay revokes what the code gave (RFC 6749
    // §4.1.2): the one token pair is dead too, on every node.
    let access = issued[0]["access_token"].as_str().unwrap();
    for node in &d.nodes {
        let r = me(&http, node, access).await.unwrap_err();
        assert_eq!(r.status, Some(StatusCode::UNAUTHORIZED));
    }
    let grants: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM access_tokens")
        .fetch_one(d.store.pool())
        .await
        .unwrap();
    assert_eq!(grants, 1, "one access token row for one code");
}

async fn one_refresh_token_used_50_times_at_once_leaves_at_most_one_live_family(backend: Backend) {
    let Some(mut d) = Deployment::new(backend).await else {
        return;
    };
    d.start_nodes(node_count(backend), &[]).await;
    let d = Arc::new(d);
    let http = client();
    let session = d.session_for(&d.user_id).await;
    let code = code_with_session(&http, &d.nodes[0], &d.nodes[0], &d.client_id, &session)
        .await
        .unwrap();
    let first = exchange(&http, &d.nodes[0], &d.client_id, &code)
        .await
        .unwrap();
    let presented = first["refresh_token"].as_str().unwrap().to_owned();

    let mut tasks = JoinSet::new();
    for i in 0..50 {
        let (d, http, presented) = (d.clone(), http.clone(), presented.clone());
        tasks.spawn(async move {
            let node = &d.nodes[i % d.nodes.len()];
            refresh(&http, node, &d.client_id, &presented).await
        });
    }
    let mut issued = Vec::new();
    while let Some(outcome) = tasks.join_next().await {
        match outcome.unwrap() {
            Ok(body) => issued.push(body),
            // The only acceptable refusal: the token was already used (reuse or a lost race
            // decided against this request), never a server fault.
            Err(r) => {
                assert_eq!(
                    r.status,
                    Some(StatusCode::BAD_REQUEST),
                    "{r:?}\n{}",
                    d.logs()
                );
                assert!(r.body.contains("\"invalid_grant\""), "{r:?}");
            }
        }
    }
    assert!(!issued.is_empty(), "at least one refresh succeeds");

    // The family: the grant behind the token. At most one of its refresh tokens is live, and
    // if one is, it is one that was handed out in a 200.
    let live: Vec<Vec<u8>> = sqlx::query(
        "SELECT r.token_hash FROM refresh_tokens r JOIN grants g ON g.grant_id = r.grant_id \
         WHERE g.revoked_at IS NULL AND r.consumed_at IS NULL AND r.retired_at IS NULL",
    )
    .fetch_all(d.store.pool())
    .await
    .unwrap()
    .iter()
    .map(|row| row.get(0))
    .collect();
    assert!(live.len() <= 1, "{} live refresh tokens", live.len());
    let issued_refresh: Vec<&str> = issued
        .iter()
        .map(|b| b["refresh_token"].as_str().unwrap())
        .collect();
    let live_issued: Vec<&&str> = issued_refresh
        .iter()
        .filter(|t| live.contains(&d.pepper.digest(Purpose::RefreshToken, t).to_vec()))
        .collect();
    assert_eq!(live_issued.len(), live.len());
    if let Some(token) = live_issued.first() {
        // The survivor works, on any node; every other one is dead.
        let next = refresh(&http, d.nodes.last().unwrap(), &d.client_id, token).await;
        assert!(next.is_ok(), "{next:?}");
    }
    println!(
        "{}: 50 concurrent refreshes -> {} x 200, {} live refresh token(s)",
        backend.name(),
        issued.len(),
        live.len()
    );
}

async fn a_thousand_flows_of_different_merchants_all_succeed(backend: Backend) {
    const FLOWS: usize = 1000;
    const IN_FLIGHT: usize = 50;
    let Some(mut d) = Deployment::new(backend).await else {
        return;
    };
    let seeding = Instant::now();
    let merchants = d.seed_merchants(FLOWS).await;
    let seeded_in = seeding.elapsed();
    d.start_nodes(node_count(backend), &[]).await;
    let d = Arc::new(d);
    let http = client();
    let gate = Arc::new(Semaphore::new(IN_FLIGHT));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for (i, (merchant_id, session)) in merchants.into_iter().enumerate() {
        let (d, http, gate) = (d.clone(), http.clone(), gate.clone());
        tasks.spawn(async move {
            let _slot = gate.acquire_owned().await.unwrap();
            let n = d.nodes.len();
            // Each step on the next node.
            let (page, post, token, check) = (
                &d.nodes[i % n],
                &d.nodes[(i + 1) % n],
                &d.nodes[(i + 2) % n],
                &d.nodes[(i + 3) % n],
            );
            let code = code_with_session(&http, page, post, &d.client_id, &session).await?;
            let body = exchange(&http, token, &d.client_id, &code).await?;
            assert_eq!(body["merchant_id"], merchant_id.as_str());
            let whose = me(&http, check, body["access_token"].as_str().unwrap()).await?;
            assert_eq!(whose, merchant_id);
            Ok::<_, Refusal>(())
        });
    }
    let mut failures = Vec::new();
    while let Some(outcome) = tasks.join_next().await {
        if let Err(refusal) = outcome.unwrap() {
            failures.push(refusal);
        }
    }
    let elapsed = started.elapsed();
    assert!(
        failures.is_empty(),
        "{} of {FLOWS} flows failed, e.g. {:?}\n{}",
        failures.len(),
        failures.first(),
        d.logs()
    );
    let tokens: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT g.merchant_id) FROM grants g JOIN access_tokens a ON a.grant_id = g.grant_id")
        .fetch_one(d.store.pool())
        .await
        .unwrap();
    assert_eq!(tokens, FLOWS as i64);
    println!(
        "{}: {FLOWS} flows ({IN_FLIGHT} in flight, {} node(s)) in {:.1} s = {:.0} flows/s; seeding {:.1} s",
        backend.name(),
        d.nodes.len(),
        elapsed.as_secs_f64(),
        FLOWS as f64 / elapsed.as_secs_f64(),
        seeded_in.as_secs_f64()
    );
}
