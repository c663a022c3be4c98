//! PostgreSQL: the common case of a refresh, a code redemption or a revocation in one statement.
//!
//! The general refresh (`grants::refresh`) is a transaction of eight round trips: `BEGIN`, lock
//! the grant, read, update, two inserts, the audit row, `COMMIT`; a code redemption is seven.
//! On PostgreSQL each round trip costs both processes a wake-up and a loopback exchange, and
//! those, not the rows, were most of the cost: with the benchmark's schema and `pgbench` as the
//! client, the eight statements of a refresh ran about 3 500 times a second on the 2-core
//! machine, the same work as one statement about 8 500 (docs/performance.md).
//!
//! So a refresh or redemption first tries one statement that does everything the general path
//! does when it issues tokens, and does it only if every condition under which the general path
//! issues holds in the rows it changes (`grant_batches::ROTATE_LIVE_BATCH` and
//! `REDEEM_VALID_BATCH`, which also run together the requests that arrive at the same time). If
//! a condition does not hold (unknown, expired or used credential, revoked grant, another
//! client, a redirect URI or PKCE verifier that does not match), the statement changes nothing
//! for that request and returns no row for it, and the general path runs as before and gives
//! the exact answer: an error, a grace retry, reuse or replay detection. The fast path can
//! therefore only say yes where the general path would have, with the same effects; it never
//! refuses. Requests whose conditions the statements do not express (a narrower scope, a
//! `plain` PKCE challenge, a redirect URI the profile requires but the client left out, a
//! malformed verifier) go straight to the general path.
//!
//! A client's revocation (RFC 7009) works the same way (`grant_batches::REVOKE_LIVE_BATCH`): one
//! statement revokes the grant behind a live token presented by its own client, with the
//! general path's audit row; an unknown, expired or used token, a grant already revoked or
//! another client's token leaves it to the general path, which gives the answer.
//!
//! SQLite does not need it: its writes run on the writer thread, statement by statement without
//! round trips, and it has no data-modifying `WITH`.

use super::{
    grant_batches::{Batched, Batches, Outcome},
    grants::{CodeRedemption, Issued, Refresh, TokenRevocation},
    GrantBatches, Store, StoreError,
};

impl Store {
    /// Runs `req` in its kind's batch on PostgreSQL (`queue` picks the kind): `Some` if the
    /// statement made the change (committed, durable), `None` if the general path must decide
    /// (always on SQLite).
    async fn write_at_once<R: Batched + Clone>(
        &self,
        queue: impl FnOnce(&GrantBatches) -> &Batches<R>,
        req: &R,
    ) -> Outcome<R::Out> {
        let Some(batches) = &self.batches else {
            return Ok(None);
        };
        self.timed("write", queue(batches).run(req.clone())).await
    }

    /// The fast path of a refresh: the rotation, if the statement made it.
    pub(crate) async fn rotate_live(&self, req: &Refresh) -> Result<Option<Issued>, StoreError> {
        self.write_at_once(|b| &b.refreshes, req).await
    }

    /// The fast path of a code redemption: the redemption, if the statement made it.
    pub(crate) async fn redeem_valid(
        &self,
        req: &CodeRedemption,
    ) -> Result<Option<Issued>, StoreError> {
        self.write_at_once(|b| &b.redemptions, req).await
    }

    /// The fast path of a client's revocation: the grant it revoked, if the statement did.
    pub(crate) async fn revoke_live(
        &self,
        req: &TokenRevocation,
    ) -> Result<Option<String>, StoreError> {
        self.write_at_once(|b| &b.revocations, req).await
    }
}

#[cfg(test)]
mod tests {
    use sqlx::{AnyConnection, Connection, Row};
    use ucoauth_testkit::{Backend, TestDatabase};

    use crate::store::grant_batches::{
        run_batch, AccessLookup, Outcome, FIND_ACCESS_BATCH, REDEEM_VALID_BATCH, REVOKE_LIVE_BATCH,
        ROTATE_LIVE_BATCH,
    };
    use crate::{
        domain::{audit::Origin, code::Presented, model::AccessGrant, pkce, scope::ScopeSet},
        store::{
            generic_plan,
            grants::{
                CodeRedemption, Issued, NewApproval, NewTokens, Refresh, RevokeOutcome,
                TokenRevocation,
            },
            Store, StoreOptions,
        },
    };

    const NOW: i64 = 1_000_000;
    const SCOPES: &str = "item_read order_read";
    const REDIRECT: &str = "https://app.example/callback";
    /// RFC 7636 appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K0uhbQvYl4VWDBwj5-tUXGlF7c";

    /// Grant `g`'s new access token is `[g + 200; 32]`, its new refresh token `[g + 100; 32]`.
    fn tokens_of(grant: u8) -> NewTokens {
        NewTokens {
            access_hash: [grant + 200; 32],
            refresh_hash: [grant + 100; 32],
            access_expires_at: NOW + 3_600_000,
            refresh_expires_at: NOW + 86_400_000,
        }
    }

