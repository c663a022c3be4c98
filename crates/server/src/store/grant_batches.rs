//! PostgreSQL: refreshes, code redemptions, revocations and access-token lookups that arrive
//! together run as one statement (group commit, for reads too).
//!
//! The fast paths of `one_statement` are one statement per grant, but on PostgreSQL most of a
//! statement's cost does not depend on its rows: the wake-ups and loopback exchange of a round
//! trip, starting the executor, and for a write the commit's WAL flush. So the requests of one
//! kind waiting at any moment go into one statement together. For each kind, a few tasks take
//! turns at a queue: each takes whatever is waiting (up to [`MAX_BATCH`]), runs it, and answers
//! each request; while they run, the next requests gather for the next one. With nothing else
//! waiting, a batch is one request and nothing waits for company.
//!
//! Each request in a batch is judged alone. A write issues only under the conditions under
//! which its general path issues (see each statement); one they refuse gets no row and goes to
//! the general path, as does every request of a batch that PostgreSQL refused (it changed
//! nothing: one statement is one transaction). A lookup finds what a lone lookup finds.

use std::sync::Arc;

use serde::Serialize;
use sqlx::{any::AnyRow, AnyPool, Row};
use tokio::sync::{mpsc, oneshot, Mutex};

use super::{
    grants::{
        live_grant_from_row, parse_scopes, revocation_event, CodeRedemption, Issued, Refresh,
        RevokeReason, TokenRevocation,
    },
    StoreError,
};
use crate::{
    clock::Millis,
    domain::{audit::AuditKind, model::AccessGrant, pkce, secret::Digest},
};

/// Most requests in one statement.
pub(crate) const MAX_BATCH: usize = 32;

/// The end of every batch statement that issues tokens: from `u`, the rows that passed (with
/// `k`, `now`, `access`, `access_expires`, `refresh`, `refresh_expires`, `client_ip` and the
/// grant's `grant_id`, `merchant_id`, `client_id`, `scopes`), insert the access and refresh
/// tokens and the audit event (`$2` its kind), and answer `grant_id, merchant_id, scopes, k`.
macro_rules! issue_tokens_to_u {
    () => {
        "a AS ( \
    INSERT INTO access_tokens (token_hash, grant_id, scopes, created_at, expires_at) \
    SELECT decode(access, 'hex'), grant_id, scopes, now, access_expires FROM u \
), n AS ( \
    INSERT INTO refresh_tokens (token_hash, grant_id, created_at, expires_at) \
    SELECT decode(refresh, 'hex'), grant_id, now, refresh_expires FROM u \
), e AS ( \
    INSERT INTO audit_events (at, kind, merchant_id, client_id, grant_id, client_ip) \
    SELECT now, $2, merchant_id, client_id, grant_id, client_ip FROM u \
) \
SELECT grant_id, merchant_id, scopes, k FROM u"
    };
}

