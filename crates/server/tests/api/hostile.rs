//! Hostile input: arbitrary bodies, headers and query strings against every endpoint of a live
//! server never produce a 500 or take it down. Bounded and deterministic (fixed seed); run more
//! cases with UCOAUTH_HOSTILE_CASES=N.

use proptest::{
    prelude::*,
    strategy::ValueTree,
    test_runner::{Config, TestRunner},
};
use reqwest::{Method, StatusCode};

use crate::helpers::*;

const ROUTES: [(&str, &str); 12] = [
    ("GET", "/rest/v2/oauth/authorize"),
    ("POST", "/rest/v2/oauth/authorize"),
    ("POST", "/rest/v2/oauth/token"),
    ("POST", "/rest/v2/oauth/revoke"),
    ("GET", "/rest/v2/oauth/me"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/"),
    ("GET", "/admin/v2/oauth/authorize"),
    ("PUT", "/rest/v2/oauth/token"),
    ("GET", "/rest/v2/nope"),
];

#[derive(Debug, Clone)]
struct Hostile {
    route: usize,
    query: String,
    body: Vec<u8>,
    content_type: Option<String>,
    authorization: Option<String>,
    cookie: Option<String>,
}

fn hostile(client_id: String) -> impl Strategy<Value = Hostile> {
    let text = prop_oneof![
        "[ -~]{0,80}",
        "(client_id|grant_type|code|token|state|redirect_uri|scope|csrf_token|decision|refresh_token|code_verifier|code_challenge|response_type)=[%+&=a-zA-Z0-9]{0,40}(&[a-z_]{1,12}=[^&]{0,30}){0,6}",
        Just(format!("client_id={client_id}&grant_type=authorization_code&code=x&redirect_uri=https%3A%2F%2Fapp.example%2Fcallback")),
        Just(format!("response_type=code&client_id={client_id}&state=%FF%FE&scope=%00")),
    ];
    (
        0..ROUTES.len(),
        text.clone(),
        prop_oneof![
            text.prop_map(String::into_bytes),
            proptest::collection::vec(any::<u8>(), 0..300),
        ],
        proptest::option::of(prop_oneof![
            Just("application/x-www-form-urlencoded".to_owned()),
            Just("application/x-www-form-urlencoded; charset=latin1".to_owned()),
            Just("application/json".to_owned()),
            "[ -~]{0,40}",
        ]),
        proptest::option::of(prop_oneof![
            "Basic [A-Za-z0-9+/=]{0,40}",
            "Bearer [ -~]{0,60}",
            "[ -~]{0,60}",
        ]),
        proptest::option::of("(ucoauth_session|ucoauth_login)=[ -~&&[^;]]{0,60}"),
    )
        .prop_map(
            |(route, query, body, content_type, authorization, cookie)| Hostile {
                route,
                query,
                body,
                content_type,
                authorization,
                cookie,
            },
        )
}

#[tokio::test]
async fn arbitrary_requests_to_every_endpoint_never_get_a_500() {
    // Rate limits off: after the first refusals they would answer everything with 429.
    let server = TestServer::start_with(|c| c.rate_limits.enabled = false).await;
    let (client_id, _) = server.app(|_| {}).await;
    let cases: usize = std::env::var("UCOAUTH_HOSTILE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    let strategy = hostile(client_id);
    let client = server.client();
    let mut sent = 0;
    for _ in 0..cases {
        let case = strategy.new_tree(&mut runner).unwrap().current();
        let (method, path) = ROUTES[case.route];
        let query: String = case
            .query
            .chars()
            .filter(|c| !c.is_control() && *c != '#' && *c != ' ')
            .collect();
        let url = format!("{}{path}?{query}", server.base);
        let mut req = client
            .request(Method::from_bytes(method.as_bytes()).unwrap(), &url)
            .body(case.body.clone());
        if let Some(ct) = &case.content_type {
            req = req.header("content-type", ct);
        }
        if let Some(a) = &case.authorization {
            req = req.header("authorization", a);
        }
        if let Some(c) = &case.cookie {
            req = req.header("cookie", c);
        }
        let Ok(response) = req.send().await else {
            // reqwest refused to build the request (e.g. an invalid header); nothing was sent.
            continue;
        };
        sent += 1;
        let status = response.status();
        assert!(
            status != StatusCode::INTERNAL_SERVER_ERROR && status.as_u16() < 500,
            "{status} for {method} {url} with {case:?}"
        );
        if status.is_client_error() {
            assert!(
                response.headers().contains_key("uc-rest-error"),
                "{status} without UC-REST-ERROR for {method} {url} with {case:?}"
            );
        }
    }
    assert!(
        sent * 10 >= cases * 9,
        "only {sent} of {cases} requests could be sent"
    );
    // Still alive and still correct afterwards.
    let r = server
        .client()
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}