    fn origin() -> Origin {
        Origin {
            client_ip: Some("192.0.2.7".into()),
            actor: None,
        }
    }

    /// A refresh of grant `g`'s token `[g; 32]`.
    fn refresh_of(grant: u8, client_id: &str, scope: Option<&str>) -> Refresh {
        Refresh {
            refresh_hash: [grant; 32],
            client_id: client_id.to_owned(),
            scope: scope.map(|s| ScopeSet::parse(s).unwrap()),
            now: NOW,
            grace_ms: 10_000,
            tokens: tokens_of(grant),
            origin: origin(),
        }
    }

    /// A redemption of grant `g`'s code `[g; 32]` by client A.
    fn redemption_of(
        grant: u8,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
    ) -> CodeRedemption {
        CodeRedemption {
            code_hash: [grant; 32],
            presented: Presented {
                client_id: "A".into(),
                redirect_uri: redirect_uri.map(str::to_owned),
                code_verifier: verifier.map(str::to_owned),
                require_redirect_uri: false,
            },
            now: NOW,
            tokens: tokens_of(grant),
            origin: origin(),
        }
    }

    fn hex(byte: u8) -> String {
        format!("{byte:02x}").repeat(32)
    }

    async fn exec(conn: &mut AnyConnection, sql: &str) {
        sqlx::query(sql).execute(&mut *conn).await.unwrap();
    }

    async fn count(conn: &mut AnyConnection, sql: &str) -> i64 {
        sqlx::query(sql).fetch_one(&mut *conn).await.unwrap().get(0)
    }

    /// A store on a fresh PostgreSQL schema with merchant M, applications A and B, and grants
    /// `g1`..=`gN` of A with [`SCOPES`] (`revoked` ones revoked, `of_b` ones B's), each without
    /// credentials; `None` when the PostgreSQL tests are skipped.
    async fn store_with_grants(
        n: u8,
        revoked: u8,
        of_b: u8,
    ) -> Option<(TestDatabase, Store, AnyConnection)> {
        let db = TestDatabase::create(Backend::Postgres).await?;
        let store = Store::open(&db.url, StoreOptions::default()).await.unwrap();
        let mut conn = store.pool().acquire().await.unwrap().detach();
        exec(
            &mut conn,
            "INSERT INTO merchants (merchant_id, name, created_at) VALUES ('M', 'M', 0)",
        )
        .await;
        for client in ["A", "B"] {
            exec(
                &mut conn,
                &format!(
                    "INSERT INTO applications (client_id, owner_merchant_id, name, description, \
                     developer_name, developer_email, developer_url, redirect_uris, scopes, \
                     require_secret, require_pkce, secret_hash, secret_hint, created_at, \
                     updated_at) VALUES ('{client}', 'M', '', '', '', '', '', '', '', 1, 0, \
                     '\\x00', '', 0, 0)"
                ),
            )
            .await;
        }
        for g in 1..=n {
            let client = if g == of_b { "B" } else { "A" };
            let revoked = if g == revoked { "1" } else { "NULL" };
            exec(
                &mut conn,
                &format!(
                    "INSERT INTO grants (grant_id, merchant_id, client_id, scopes, created_at, \
                     revoked_at) VALUES ('g{g}', 'M', '{client}', '{SCOPES}', 0, {revoked})"
                ),
            )
            .await;
        }
        Some((db, store, conn))
    }

    /// Counts that any write by a fast path would change.
    const TOTALS: &str = "SELECT (SELECT count(*) FROM access_tokens) * 1000000 \
        + (SELECT count(*) FROM refresh_tokens WHERE consumed_at IS NULL AND retired_at IS NULL) \
          * 10000 \
        + (SELECT count(*) FROM authorization_codes WHERE consumed_at IS NULL) * 100 \
        + (SELECT count(*) FROM audit_events)";

    /// Everything issuing tokens for grant `g` wrote, as text that two grants share when their
    /// effects are the same: the presented credential's new state, the new tokens, the audit
    /// row and the grant's "last used".
    async fn effects(conn: &mut AnyConnection, grant: u8) -> Vec<String> {
        let sql = format!(
            "SELECT 'presented refresh ' || coalesce(consumed_at::text, '-') || ' ' || \
                    coalesce(encode(successor_hash, 'hex'), '-') || ' ' || \
                    coalesce(retired_at::text, '-') \
             FROM refresh_tokens WHERE token_hash = '\\x{p}' \
             UNION ALL SELECT 'presented code ' || coalesce(consumed_at::text, '-') \
             FROM authorization_codes WHERE code_hash = '\\x{p}' \
             UNION ALL SELECT 'new refresh ' || created_at || ' ' || expires_at || ' ' || \
                    coalesce(consumed_at::text, '-') FROM refresh_tokens \
             WHERE token_hash = '\\x{r}' \
             UNION ALL SELECT 'access ' || scopes || ' ' || created_at || ' ' || expires_at \
             FROM access_tokens WHERE token_hash = '\\x{a}' \
             UNION ALL SELECT 'audit ' || at || ' ' || kind || ' ' || merchant_id || ' ' || \
                    client_id || ' ' || coalesce(user_id, '-') || ' ' || \
                    coalesce(client_ip, '-') || ' ' || coalesce(detail, '-') \
             FROM audit_events WHERE grant_id = 'g{grant}' \
             UNION ALL SELECT 'grant ' || coalesce(last_used_at::text, '-') || ' ' || \
                    coalesce(revoked_at::text, '-') FROM grants WHERE grant_id = 'g{grant}'",
            p = hex(grant),
            r = hex(grant + 100),
            a = hex(grant + 200),
        );
        let rows = sqlx::query(&sql).fetch_all(&mut *conn).await.unwrap();
        let mut lines: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        let successor = hex(grant + 100);
        for line in &mut lines {
            *line = line.replace(&successor, "SUCCESSOR");
        }
        lines.sort();
        lines
    }