/// Rotates every live refresh token of a batch: `$1` the batch as a JSON array of
/// [`RefreshItem`]s, `$2` the audit kind. Returns, for each item it rotated, the grant,
/// merchant and scopes, and the item's `k`; nothing for the others.
///
/// Per item, the conditions are those under which `domain::refresh::decide` says `Rotate` and
/// the general path issues: the token is neither consumed nor retired nor expired, its grant is
/// not revoked and belongs to the item's client. The grants' rows are locked (`FOR NO KEY
/// UPDATE`, as the general path's `lock_grant_of_refresh_token`), in `grant_id` order so that
/// two batches never wait on each other crosswise, and refreshes and revocations of one grant
/// still queue; a refresh that waited re-checks its conditions on the rows the other committed
/// (the lock returns the grant's newest version, and READ COMMITTED re-evaluates an `UPDATE`'s
/// conditions on the token's), so a token consumed meanwhile is left alone and the general
/// path finds the reuse. A token presented twice in one batch is updated once; the other item
/// gets no row and the general path then sees it used, as it would have one after the other.
/// The access token takes the grant's stored scopes, which the store always writes in the form
/// `ScopeSet::to_wire` gives, as the general path does; the `INSERT` into `access_tokens` fires
/// the trigger that keeps the grant's `last_used_at`.
///
/// Every table is reached by primary key whatever the statistics (see the plan test in
/// `one_statement`): rows through lateral lookups (`OFFSET 0` keeps the planner from turning
/// them into a join it could plan as a scan) or `= ANY(ARRAY(...))`. The grants' revocation is
/// filtered after they are read, not in the lookup: plans made before statistics take
/// `revoked_at IS NULL` for rare and walk every live grant through its index instead. The
/// grants are looked up once per batch (`MATERIALIZED`): inlined into the `UPDATE`'s join,
/// they were looked up again for every row of the batch (30 × 30 lookups for 30 codes).
pub(crate) const ROTATE_LIVE_BATCH: &str = concat!(
    "\
WITH p AS ( \
    SELECT * FROM json_to_recordset($1::json) AS p(k int, presented text, client_id text, \
        now bigint, refresh text, access text, access_expires bigint, \
        refresh_expires bigint, client_ip text) \
), f AS ( \
    SELECT p.*, decode(p.presented, 'hex') AS presented_hash, t.grant_id \
    FROM p, LATERAL (SELECT grant_id FROM refresh_tokens \
                     WHERE token_hash = decode(p.presented, 'hex') OFFSET 0) t \
), g AS MATERIALIZED ( \
    SELECT l.* FROM (SELECT DISTINCT grant_id FROM f ORDER BY grant_id) o, \
    LATERAL (SELECT grant_id, merchant_id, client_id, scopes, revoked_at FROM grants \
             WHERE grant_id = o.grant_id OFFSET 0 FOR NO KEY UPDATE) l \
), u AS ( \
    UPDATE refresh_tokens r SET consumed_at = f.now, successor_hash = decode(f.refresh, 'hex') \
    FROM f JOIN g ON g.grant_id = f.grant_id AND g.client_id = f.client_id \
        AND g.revoked_at IS NULL \
    WHERE r.token_hash = ANY(ARRAY(SELECT presented_hash FROM f)) \
      AND r.token_hash = f.presented_hash \
      AND r.consumed_at IS NULL AND r.retired_at IS NULL AND r.expires_at > f.now \
    RETURNING f.k, f.now, f.refresh, f.access, f.access_expires, f.refresh_expires, \
        f.client_ip, g.grant_id, g.merchant_id, g.client_id, g.scopes \
), \
",
    issue_tokens_to_u!()
);

/// Redeems every code of a batch that the general path would accept: `$1` the batch as a JSON
/// array of [`CodeItem`]s, `$2` the audit kind. Returns, for each item it redeemed, the grant,
/// merchant and scopes, and the item's `k`; nothing for the others.
///
/// Per item, the conditions are those of `domain::code::check` saying `Redeem`: the code is
/// unused and unexpired, its grant is not revoked and belongs to the item's client; the
/// redirect URI presented equals the stored one, or none was presented and the authorize
/// request named none; and either the code has an S256 challenge equal to the item's (the S256
/// of the verifier presented), or it has no challenge and no verifier was presented. Like the
/// general path it is decided by the conditional `UPDATE` of the code, without locking the
/// grant: a second redemption waits for the first's row lock, finds the code consumed, gets
/// no row, and the general path treats it as the replay it is; a code presented twice in one
/// batch is updated once, with the same outcome. (Two statements redeeming the same two codes
/// in crossing order can deadlock; PostgreSQL then fails one of them, whose requests take the
/// general path. The challenge is compared with `=`, not in constant time: it is no secret,
/// the authorize request carried it in its URL.) Plans: as [`ROTATE_LIVE_BATCH`].
pub(crate) const REDEEM_VALID_BATCH: &str = concat!(
    "\
WITH p AS ( \
    SELECT * FROM json_to_recordset($1::json) AS p(k int, code text, client_id text, \
        now bigint, redirect_uri text, challenge text, access text, access_expires bigint, \
        refresh text, refresh_expires bigint, client_ip text) \
), f AS ( \
    SELECT p.*, decode(p.code, 'hex') AS code_hash, t.grant_id \
    FROM p, LATERAL (SELECT grant_id FROM authorization_codes \
                     WHERE code_hash = decode(p.code, 'hex') OFFSET 0) t \
), g AS MATERIALIZED ( \
    SELECT l.* FROM (SELECT DISTINCT grant_id FROM f) o, \
    LATERAL (SELECT grant_id, merchant_id, client_id, scopes, revoked_at FROM grants \
             WHERE grant_id = o.grant_id OFFSET 0) l \
), u AS ( \
    UPDATE authorization_codes c SET consumed_at = f.now \
    FROM f JOIN g ON g.grant_id = f.grant_id AND g.client_id = f.client_id \
        AND g.revoked_at IS NULL \
    WHERE c.code_hash = ANY(ARRAY(SELECT code_hash FROM f)) \
      AND c.code_hash = f.code_hash \
      AND c.consumed_at IS NULL AND c.expires_at > f.now \
      AND (c.redirect_uri = f.redirect_uri \
           OR (f.redirect_uri IS NULL AND c.redirect_uri_explicit = 0)) \
      AND ((c.code_challenge_method = 'S256' AND c.code_challenge = f.challenge) \
           OR (f.challenge IS NULL AND c.code_challenge IS NULL)) \
    RETURNING f.k, f.now, f.access, f.access_expires, f.refresh, f.refresh_expires, \
        f.client_ip, g.grant_id, g.merchant_id, g.client_id, g.scopes \
), \
",
    issue_tokens_to_u!()
);

