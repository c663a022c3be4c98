//! Three nodes sharing one PostgreSQL: any request may land on any node.

use reqwest::StatusCode;

use crate::harness::*;

/// Authorize on A, exchange on B, refresh on C, revoke on A: the tokens are refused by A and
/// by C (its token checks not kept in memory) at once, and by B (kept for the default second)
/// once that second has passed. The browser's sign-in and consent hop between nodes (no sticky
/// sessions).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_spread_over_three_nodes_and_a_revocation_seen_by_all() {
    bounded(async {
        let Some(mut d) = Deployment::new(Backend::Postgres).await else {
            return;
        };
        d.start_nodes(2, &[]).await;
        d.start_nodes(1, &["--access-cache-ms", "0"]).await;
        let (a, b, c) = (&d.nodes[0], &d.nodes[1], &d.nodes[2]);
        let browser = browser();
        let http = client();
        let params = authorize_params(&d.client_id, "xyz");

        // A: the authorize link sends the browser to sign in.
        let first = browser
            .get(format!("{}/oauth/authorize", a.api()))
            .query(&params)
            .send()
            .await
            .unwrap();
        assert_eq!(first.status(), StatusCode::TEMPORARY_REDIRECT);
        let login_path = location(&first);
        // B: the login page (its CSRF token is bound to a cookie B set).
        let page = browser
            .get(format!("{}{login_path}", b.base))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let nonce_cookie = page
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("ucoauth_login="))
            .and_then(|v| v.split(';').next())
            .unwrap()
            .to_owned();
        let login_form = hidden_fields(&page.text().await.unwrap());
        // C: the form POST. The same cookie with a forged CSRF token is refused there first
        // (from another client, so the browser keeps its cookie), which shows C checks the
        // token rather than skipping it.
        let mut forged = login_form.clone();
        forged.retain(|(n, _)| n != "csrf_token");
        forged.push(("csrf_token".into(), "forged".into()));
        forged.push(("login".into(), LOGIN.into()));
        forged.push(("password".into(), PASSWORD.into()));
        let refused = http
            .post(format!("{}/login", c.base))
            .header("cookie", &nonce_cookie)
            .form(&forged)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        let mut form = login_form.clone();
        form.push(("login".into(), LOGIN.into()));
        form.push(("password".into(), PASSWORD.into()));
        let signed_in = browser
            .post(format!("{}/login", c.base))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(
            signed_in.status(),
            StatusCode::SEE_OTHER,
            "sign-in on C with B's form\n{}",
            d.logs()
        );
        let return_to = location(&signed_in);
        // A: the consent page, for the session C created.
        let consent = browser
            .get(format!("{}{return_to}", a.base))
            .send()
            .await
            .unwrap();
        assert_eq!(consent.status(), StatusCode::OK);
        let consent_form = hidden_fields(&consent.text().await.unwrap());
        // B: a forged approval is refused, the real one redirects with a code.
        let mut forged: Vec<(String, String)> = consent_form
            .iter()
            .filter(|(n, _)| n != "csrf_token")
            .cloned()
            .collect();
        forged.push(("csrf_token".into(), "forged".into()));
        forged.push(("decision".into(), "approve".into()));
        let refused = browser
            .post(format!("{}/oauth/authorize", b.api()))
            .form(&forged)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        let mut approve = consent_form.clone();
        approve.push(("decision".into(), "approve".into()));
        let answer = browser
            .post(format!("{}/oauth/authorize", b.api()))
            .form(&approve)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::SEE_OTHER);
        let back = url::Url::parse(&location(&answer)).unwrap();
        assert_eq!(query_param(&back, "state").as_deref(), Some("xyz"));
        assert_eq!(query_param(&back, "iss").as_deref(), Some(PUBLIC_URL));
        let code = query_param(&back, "code").unwrap();

        // B: the exchange; C: the refresh.
        let first = exchange(&http, b, &d.client_id, &code).await.unwrap();
        let rotated = refresh(
            &http,
            c,
            &d.client_id,
            first["refresh_token"].as_str().unwrap(),
        )
        .await
        .unwrap();
        let access = rotated["access_token"].as_str().unwrap();
        let refresh_token = rotated["refresh_token"].as_str().unwrap();
        for node in [a, b, c] {
            assert_eq!(me(&http, node, access).await.unwrap(), "DEMO");
        }

        // A: revoke. A and C refuse the access token with the very next request; B, which
        // checked it less than a second ago, within the second (its documented bound).
        assert!(revoke(&http, a, &d.client_id, access).await);
        let revoked_at = std::time::Instant::now();
        for node in [a, c] {
            let refused = me(&http, node, access).await.unwrap_err();
            assert_eq!(refused.status, Some(StatusCode::UNAUTHORIZED));
        }
        tokio::time::sleep_until((revoked_at + std::time::Duration::from_secs(1)).into()).await;
        let refused = me(&http, b, access).await.unwrap_err();
        assert_eq!(refused.status, Some(StatusCode::UNAUTHORIZED));
        let refused = refresh(&http, b, &d.client_id, refresh_token)
            .await
            .unwrap_err();
        assert_eq!(refused.status, Some(StatusCode::BAD_REQUEST));
        assert!(refused.body.contains("invalid_grant"), "{}", refused.body);
        // The code is spent everywhere.
        let again = exchange(&http, c, &d.client_id, &code).await.unwrap_err();
        assert_eq!(again.status, Some(StatusCode::BAD_REQUEST));
        for node in [a, b, c] {
            assert_eq!(readyz(&http, node).await, Some(StatusCode::OK));
        }
    })
    .await;
}