    /// That the fast path's grant `g1` and the general path's `g2` got the same answer and the
    /// same rows.
    async fn assert_same_effects(conn: &mut AnyConnection, fast: &Issued, general: &Issued) {
        let ids = (fast.grant_id.as_str(), general.grant_id.as_str());
        assert_eq!(ids, ("g1", "g2"));
        assert_eq!(fast.merchant_id, general.merchant_id);
        assert_eq!(fast.scopes, general.scopes);
        let fast_rows = effects(conn, 1).await;
        assert_eq!(fast_rows.len(), 5, "{fast_rows:?}");
        assert_eq!(fast_rows, effects(conn, 2).await);
    }

    /// The grant each request of a batch got (or found), in order.
    fn grant_ids<T: HasGrant>(outcomes: Vec<Outcome<T>>) -> Vec<Option<String>> {
        outcomes
            .into_iter()
            .map(|o| o.unwrap().map(|t| t.grant_id().to_owned()))
            .collect()
    }

    trait HasGrant {
        fn grant_id(&self) -> &str;
    }

    impl HasGrant for Issued {
        fn grant_id(&self) -> &str {
            &self.grant_id
        }
    }

    /// A revocation's answer: the grant it revoked.
    impl HasGrant for String {
        fn grant_id(&self) -> &str {
            self
        }
    }

    impl HasGrant for AccessGrant {
        fn grant_id(&self) -> &str {
            &self.grant_id
        }
    }

    /// The one-statement refresh must rotate exactly when the general path would, and write
    /// the same rows when it does; in every other state it must leave the database untouched
    /// (the general path then answers).
    #[tokio::test]
    async fn rotates_only_live_tokens_and_writes_what_the_general_path_writes() {
        // Grants 1 and 2 live; 3 used (in the grace window, successor unused), 4 retired, 5
        // expired, 6 revoked, 7 another client's.
        let Some((_db, store, mut conn)) = store_with_grants(7, 6, 7).await else {
            return;
        };
        for g in 1..=7u8 {
            let (consumed, retired, expires, successor) = match g {
                3 => ("999000", "NULL", NOW + 1, format!("'\\x{}'", hex(33))),
                4 => ("NULL", "999000", NOW + 1, "NULL".into()),
                5 => ("NULL", "NULL", NOW, "NULL".into()),
                _ => ("NULL", "NULL", NOW + 1, "NULL".into()),
            };
            exec(
                &mut conn,
                &format!(
                    "INSERT INTO refresh_tokens (token_hash, grant_id, created_at, expires_at, \
                     consumed_at, retired_at, successor_hash) VALUES ('\\x{}', 'g{g}', 0, \
                     {expires}, {consumed}, {retired}, {successor})",
                    hex(g)
                ),
            )
            .await;
        }
        exec(
            &mut conn,
            &format!(
                "INSERT INTO refresh_tokens (token_hash, grant_id, created_at, expires_at) \
                 VALUES ('\\x{}', 'g3', 999000, {})",
                hex(33),
                NOW + 1
            ),
        )
        .await;

        let before = count(&mut conn, TOTALS).await;
        for g in [3, 4, 5, 6, 7, 9] {
            let done = store.rotate_live(&refresh_of(g, "A", None)).await.unwrap();
            assert!(
                done.is_none(),
                "grant {g}: the fast path rotated a token it must not"
            );
        }
        assert_eq!(
            count(&mut conn, TOTALS).await,
            before,
            "a refused fast path wrote"
        );

        // A scope (here the granted one) takes the general path; no scope, the fast one.
        let narrowing = refresh_of(2, "A", Some(SCOPES));
        assert!(store.rotate_live(&narrowing).await.unwrap().is_none());
        let general = store.refresh(narrowing).await.unwrap().unwrap();
        let fast = store.rotate_live(&refresh_of(1, "A", None)).await.unwrap();
        let fast = fast.expect("a live token rotates on the fast path");
        assert_same_effects(&mut conn, &fast, &general).await;

        // The rotated-out token is used now: a second fast attempt does nothing.
        let again = store.rotate_live(&refresh_of(1, "A", None)).await.unwrap();
        assert!(again.is_none());
        let _ = conn.close().await;
        store.close().await;
    }