/// Revokes the grant behind every live token of a batch that its client presented for
/// revocation: `$1` the batch as a JSON array of [`RevocationItem`]s, `$2` the audit kind.
/// Returns, for each item whose grant it revoked, the grant and the item's `k`; nothing for
/// the others.
///
/// Per item, the conditions are those under which `grants::revoke_by_token` revokes: the token
/// presented is an access token (looked up first) or else a refresh token; that token is
/// unexpired (a refresh token also neither consumed nor retired); its grant is not revoked
/// and belongs to the item's client. Then, as `grants::revoke_grant`, the grant is marked
/// revoked with the item's reason and the audit event written, its other columns (address,
/// user, detail) made in Rust by `grants::revocation_event`. The grants are locked first, in
/// `grant_id` order, as [`ROTATE_LIVE_BATCH`] locks them, so revocations and refreshes of
/// several grants never wait on each other crosswise. Two items of one grant revoke it once:
/// the other gets no row, and the general path finds the grant revoked, as it would have one
/// after the other. Plans: as [`ROTATE_LIVE_BATCH`].
pub(crate) const REVOKE_LIVE_BATCH: &str = "\
WITH p AS ( \
    SELECT * FROM json_to_recordset($1::json) AS p(k int, access text, refresh text, \
        client_id text, now bigint, reason text, client_ip text, user_id text, detail text) \
), f AS ( \
    SELECT p.*, t.grant_id FROM p, \
    LATERAL (SELECT grant_id, live FROM ( \
        SELECT 1 AS o, grant_id, expires_at > p.now AS live FROM access_tokens \
        WHERE token_hash = decode(p.access, 'hex') \
        UNION ALL \
        SELECT 2, grant_id, \
            expires_at > p.now AND consumed_at IS NULL AND retired_at IS NULL \
        FROM refresh_tokens WHERE token_hash = decode(p.refresh, 'hex') \
    ) x ORDER BY o LIMIT 1) t \
    WHERE t.live \
), g AS MATERIALIZED ( \
    SELECT l.* FROM (SELECT DISTINCT grant_id FROM f ORDER BY grant_id) o, \
    LATERAL (SELECT grant_id, client_id, revoked_at FROM grants \
             WHERE grant_id = o.grant_id OFFSET 0 FOR NO KEY UPDATE) l \
), u AS ( \
    UPDATE grants r SET revoked_at = f.now, revoked_reason = f.reason \
    FROM f JOIN g ON g.grant_id = f.grant_id AND g.client_id = f.client_id \
        AND g.revoked_at IS NULL \
    WHERE r.grant_id = ANY(ARRAY(SELECT grant_id FROM g)) AND r.grant_id = f.grant_id \
      AND r.revoked_at IS NULL \
    RETURNING f.k, f.now, f.client_ip, f.user_id, f.detail, r.grant_id, r.merchant_id, \
        r.client_id \
), e AS ( \
    INSERT INTO audit_events \
        (at, kind, merchant_id, client_id, grant_id, user_id, client_ip, detail) \
    SELECT now, $2, merchant_id, client_id, grant_id, user_id, client_ip, detail FROM u \
) \
SELECT grant_id, k FROM u";