    /// Refreshes batched into one statement are each judged alone: the live ones rotate, the
    /// others are left to the general path; a token presented twice in one batch rotates once,
    /// and its second presentation then gets what it would have got one after the other (here,
    /// the grace-window retry).
    #[tokio::test]
    async fn a_batch_rotates_each_live_token_once_and_leaves_the_rest_alone() {
        // 1, 2 live; 3 used in the grace window; 4 revoked; 5 another client's.
        let Some((_db, store, mut conn)) = store_with_grants(5, 4, 5).await else {
            return;
        };
        for g in 1..=5u8 {
            let consumed = if g == 3 { "999000" } else { "NULL" };
            exec(
                &mut conn,
                &format!(
                    "INSERT INTO refresh_tokens (token_hash, grant_id, created_at, expires_at, \
                     consumed_at) VALUES ('\\x{}', 'g{g}', 0, {}, {consumed})",
                    hex(g),
                    NOW + 1
                ),
            )
            .await;
        }
        let before = count(&mut conn, TOTALS).await;
        let mut twice = refresh_of(1, "A", None);
        twice.tokens = tokens_of(6);
        let reqs = [
            refresh_of(1, "A", None),
            refresh_of(3, "A", None),
            twice.clone(),
            refresh_of(4, "A", None),
            refresh_of(5, "A", None),
            refresh_of(2, "A", None),
            refresh_of(55, "A", None),
        ];
        let rotated = grant_ids(run_batch(store.pool(), &reqs.iter().collect::<Vec<_>>()).await);
        let g1 = rotated[0].is_some() as usize + rotated[2].is_some() as usize;
        assert_eq!(g1, 1, "grant 1's token rotated {g1} times: {rotated:?}");
        assert_eq!(rotated[5].as_deref(), Some("g2"), "{rotated:?}");
        for i in [1, 3, 4, 6] {
            assert_eq!(rotated[i], None, "item {i}: {rotated:?}");
        }
        // Two rotations: two access tokens, two live refresh tokens for two used, two events.
        assert_eq!(count(&mut conn, TOTALS).await, before + 2_000_000 + 2);

        // The general path answers the other presentation of token 1 as it would have after
        // the first: a retry within the grace window, with a fresh pair.
        let second = if rotated[0].is_some() {
            twice
        } else {
            refresh_of(1, "A", None)
        };
        let retried = store.refresh(second).await.unwrap();
        assert_eq!(retried.map(|i| i.grant_id).ok().as_deref(), Some("g1"));
        let _ = conn.close().await;
        store.close().await;
    }

    /// The same for codes: redeemed on the fast path exactly when `code::check` says `Redeem`,
    /// with the general path's effects; otherwise untouched.
    #[tokio::test]
    async fn redeems_only_valid_codes_and_writes_what_the_general_path_writes() {
        let Some((_db, store, mut conn)) = store_with_grants(11, 5, 6).await else {
            return;
        };
        let s256 = pkce::s256_challenge(VERIFIER);
        // (grant, expires_at, consumed_at, redirect_uri_explicit, challenge, method)
        let codes = [
            (1, NOW + 1, "NULL", 1, Some(s256.as_str()), "'S256'"),
            (2, NOW + 1, "NULL", 1, Some(VERIFIER), "'plain'"),
            (3, NOW + 1, "999000", 1, Some(s256.as_str()), "'S256'"),
            (4, NOW, "NULL", 1, Some(s256.as_str()), "'S256'"),
            (5, NOW + 1, "NULL", 1, Some(s256.as_str()), "'S256'"),
            (6, NOW + 1, "NULL", 1, Some(s256.as_str()), "'S256'"),
            (7, NOW + 1, "NULL", 1, Some(s256.as_str()), "'S256'"),
            (8, NOW + 1, "NULL", 1, None, "NULL"),
            (9, NOW + 1, "NULL", 0, None, "NULL"),
            (10, NOW + 1, "NULL", 0, None, "NULL"),
            (11, NOW + 1, "NULL", 0, Some(s256.as_str()), "'S256'"),
        ];
        for (g, expires, consumed, explicit, challenge, method) in codes {
            let challenge = challenge.map_or("NULL".into(), |c| format!("'{c}'"));
            exec(
                &mut conn,
                &format!(
                    "INSERT INTO authorization_codes (code_hash, grant_id, redirect_uri, \
                     redirect_uri_explicit, code_challenge, code_challenge_method, created_at, \
                     expires_at, consumed_at) VALUES ('\\x{}', 'g{g}', '{REDIRECT}', \
                     {explicit}, {challenge}, {method}, 0, {expires}, {consumed})",
                    hex(g)
                ),
            )
            .await;
        }

        let before = count(&mut conn, TOTALS).await;
        let wrong_verifier = "A".repeat(43);
        let refused = [
            ("used", redemption_of(3, Some(REDIRECT), Some(VERIFIER))),
            ("expired", redemption_of(4, Some(REDIRECT), Some(VERIFIER))),
            (
                "revoked grant",
                redemption_of(5, Some(REDIRECT), Some(VERIFIER)),
            ),
            (
                "another client's",
                redemption_of(6, Some(REDIRECT), Some(VERIFIER)),
            ),
            (
                "other redirect",
                redemption_of(7, Some("https://app.example/x"), Some(VERIFIER)),
            ),
            ("redirect left out", redemption_of(7, None, Some(VERIFIER))),
            (
                "wrong verifier",
                redemption_of(7, Some(REDIRECT), Some(&wrong_verifier)),
            ),
            (
                "malformed verifier",
                redemption_of(7, Some(REDIRECT), Some("short")),
            ),
            ("no verifier", redemption_of(7, Some(REDIRECT), None)),
            (
                "verifier, no challenge",
                redemption_of(8, Some(REDIRECT), Some(VERIFIER)),
            ),
            (
                "plain challenge",
                redemption_of(2, Some(REDIRECT), Some(VERIFIER)),
            ),
            (
                "unknown code",
                redemption_of(55, Some(REDIRECT), Some(VERIFIER)),
            ),
            ("no redirect, strict profile", {
                let mut r = redemption_of(9, None, None);
                r.presented.require_redirect_uri = true;
                r
            }),
        ];
        for (what, req) in &refused {
            let done = store.redeem_valid(req).await.unwrap();
            assert!(
                done.is_none(),
                "{what}: the fast path redeemed a code it must not"
            );
        }
        assert_eq!(
            count(&mut conn, TOTALS).await,
            before,
            "a refused fast path wrote"
        );

        // Codes the fast path redeems: a PKCE one with its redirect URI, and one without PKCE
        // whose authorize request named no redirect URI. The general path redeems code 2
        // (plain PKCE), with the same effects as code 1.
        let general = store
            .redeem_code(redemption_of(2, Some(REDIRECT), Some(VERIFIER)))
            .await
            .unwrap()
            .unwrap();
        let fast = store
            .redeem_valid(&redemption_of(1, Some(REDIRECT), Some(VERIFIER)))
            .await
            .unwrap()
            .expect("a valid code is redeemed on the fast path");
        assert_same_effects(&mut conn, &fast, &general).await;
        let fast = store
            .redeem_valid(&redemption_of(10, None, None))
            .await
            .unwrap();
        assert_eq!(fast.map(|i| i.grant_id).as_deref(), Some("g10"));
        assert_eq!(effects(&mut conn, 10).await.len(), 5);

        // Redeemed codes are used now: a second fast attempt does nothing.
        let again = store
            .redeem_valid(&redemption_of(1, Some(REDIRECT), Some(VERIFIER)))
            .await
            .unwrap();
        assert!(again.is_none());
        let _ = conn.close().await;
        store.close().await;
    }

    /// Code redemptions batched into one statement are each judged alone too: a code presented
    /// twice in one batch is redeemed once, and its second presentation is then the replay the
    /// general path refuses (revoking the grant), as one after the other.
    #[tokio::test]
    async fn a_batch_redeems_each_valid_code_once_and_leaves_the_rest_alone() {
        // 1, 2 valid (1 with PKCE); 3 with a challenge the verifier does not answer; 4 revoked.
        let Some((_db, store, mut conn)) = store_with_grants(4, 4, 0).await else {
            return;
        };
        let s256 = pkce::s256_challenge(VERIFIER);
        for g in 1..=4u8 {
            let challenge = match g {
                2 => "NULL".to_owned(),
                3 => format!("'{}'", pkce::s256_challenge(&"B".repeat(43))),
                _ => format!("'{s256}'"),
            };
            let method = if g == 2 { "NULL" } else { "'S256'" };
            exec(
                &mut conn,
                &format!(
                    "INSERT INTO authorization_codes (code_hash, grant_id, redirect_uri, \
                     redirect_uri_explicit, code_challenge, code_challenge_method, created_at, \
                     expires_at) VALUES ('\\x{}', 'g{g}', '{REDIRECT}', 1, {challenge}, \
                     {method}, 0, {})",
                    hex(g),
                    NOW + 1
                ),
            )
            .await;
        }
        let before = count(&mut conn, TOTALS).await;
        let mut twice = redemption_of(1, Some(REDIRECT), Some(VERIFIER));
        twice.tokens = tokens_of(6);
        let reqs = [
            redemption_of(1, Some(REDIRECT), Some(VERIFIER)),
            redemption_of(3, Some(REDIRECT), Some(VERIFIER)),
            twice.clone(),
            redemption_of(4, Some(REDIRECT), Some(VERIFIER)),
            redemption_of(2, Some(REDIRECT), None),
            redemption_of(55, Some(REDIRECT), None),
        ];
        let redeemed = grant_ids(run_batch(store.pool(), &reqs.iter().collect::<Vec<_>>()).await);
        let g1 = redeemed[0].is_some() as usize + redeemed[2].is_some() as usize;
        assert_eq!(g1, 1, "grant 1's code redeemed {g1} times: {redeemed:?}");
        assert_eq!(redeemed[4].as_deref(), Some("g2"), "{redeemed:?}");
        for i in [1, 3, 5] {
            assert_eq!(redeemed[i], None, "item {i}: {redeemed:?}");
        }
        // Two redemptions: two access and two refresh tokens, two codes used, two events.
        let after = before + 2_000_000 + 2 * 10_000 - 2 * 100 + 2;
        assert_eq!(count(&mut conn, TOTALS).await, after);

        // The other presentation of code 1 is a replay: refused, and grant 1 revoked.
        let second = if redeemed[0].is_some() {
            twice
        } else {
            redemption_of(1, Some(REDIRECT), Some(VERIFIER))
        };
        assert!(store.redeem_code(second).await.unwrap().is_err());
        let revoked =
            "SELECT count(*) FROM grants WHERE grant_id = 'g1' AND revoked_at IS NOT NULL";
        assert_eq!(count(&mut conn, revoked).await, 1);
        let _ = conn.close().await;
        store.close().await;
    }