/// Looks up a batch of access tokens: `$1` a JSON array of [`AccessItem`]s. Returns, for each
/// token that exists and has not expired, `FIND_ACCESS`'s columns (`grants::live_grant_from_row`
/// decides on the grant's revocation and the application's deletion, as for a lone lookup) and
/// the item's `k`. Every row is reached by primary key from the token's, through lateral
/// lookups (`OFFSET 0`: see [`ROTATE_LIVE_BATCH`]).
pub(crate) const FIND_ACCESS_BATCH: &str = "\
SELECT a.grant_id, a.scopes, a.created_at, a.expires_at, g.merchant_id, m.name, g.client_id, \
       app.name, g.revoked_at, app.deleted_at, x.k \
FROM json_to_recordset($1::json) AS x(k int, token text, now bigint), \
LATERAL (SELECT grant_id, scopes, created_at, expires_at FROM access_tokens \
         WHERE token_hash = decode(x.token, 'hex') AND expires_at > x.now OFFSET 0) a, \
LATERAL (SELECT merchant_id, client_id, revoked_at FROM grants \
         WHERE grant_id = a.grant_id OFFSET 0) g, \
LATERAL (SELECT name FROM merchants WHERE merchant_id = g.merchant_id OFFSET 0) m, \
LATERAL (SELECT name, deleted_at FROM applications \
         WHERE client_id = g.client_id OFFSET 0) app";

/// A request that can run in a batch statement: which statement, its item there, and what a
/// row of the answer means.
pub(crate) trait Batched: Send + Sync + 'static {
    /// The statement: `$1` a JSON array of items (and `$2` the audit kind, if any); rows whose
    /// last column is the item's `k`.
    const SQL: &'static str;
    const AUDIT: Option<AuditKind>;
    /// A write that a general path can still decide: when PostgreSQL refuses the statement
    /// (it then changed nothing), its requests get `Ok(None)` and go there. Otherwise (a
    /// read) they get the error.
    const GENERAL_PATH: bool;
    type Out: Send + 'static;
    /// This request as item `k` of a batch (hashes in hex: JSON has no bytes, and sqlx's
    /// `Any` driver binds no arrays); `None` if the statement cannot express it.
    fn item(&self, k: usize) -> Option<impl Serialize + Send>;
    /// What a row of the answer says about its request.
    fn from_row(row: &AnyRow) -> Result<Option<Self::Out>, StoreError>;
}

/// One refresh of a batch, as [`ROTATE_LIVE_BATCH`] reads it.
#[derive(Serialize)]
struct RefreshItem<'a> {
    k: usize,
    presented: String,
    client_id: &'a str,
    now: i64,
    refresh: String,
    access: String,
    access_expires: i64,
    refresh_expires: i64,
    client_ip: Option<&'a str>,
}

impl Batched for Refresh {
    const SQL: &'static str = ROTATE_LIVE_BATCH;
    const AUDIT: Option<AuditKind> = Some(AuditKind::TokenRefreshed);
    const GENERAL_PATH: bool = true;
    type Out = Issued;

    fn from_row(row: &AnyRow) -> Result<Option<Issued>, StoreError> {
        issued_from_row(row).map(Some)
    }

    /// A refresh that narrows the scope is left to the general path.
    fn item(&self, k: usize) -> Option<impl Serialize + Send> {
        self.scope.is_none().then(|| RefreshItem {
            k,
            presented: hex::encode(self.refresh_hash),
            client_id: &self.client_id,
            now: self.now,
            refresh: hex::encode(self.tokens.refresh_hash),
            access: hex::encode(self.tokens.access_hash),
            access_expires: self.tokens.access_expires_at,
            refresh_expires: self.tokens.refresh_expires_at,
            client_ip: self.origin.client_ip.as_deref(),
        })
    }
}

/// One code redemption of a batch, as [`REDEEM_VALID_BATCH`] reads it.
#[derive(Serialize)]
struct CodeItem<'a> {
    k: usize,
    code: String,
    client_id: &'a str,
    now: i64,
    redirect_uri: Option<&'a str>,
    challenge: Option<String>,
    access: String,
    access_expires: i64,
    refresh: String,
    refresh_expires: i64,
    client_ip: Option<&'a str>,
}

impl Batched for CodeRedemption {
    const SQL: &'static str = REDEEM_VALID_BATCH;
    const AUDIT: Option<AuditKind> = Some(AuditKind::CodeRedeemed);
    const GENERAL_PATH: bool = true;
    type Out = Issued;

    fn from_row(row: &AnyRow) -> Result<Option<Issued>, StoreError> {
        issued_from_row(row).map(Some)
    }