    /// Access tokens looked up together are each found as a lone lookup finds them: live ones
    /// with their grant, merchant and application; expired, unknown ones, and those of a
    /// revoked grant or a deleted application, not at all; one asked twice, twice.
    #[tokio::test]
    async fn a_batch_of_lookups_finds_what_lone_lookups_find() {
        // 1, 2 live; 3 expired; 4 of a revoked grant; 5 of a deleted application (B's).
        let Some((_db, store, mut conn)) = store_with_grants(5, 4, 5).await else {
            return;
        };
        exec(
            &mut conn,
            "UPDATE applications SET deleted_at = 1 WHERE client_id = 'B'",
        )
        .await;
        for g in 1..=5u8 {
            let expires = if g == 3 { NOW } else { NOW + 1 };
            exec(
                &mut conn,
                &format!(
                    "INSERT INTO access_tokens (token_hash, grant_id, scopes, created_at, \
                     expires_at) VALUES ('\\x{}', 'g{g}', 'item_read', 7, {expires})",
                    hex(g)
                ),
            )
            .await;
        }
        let lookup = |g: u8| AccessLookup {
            hash: [g; 32],
            now: NOW,
        };
        let reqs = [
            lookup(1),
            lookup(3),
            lookup(4),
            lookup(2),
            lookup(5),
            lookup(55),
            lookup(1),
        ];
        let found = grant_ids(run_batch(store.pool(), &reqs.iter().collect::<Vec<_>>()).await);
        let expected = [Some("g1"), None, None, Some("g2"), None, None, Some("g1")];
        assert_eq!(found, expected.map(|g| g.map(str::to_owned)));
        let one = store.find_access(&[2; 32], NOW).await.unwrap().unwrap();
        assert_eq!(
            (one.merchant_name.as_str(), one.scopes.to_wire()),
            ("M", "item_read".into())
        );
        assert_eq!((one.issued_at, one.expires_at), (7, NOW + 1));
        let _ = conn.close().await;
        store.close().await;
    }

    /// A client's revocation of the grant behind token `[g; 32]` (as an access token) or
    /// `[g + 50; 32]` (as a refresh token).
    fn revocation_of(grant: u8, client_id: &str) -> TokenRevocation {
        TokenRevocation {
            access_hash: [grant; 32],
            refresh_hash: [grant + 50; 32],
            client_id: client_id.to_owned(),
            now: NOW,
            origin: origin(),
        }
    }

    /// Inserts grant `g`'s access token `[g; 32]` or its refresh token `[g + 50; 32]`.
    async fn insert_token(conn: &mut AnyConnection, grant: u8, refresh: bool, state: &str) {
        let sql = if refresh {
            let (expires, consumed, retired) = match state {
                "expired" => (NOW, "NULL", "NULL"),
                "used" => (NOW + 1, "999000", "NULL"),
                "retired" => (NOW + 1, "NULL", "999000"),
                _ => (NOW + 1, "NULL", "NULL"),
            };
            format!(
                "INSERT INTO refresh_tokens (token_hash, grant_id, created_at, expires_at, \
                 consumed_at, retired_at) VALUES ('\\x{}', 'g{grant}', 0, {expires}, \
                 {consumed}, {retired})",
                hex(grant + 50)
            )
        } else {
            let expires = if state == "expired" { NOW } else { NOW + 1 };
            format!(
                "INSERT INTO access_tokens (token_hash, grant_id, scopes, created_at, \
                 expires_at) VALUES ('\\x{}', 'g{grant}', 'item_read', 0, {expires})",
                hex(grant)
            )
        };
        exec(conn, &sql).await;
    }

    /// Revoked grants and audit events, in one number.
    const REVOCATIONS: &str = "SELECT \
        (SELECT count(*) FROM grants WHERE revoked_reason = 'client_request') * 1000 \
        + (SELECT count(*) FROM audit_events)";

    /// The one-statement revocation must revoke exactly when the general path would, and write
    /// the same rows when it does; otherwise it must change nothing (the general path answers).
    #[tokio::test]
    async fn revokes_only_live_grants_and_writes_what_the_general_path_writes() {
        // Live: 1, 2 (access tokens), 8 (a refresh token). Refused: 3 expired, 4 used, 5
        // retired, 6 revoked, 7 another client's, 9 an expired access token whose grant also
        // has a live refresh token (the access token decides).
        let Some((_db, store, mut conn)) = store_with_grants(9, 6, 7).await else {
            return;
        };
        for (g, refresh, state) in [
            (1, false, "live"),
            (2, false, "live"),
            (3, false, "expired"),
            (4, true, "used"),
            (5, true, "retired"),
            (6, false, "live"),
            (7, false, "live"),
            (8, true, "live"),
            (9, false, "expired"),
        ] {
            insert_token(&mut conn, g, refresh, state).await;
        }
        exec(
            &mut conn,
            &format!(
                "INSERT INTO refresh_tokens (token_hash, grant_id, created_at, expires_at) \
                 VALUES ('\\x{}', 'g9', 0, {})",
                hex(9 + 50),
                NOW + 1
            ),
        )
        .await;
        let before = count(&mut conn, REVOCATIONS).await;
        for g in [3, 4, 5, 6, 7, 9, 55] {
            let done = store.revoke_live(&revocation_of(g, "A")).await.unwrap();
            assert!(done.is_none(), "grant {g}: the fast path revoked");
        }
        assert_eq!(
            count(&mut conn, REVOCATIONS).await,
            before,
            "a refusal wrote"
        );

        let general = store.revoke_generally(revocation_of(2, "A")).await.unwrap();
        assert!(matches!(general, RevokeOutcome::Revoked { grant_id } if grant_id == "g2"));
        let fast = store.revoke_live(&revocation_of(1, "A")).await.unwrap();
        assert_eq!(fast.as_deref(), Some("g1"));
        let fast_rows = effects(&mut conn, 1).await;
        assert_eq!(fast_rows.len(), 2, "{fast_rows:?}");
        assert_eq!(fast_rows, effects(&mut conn, 2).await);
        let by_refresh = store.revoke_live(&revocation_of(8, "A")).await.unwrap();
        assert_eq!(by_refresh.as_deref(), Some("g8"));
        assert_eq!(count(&mut conn, REVOCATIONS).await, before + 3 * 1001);

        // Revoked now: a second fast attempt does nothing.
        assert!(store
            .revoke_live(&revocation_of(1, "A"))
            .await
            .unwrap()
            .is_none());
        let _ = conn.close().await;
        store.close().await;
    }

    /// Revocations batched into one statement are each judged alone: two tokens of one grant
    /// revoke it once, and the general path then finds it revoked, as one after the other.
    #[tokio::test]
    async fn a_batch_revokes_each_live_grant_once_and_leaves_the_rest_alone() {
        // 1 (both tokens), 2, 3 live; 4 revoked.
        let Some((_db, store, mut conn)) = store_with_grants(4, 4, 0).await else {
            return;
        };
        for g in 1..=4 {
            insert_token(&mut conn, g, false, "live").await;
        }
        insert_token(&mut conn, 1, true, "live").await;
        let before = count(&mut conn, REVOCATIONS).await;
        let mut by_refresh = revocation_of(1, "A");
        by_refresh.access_hash = [99; 32];
        let reqs = [
            revocation_of(1, "A"),
            revocation_of(3, "B"),
            by_refresh.clone(),
            revocation_of(4, "A"),
            revocation_of(2, "A"),
            revocation_of(55, "A"),
        ];
        let revoked = grant_ids(run_batch(store.pool(), &reqs.iter().collect::<Vec<_>>()).await);
        let g1 = revoked[0].is_some() as usize + revoked[2].is_some() as usize;
        assert_eq!(g1, 1, "grant 1 revoked {g1} times: {revoked:?}");
        assert_eq!(revoked[4].as_deref(), Some("g2"), "{revoked:?}");
        for i in [1, 3, 5] {
            assert_eq!(revoked[i], None, "item {i}: {revoked:?}");
        }
        assert_eq!(count(&mut conn, REVOCATIONS).await, before + 2 * 1001);

        let second = if revoked[0].is_some() {
            by_refresh
        } else {
            revocation_of(1, "A")
        };
        let outcome = store.revoke_generally(second).await.unwrap();
        assert_eq!(outcome, RevokeOutcome::NotLive);
        let _ = conn.close().await;
        store.close().await;
    }

    /// An approval of client A for grant `g{grant}`, code `[grant; 32]`.
    fn approval_of(grant: u8, challenge: Option<&str>) -> NewApproval {
        NewApproval {
            grant_id: format!("g{grant}"),
            merchant_id: "M".into(),
            client_id: "A".into(),
            user_id: "u1".into(),
            scopes: ScopeSet::parse(SCOPES).unwrap(),
            code_hash: [grant; 32],
            redirect_uri: REDIRECT.into(),
            redirect_uri_explicit: true,
            code_challenge: challenge.map(str::to_owned),
            code_challenge_method: challenge.map(|_| "S256"),
            now: NOW,
            code_expires_at: NOW + 60_000,
            origin: origin(),
        }
    }