    /// Left to the general path: a redirect URI the profile requires but the client left out,
    /// and a malformed verifier (both refused there).
    fn item(&self, k: usize) -> Option<impl Serialize + Send> {
        let presented = &self.presented;
        if presented.redirect_uri.is_none() && presented.require_redirect_uri {
            return None;
        }
        let challenge = match presented.code_verifier.as_deref() {
            None => None,
            Some(verifier) => Some(pkce::s256_challenge_of_well_formed(verifier)?),
        };
        Some(CodeItem {
            k,
            code: hex::encode(self.code_hash),
            client_id: &presented.client_id,
            now: self.now,
            redirect_uri: presented.redirect_uri.as_deref(),
            challenge,
            access: hex::encode(self.tokens.access_hash),
            access_expires: self.tokens.access_expires_at,
            refresh: hex::encode(self.tokens.refresh_hash),
            refresh_expires: self.tokens.refresh_expires_at,
            client_ip: self.origin.client_ip.as_deref(),
        })
    }
}

/// One revocation of a batch, as [`REVOKE_LIVE_BATCH`] reads it.
#[derive(Serialize)]
struct RevocationItem<'a> {
    k: usize,
    access: String,
    refresh: String,
    client_id: &'a str,
    now: i64,
    reason: &'static str,
    client_ip: Option<String>,
    user_id: Option<String>,
    detail: Option<String>,
}

impl Batched for TokenRevocation {
    const SQL: &'static str = REVOKE_LIVE_BATCH;
    const AUDIT: Option<AuditKind> = Some(AuditKind::GrantRevoked);
    const GENERAL_PATH: bool = true;
    type Out = String;

    fn item(&self, k: usize) -> Option<impl Serialize + Send> {
        let reason = RevokeReason::ClientRequest;
        let event = revocation_event(reason, &self.origin);
        Some(RevocationItem {
            k,
            access: hex::encode(self.access_hash),
            refresh: hex::encode(self.refresh_hash),
            client_id: &self.client_id,
            now: self.now,
            reason: reason.as_str(),
            client_ip: event.client_ip,
            user_id: event.user_id,
            detail: event.detail,
        })
    }

    fn from_row(row: &AnyRow) -> Result<Option<String>, StoreError> {
        Ok(Some(row.try_get(0)?))
    }
}

/// A lookup of an access token, as `Store::find_access` makes it.
#[derive(Debug, Clone)]
pub(crate) struct AccessLookup {
    pub hash: Digest,
    pub now: Millis,
}

/// One lookup of a batch, as [`FIND_ACCESS_BATCH`] reads it.
#[derive(Serialize)]
struct AccessItem {
    k: usize,
    token: String,
    now: i64,
}

impl Batched for AccessLookup {
    const SQL: &'static str = FIND_ACCESS_BATCH;
    const AUDIT: Option<AuditKind> = None;
    const GENERAL_PATH: bool = false;
    type Out = AccessGrant;

    fn item(&self, k: usize) -> Option<impl Serialize + Send> {
        Some(AccessItem {
            k,
            token: hex::encode(self.hash),
            now: self.now,
        })
    }

    fn from_row(row: &AnyRow) -> Result<Option<AccessGrant>, StoreError> {
        live_grant_from_row(row)
    }
}

/// What became of one request of a batch: for a write, `Ok(None)` if the general path must
/// decide; for a read, `Ok(None)` if nothing was found.
pub(crate) type Outcome<T> = Result<Option<T>, StoreError>;

/// A request waiting for its batch, and where to send what became of it.
struct Job<R: Batched> {
    req: R,
    done: oneshot::Sender<Outcome<R::Out>>,
}

/// The queue of one kind of request for its batching tasks. Cheap to clone.
pub(crate) struct Batches<R: Batched> {
    queue: mpsc::UnboundedSender<Job<R>>,
}

impl<R: Batched> Clone for Batches<R> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<R: Batched> std::fmt::Debug for Batches<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Batches")
    }
}

impl<R: Batched> Batches<R> {
    /// Starts `tasks` batching tasks on `pool`; they stop when the last handle is dropped.
    pub(crate) fn spawn(pool: AnyPool, tasks: usize) -> Self {
        let (queue, waiting) = mpsc::unbounded_channel();
        let waiting = Arc::new(Mutex::new(waiting));
        for _ in 0..tasks.max(1) {
            tokio::spawn(run_batches(pool.clone(), waiting.clone()));
        }
        Self { queue }
    }

    /// Runs `req` in the next batch. A write: `Some` if it issued (committed, durable), `None`
    /// if the general path must decide, as for one the statement cannot express (its item is
    /// built once, with the batch). A read: what it found.
    pub(crate) async fn run(&self, req: R) -> Outcome<R::Out> {
        let (done, outcome) = oneshot::channel();
        if self.queue.send(Job { req, done }).is_err() {
            return stopped::<R>();
        }
        outcome.await.unwrap_or_else(|_| stopped::<R>())
    }
}

/// The answer when the batching tasks are gone (the store is closing).
fn stopped<R: Batched>() -> Outcome<R::Out> {
    if R::GENERAL_PATH {
        Ok(None)
    } else {
        Err(StoreError::Unavailable("the store is closing".into()))
    }
}

/// One batching task: take the waiting requests, run them, answer; again.
async fn run_batches<R: Batched>(
    pool: AnyPool,
    waiting: Arc<Mutex<mpsc::UnboundedReceiver<Job<R>>>>,
) {
    loop {
        let mut jobs = Vec::new();
        {
            // The lock is held while waiting for the first job, so one task at a time
            // gathers; the others are running their batches meanwhile.
            let mut waiting = waiting.lock().await;
            let Some(first) = waiting.recv().await else {
                return;
            };
            jobs.push(first);
            while jobs.len() < MAX_BATCH {
                match waiting.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
        }
        let reqs: Vec<&R> = jobs.iter().map(|j| &j.req).collect();
        let outcomes = run_batch(&pool, &reqs).await;
        for (job, outcome) in jobs.into_iter().zip(outcomes) {
            let _ = job.done.send(outcome);
        }
    }
}

/// Runs `R`'s statement for `reqs`: what became of each, in order.
///
/// If PostgreSQL refuses the statement (a deadlock, say), it changed nothing (one statement,
/// one transaction) and every request goes to the general path. If the statement's fate is
/// unknown (the connection broke before its answer), every request gets "unavailable", as a
/// lone transaction would: sent to the general path, a request whose batch did commit would be
/// taken for a retry (a refresh) or a replay (a code, whose grant would be revoked).
pub(crate) async fn run_batch<R: Batched>(pool: &AnyPool, reqs: &[&R]) -> Vec<Outcome<R::Out>> {
    let mut outcomes: Vec<Outcome<R::Out>> = reqs.iter().map(|_| Ok(None)).collect();
    let items: Vec<_> = reqs
        .iter()
        .enumerate()
        .filter_map(|(k, req)| req.item(k))
        .collect();
    if items.is_empty() {
        return outcomes;
    }
    let Ok(batch) = serde_json::to_string(&items) else {
        return outcomes;
    };
    let mut query = sqlx::query(R::SQL).bind(batch);
    if let Some(kind) = R::AUDIT {
        query = query.bind(kind.as_str());
    }
    let rows = match query.fetch_all(pool).await {
        Ok(rows) => rows,
        Err(e @ sqlx::Error::Database(_)) if R::GENERAL_PATH => {
            tracing::warn!(error = %e, requests = reqs.len(), "a batch statement failed");
            return outcomes;
        }
        Err(e) => {
            // One error for every request of the batch, each told whether to retry.
            return match StoreError::from(e) {
                StoreError::Unavailable(cause) => reqs
                    .iter()
                    .map(|_| Err(StoreError::Unavailable(cause.clone())))
                    .collect(),
                other => {
                    let cause = other.to_string();
                    tracing::warn!(error = %cause, requests = reqs.len(), "a batch statement failed");
                    reqs.iter()
                        .map(|_| Err(StoreError::BatchFailed(cause.clone())))
                        .collect()
                }
            };
        }
    };
    // From here the batch is committed: a row that cannot be read must not send its request
    // to the general path, which would take the change it cannot see answered for reuse.
    let mut unreadable = false;
    for row in rows {
        let slot = row
            .try_get::<i32, _>(row.len() - 1)
            .ok()
            .and_then(|k| usize::try_from(k).ok())
            .and_then(|k| outcomes.get_mut(k));
        let Some(slot) = slot else {
            unreadable = true;
            continue;
        };
        *slot = R::from_row(&row);
    }
    if unreadable {
        for outcome in &mut outcomes {
            if matches!(outcome, Ok(None)) {
                *outcome = Err(StoreError::Inconsistent(
                    "a batch statement answered a row it did not ask for".into(),
                ));
            }
        }
    }
    outcomes
}

/// The columns `grant_id, merchant_id, scopes` of the write statements' rows.
fn issued_from_row(row: &AnyRow) -> Result<Issued, StoreError> {
    let grant_id: String = row.try_get(0)?;
    Ok(Issued {
        merchant_id: row.try_get(1)?,
        scopes: parse_scopes(&grant_id, &row.try_get::<String, _>(2)?)?,
        grant_id,
    })
}