    /// Everything an approval of grant `g` wrote, as text that two approvals share when their
    /// effects are the same.
    async fn approval_rows(conn: &mut AnyConnection, grant: u8) -> Vec<String> {
        let sql = format!(
            "SELECT 'grant ' || merchant_id || ' ' || client_id || ' ' || \
                    coalesce(user_id, '-') || ' ' || scopes || ' ' || created_at || ' ' || \
                    coalesce(last_used_at::text, '-') || ' ' || coalesce(revoked_at::text, '-') \
             FROM grants WHERE grant_id = 'g{grant}' \
             UNION ALL SELECT 'code ' || encode(code_hash, 'hex') || ' ' || redirect_uri || ' ' \
                    || redirect_uri_explicit || ' ' || coalesce(code_challenge, '-') || ' ' || \
                    coalesce(code_challenge_method, '-') || ' ' || created_at || ' ' || \
                    expires_at || ' ' || coalesce(consumed_at::text, '-') \
             FROM authorization_codes WHERE grant_id = 'g{grant}' \
             UNION ALL SELECT * FROM (SELECT 'audit ' || at || ' ' || kind || ' ' || \
                    merchant_id || ' ' || client_id || ' ' || coalesce(user_id, '-') || ' ' || \
                    coalesce(client_ip, '-') || ' ' || coalesce(detail, '-') \
                    FROM audit_events WHERE grant_id = 'g{grant}' ORDER BY event_id) a"
        );
        let rows = sqlx::query(&sql).fetch_all(&mut *conn).await.unwrap();
        let code = hex(grant);
        rows.iter()
            .map(|r| r.get::<String, _>(0).replace(&code, "CODE"))
            .collect()
    }

    /// On PostgreSQL an approval is one statement; it must write exactly what the general
    /// path writes, audit events in the same order, with and without PKCE.
    #[tokio::test]
    async fn an_approval_at_once_writes_what_the_general_path_writes() {
        let Some((_db, store, mut conn)) = store_with_grants(0, 0, 0).await else {
            return;
        };
        let s256 = pkce::s256_challenge(VERIFIER);
        for (at_once, general, challenge) in [(1, 2, Some(s256.as_str())), (3, 4, None)] {
            store
                .approve(approval_of(at_once, challenge))
                .await
                .unwrap();
            store
                .approve_generally(approval_of(general, challenge))
                .await
                .unwrap();
            let rows = approval_rows(&mut conn, at_once).await;
            assert_eq!(rows.len(), 4, "{rows:?}");
            let audit: Vec<&str> = rows
                .iter()
                .filter(|r| r.starts_with("audit"))
                .map(|r| r.as_str())
                .collect();
            assert!(
                audit[0].contains("consent.given") && audit[1].contains("code.issued"),
                "{audit:?}"
            );
            assert_eq!(rows, approval_rows(&mut conn, general).await);
        }
        let _ = conn.close().await;
        store.close().await;
    }

    /// PostgreSQL keeps a prepared statement's generic plan, and the first ones are made on a
    /// new database, before any statistics: the batch statements must still reach every row by its
    /// primary key, never by scanning a table (the first versions scanned `grants`: one joined
    /// it freely, one filtered it on `revoked_at IS NULL` while locking).
    #[tokio::test]
    async fn batch_statements_reach_their_rows_by_primary_key_in_plans_made_before_statistics() {
        let Some((_db, store, mut conn)) = store_with_grants(64, 0, 0).await else {
            return;
        };
        exec(&mut conn, "SET plan_cache_mode = force_generic_plan").await;
        for (name, sql, args) in [
            ("rotate", ROTATE_LIVE_BATCH, "'[]', 'k'"),
            ("redeem", REDEEM_VALID_BATCH, "'[]', 'k'"),
            ("lookup", FIND_ACCESS_BATCH, "'[]'"),
            ("revoke", REVOKE_LIVE_BATCH, "'[]', 'k'"),
        ] {
            let plan = generic_plan(&mut conn, name, sql, args).await;
            assert!(!plan.contains("Seq Scan"), "{name} scans a table:\n{plan}");
            // Looked up once per batch, not once per row of it.
            let materialized = name == "lookup" || plan.contains("CTE g");
            assert!(
                materialized,
                "{name}: the grants are not materialized:\n{plan}"
            );
            let mut grants = plan
                .lines()
                .filter(|l| l.contains(" on grants") && l.contains("Scan"))
                .peekable();
            assert!(
                grants.peek().is_some(),
                "{name}: no scan of grants:\n{plan}"
            );
            for line in grants {
                assert!(
                    line.contains("Index Scan using grants_pkey"),
                    "{name}: grants is not reached by its primary key:\n{plan}"
                );
            }
        }
        let _ = conn.close().await;
        store.close().await;
    }
}
