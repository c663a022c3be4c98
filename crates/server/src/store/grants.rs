//! Grants and their credentials: codes, access tokens, refresh tokens.
//!
//! Each public method here is one atomic step of the protocol. The rules themselves live in
//! `domain::code` and `domain::refresh`; these functions read the state, ask the rule, and carry
//! out its decision inside one transaction, deciding races by row counts of conditional updates
//! (`... WHERE consumed_at IS NULL`), which both engines evaluate atomically.
//!
//! # Concurrency
//! On SQLite every write runs on the one writer connection, so writes never interleave. On
//! PostgreSQL writes run concurrently, in READ COMMITTED transactions (pinned by the store):
//! - a code redemption is decided by one conditional `UPDATE`: a second redemption waits for
//!   the first's row lock, then finds the code consumed (0 rows) and is treated as a replay;
//! - a refresh first locks its grant's row (`lock_grant`), so concurrent refreshes of one
//!   family, grace-window retries and revocations queue up and each one reads the state the
//!   previous one committed. Without the lock, losers of the conditional updates would have to
//!   re-read and retry, and under a burst some gave up with 503.

use std::time::Instant;

use sqlx::Row;

use super::{
    audit::record,
    flag,
    grant_batches::AccessLookup,
    recent::Forget,
    sql::{Arg, Columns, PoolSql, Sql},
    Backend, Store, StoreError,
};
use crate::{
    clock::Millis,
    domain::{
        audit::{AuditEvent, AuditKind, Origin},
        code::{self, StoredCode, Verdict},
        model::{AccessGrant, GrantSummary},
        refresh::{self, Decision, PresentedState},
        scope::ScopeSet,
        secret::Digest,
        OauthError,
    },
};

/// A merchant's approval, written together with its first authorization code.
#[derive(Debug, Clone)]
pub struct NewApproval {
    pub grant_id: String,
    pub merchant_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scopes: ScopeSet,
    pub code_hash: Digest,
    pub redirect_uri: String,
    pub redirect_uri_explicit: bool,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<&'static str>,
    pub now: Millis,
    pub code_expires_at: Millis,
    pub origin: Origin,
}

/// Hashes and lifetimes of a new access/refresh pair, minted by the caller before the write.
#[derive(Debug, Clone)]
pub struct NewTokens {
    pub access_hash: Digest,
    pub refresh_hash: Digest,
    pub access_expires_at: Millis,
    pub refresh_expires_at: Millis,
}

/// The grant a new token pair was issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub grant_id: String,
    pub merchant_id: String,
    /// Scopes of the new access token.
    pub scopes: ScopeSet,
}

/// A code redemption request, already client-authenticated.
#[derive(Debug, Clone)]
pub struct CodeRedemption {
    pub code_hash: Digest,
    pub presented: code::Presented,
    pub now: Millis,
    pub tokens: NewTokens,
    pub origin: Origin,
}

/// A refresh request, already client-authenticated.
#[derive(Debug, Clone)]
pub struct Refresh {
    pub refresh_hash: Digest,
    pub client_id: String,
    /// A narrower scope for the new access token (RFC 6749 §6); never wider than the grant.
    pub scope: Option<ScopeSet>,
    pub now: Millis,
    pub grace_ms: Millis,
    pub tokens: NewTokens,
    pub origin: Origin,
}

/// A client's request to revoke the grant behind one of its tokens (RFC 7009), already
/// client-authenticated: the presented token's hashes as an access and as a refresh token.
#[derive(Debug, Clone)]
pub(crate) struct TokenRevocation {
    pub access_hash: Digest,
    pub refresh_hash: Digest,
    pub client_id: String,
    pub now: Millis,
    pub origin: Origin,
}

/// What a revocation request found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// The token was live; its whole grant is now revoked.
    Revoked { grant_id: String },
    /// Unknown, expired, rotated out, or its grant was already revoked.
    NotLive,
    /// The token belongs to a different application.
    OtherClient,
}

/// Why a grant was revoked; stored for the audit trail and the merchant's view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeReason {
    CodeReplay,
    DeviceCodeReplay,
    RefreshReuse,
    ClientRequest,
    Merchant,
    ApplicationDeleted,
    /// An operator on the command line.
    Operator,
}

/// A single-use credential presented again, found inside a write; counted once it committed.
#[derive(Debug, Clone, Copy)]
struct Reuse {
    reason: RevokeReason,
    /// Whether this write revoked the grant (it may have been revoked already).
    revoked: bool,
}

/// A grant-type step's answer, and the reuse it detected.
type Answer = (Result<Issued, OauthError>, Option<Reuse>);

impl RevokeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CodeReplay => "code_replay",
            Self::DeviceCodeReplay => "device_code_replay",
            Self::RefreshReuse => "refresh_reuse",
            Self::ClientRequest => "client_request",
            Self::Merchant => "merchant",
            Self::ApplicationDeleted => "application_deleted",
            Self::Operator => "operator",
        }
    }
}

impl Store {
    /// Records an approval: a new grant and its authorization code.
    pub async fn approve(&self, approval: NewApproval) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            let mut pool = PoolSql {
                pool: &self.pool,
                backend: self.backend,
            };
            self.timed("write", approve_at_once(&mut pool, &approval))
                .await?;
        } else {
            self.approve_generally(approval).await?;
        }
        self.metrics().grant_issued();
        Ok(())
    }

    /// An approval statement by statement, in one transaction (SQLite's writer runs it
    /// without round trips).
    pub(crate) async fn approve_generally(&self, approval: NewApproval) -> Result<(), StoreError> {
        self.write_tx(move |mut tx| {
            let approval = approval.clone();
            Box::pin(async move { approve(&mut tx, approval).await })
        })
        .await
    }

    /// Counts what a code redemption or refresh did, after it committed.
    fn count(&self, answer: &Answer, grant_type: &'static str) {
        let metrics = self.metrics();
        if answer.0.is_ok() {
            metrics.tokens_issued(grant_type);
            if grant_type == "refresh_token" {
                metrics.refreshed();
            }
        }
        if let Some(reuse) = answer.1 {
            metrics.reuse_detected(match reuse.reason {
                RevokeReason::CodeReplay => "authorization_code",
                _ => "refresh_token",
            });
            if reuse.revoked {
                metrics.revoked(reuse.reason.as_str());
            }
        }
    }

    /// Redeems an authorization code for a token pair. A replayed code revokes its grant; the
    /// refusal is returned as `Ok(Err(_))` so that revocation is committed. On PostgreSQL the
    /// common case is one statement (see `one_statement`).
    pub async fn redeem_code(
        &self,
        req: CodeRedemption,
    ) -> Result<Result<Issued, OauthError>, StoreError> {
        if let Some(issued) = self.redeem_valid(&req).await? {
            let answer = (Ok(issued), None);
            self.count(&answer, "authorization_code");
            return Ok(answer.0);
        }
        let lookups = self.access.forget_all_when_done();
        let answer = self
            .write_tx(move |mut tx| {
                let req = req.clone();
                Box::pin(async move { redeem_code(&mut tx, req).await })
            })
            .await?;
        keep_lookups_unless_revoked(lookups, &answer);
        self.count(&answer, "authorization_code");
        Ok(answer.0)
    }

    /// Rotates a refresh token (see `domain::refresh`). Reuse revokes the grant. On PostgreSQL
    /// the common case is one statement (see `one_statement`).
    pub async fn refresh(&self, req: Refresh) -> Result<Result<Issued, OauthError>, StoreError> {
        if let Some(issued) = self.rotate_live(&req).await? {
            let answer = (Ok(issued), None);
            self.count(&answer, "refresh_token");
            return Ok(answer.0);
        }
        let lookups = self.access.forget_all_when_done();
        let answer = self
            .write_tx(move |mut tx| {
                let req = req.clone();
                Box::pin(async move { refresh(&mut tx, req).await })
            })
            .await?;
        keep_lookups_unless_revoked(lookups, &answer);
        self.count(&answer, "refresh_token");
        Ok(answer.0)
    }

    /// Revokes the grant behind an access or refresh token presented by `client_id`. On
    /// PostgreSQL the common case is one statement (see `one_statement`).
    pub async fn revoke_by_token(
        &self,
        access_hash: Digest,
        refresh_hash: Digest,
        client_id: String,
        now: Millis,
        origin: Origin,
    ) -> Result<RevokeOutcome, StoreError> {
        let req = TokenRevocation {
            access_hash,
            refresh_hash,
            client_id,
            now,
            origin,
        };
        let _revoked = self.access.forget_all_when_done();
        let outcome = match self.revoke_live(&req).await? {
            Some(grant_id) => RevokeOutcome::Revoked { grant_id },
            None => self.revoke_generally(req).await?,
        };
        if matches!(outcome, RevokeOutcome::Revoked { .. }) {
            self.metrics().revoked(RevokeReason::ClientRequest.as_str());
        }
        Ok(outcome)
    }

    /// The general path of a client's revocation: every case, one transaction.
    pub(crate) async fn revoke_generally(
        &self,
        req: TokenRevocation,
    ) -> Result<RevokeOutcome, StoreError> {
        self.write_tx(move |mut tx| {
            let req = req.clone();
            Box::pin(async move { revoke_by_token(&mut tx, req).await })
        })
        .await
    }

    /// Revokes one grant by id; `false` if it was already revoked or does not exist.
    pub async fn revoke_grant(
        &self,
        grant_id: String,
        reason: RevokeReason,
        now: Millis,
        origin: Origin,
    ) -> Result<bool, StoreError> {
        let _revoked = self.access.forget_all_when_done();
        let revoked = self
            .write(move |conn| {
                Box::pin(async move { revoke_grant(conn, &grant_id, reason, now, &origin).await })
            })
            .await?;
        if revoked {
            self.metrics().revoked(reason.as_str());
        }
        Ok(revoked)
    }

    /// A merchant's live grants (its "Authorized Applications"), newest first, and their count.
    pub async fn list_grants_by_merchant(
        &self,
        merchant_id: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<GrantSummary>, i64), StoreError> {
        let rows = sqlx::query(
            "SELECT g.grant_id, g.client_id, app.name, app.developer_name, g.scopes, \
                    u.login, g.created_at, g.last_used_at \
             FROM grants g \
             JOIN applications app ON app.client_id = g.client_id \
             LEFT JOIN users u ON u.user_id = g.user_id \
             WHERE g.merchant_id = $1 AND g.revoked_at IS NULL AND app.deleted_at IS NULL \
             ORDER BY g.created_at DESC, g.grant_id LIMIT $2 OFFSET $3",
        )
        .bind(merchant_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(self.pool())
        .await?;
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM grants g JOIN applications app ON app.client_id = g.client_id \
             WHERE g.merchant_id = $1 AND g.revoked_at IS NULL AND app.deleted_at IS NULL",
        )
        .bind(merchant_id)
        .fetch_one(self.pool())
        .await?;
        let grants = rows
            .iter()
            .map(|r| {
                let grant_id: String = r.try_get(0)?;
                Ok(GrantSummary {
                    client_id: r.try_get(1)?,
                    application_name: r.try_get(2)?,
                    developer_name: r.try_get(3)?,
                    scopes: parse_scopes(&grant_id, &r.try_get::<String, _>(4)?)?,
                    approved_by: r.try_get(5)?,
                    created_at: r.try_get(6)?,
                    last_used_at: r.try_get(7)?,
                    grant_id,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok((grants, total))
    }

    /// Revokes a live grant, only if it belongs to `merchant_id` (any merchant when `None`);
    /// `false` when there is no such live grant. Its tokens stop working at once here: every
    /// token lookup checks the grant, and the lookups kept in memory are forgotten (other
    /// processes: see [`Store::find_access`]).
    pub async fn revoke_grant_of(
        &self,
        grant_id: String,
        merchant_id: Option<String>,
        reason: RevokeReason,
        now: Millis,
        origin: Origin,
    ) -> Result<bool, StoreError> {
        let _revoked = self.access.forget_all_when_done();
        let revoked = self
            .write(move |conn| {
                Box::pin(async move {
                    if let Some(merchant_id) = merchant_id {
                        let owner: Option<String> = sqlx::query_scalar(
                            "SELECT merchant_id FROM grants WHERE grant_id = $1",
                        )
                        .bind(&grant_id)
                        .fetch_optional(&mut *conn)
                        .await?;
                        if owner.as_deref() != Some(merchant_id.as_str()) {
                            return Ok(false);
                        }
                    }
                    revoke_grant(conn, &grant_id, reason, now, &origin).await
                })
            })
            .await?;
        if revoked {
            self.metrics().revoked(reason.as_str());
        }
        Ok(revoked)
    }

    /// The live grant behind an access token, if the token is live. A lookup that found it
    /// less than `StoreOptions::access_cache_ttl` ago is served from memory: every revocation
    /// made through this store forgets them all, so only one made by another process or node
    /// can lag, by at most that time (see `recent`).
    pub async fn find_access(
        &self,
        access_hash: &Digest,
        now: Millis,
    ) -> Result<Option<AccessGrant>, StoreError> {
        if let Some(grant) = self.access.get(access_hash) {
            if grant.expires_at > now {
                self.metrics().access_check_from_memory();
                return Ok(Some(grant));
            }
        }
        let generation = self.access.generation();
        let read_at = Instant::now();
        let found = self
            .timed("find_access", self.find_access_untimed(access_hash, now))
            .await?;
        if let Some(grant) = &found {
            self.access
                .put(generation, read_at, *access_hash, grant.clone());
        }
        Ok(found)
    }

    async fn find_access_untimed(
        &self,
        access_hash: &Digest,
        now: Millis,
    ) -> Result<Option<AccessGrant>, StoreError> {
        if let Some(batches) = &self.batches {
            let lookup = AccessLookup {
                hash: *access_hash,
                now,
            };
            return batches.lookups.run(lookup).await;
        }
        let args = [Arg::Blob(access_hash), Arg::Int(now)];
        let row = self
            .read_via()?
            .fetch_row(FIND_ACCESS, &args, live_grant_from_row)
            .await?;
        Ok(row.flatten())
    }
}

/// Keeps the access-token lookups across a code redemption or refresh that issued tokens and
/// detected no reuse: only a refusal can have revoked a grant (a replayed code, a reused
/// refresh token). Anything else, including an error or a request abandoned midway, forgets
/// them when `lookups` drops.
fn keep_lookups_unless_revoked(lookups: Forget<'_, Digest, AccessGrant>, answer: &Answer) {
    if answer.0.is_ok() && answer.1.is_none() {
        lookups.disarm();
    }
}

/// An access token with its grant, merchant and application, on SQLite (PostgreSQL looks
/// tokens up in batches, `grant_batches::FIND_ACCESS_BATCH`, with the same columns). The
/// grant's revocation and the application's deletion are read, not filtered in SQL, in both:
/// PostgreSQL keeps a prepared statement's plan, and one made before it has analyzed `grants`
/// and `applications` takes `IS NULL` on their columns for a rare condition and starts the
/// join there, walking every live grant of the application for each lookup. Filtering only on
/// the token's own key keeps every plan starting from that one row (the refresh and the code
/// redemption read these columns the same way). See docs/performance.md, "Noticed on the way".
pub(crate) const FIND_ACCESS: &str =
    "SELECT a.grant_id, a.scopes, a.created_at, a.expires_at, g.merchant_id, m.name, \
            g.client_id, app.name, g.revoked_at, app.deleted_at \
     FROM access_tokens a \
     JOIN grants g ON g.grant_id = a.grant_id \
     JOIN merchants m ON m.merchant_id = g.merchant_id \
     JOIN applications app ON app.client_id = g.client_id \
     WHERE a.token_hash = $1 AND a.expires_at > $2";

/// An [`AccessGrant`] from the columns `grant_id, scopes, issued_at, expires_at, merchant_id,
/// merchant_name, client_id, application_name, revoked_at, deleted_at` (access and refresh
/// lookups share the shape); `None` if the grant is revoked or the application deleted.
pub(crate) fn live_grant_from_row(r: &dyn Columns) -> Result<Option<AccessGrant>, StoreError> {
    if r.opt_int(8)?.is_some() || r.opt_int(9)?.is_some() {
        return Ok(None);
    }
    let grant_id = r.text(0)?;
    Ok(Some(AccessGrant {
        scopes: parse_scopes(&grant_id, &r.text(1)?)?,
        issued_at: r.int(2)?,
        expires_at: r.int(3)?,
        merchant_id: r.text(4)?,
        merchant_name: r.text(5)?,
        client_id: r.text(6)?,
        application_name: r.text(7)?,
        grant_id,
    }))
}

/// PostgreSQL: what `approve` writes, as one statement in its own transaction: one round trip
/// instead of six (`BEGIN`, the grant, the code, two audit rows, `COMMIT`). The code's foreign
/// key to the grant holds: PostgreSQL checks it at the end of the statement. The audit rows
/// are `approve`'s two events, in its order.
const APPROVE_AT_ONCE: &str = "\
WITH g AS ( \
    INSERT INTO grants \
        (grant_id, merchant_id, client_id, user_id, scopes, created_at, last_used_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $6) \
), c AS ( \
    INSERT INTO authorization_codes (code_hash, grant_id, redirect_uri, \
        redirect_uri_explicit, code_challenge, code_challenge_method, created_at, expires_at) \
    VALUES ($7, $1, $8, $9, $10, $11, $6, $12) \
) \
INSERT INTO audit_events (at, kind, merchant_id, client_id, grant_id, user_id, client_ip) \
VALUES ($6, $13, $2, $3, $1, $4, $15), ($6, $14, $2, $3, $1, $4, $15)";

/// The audit events of an approval, in the order they are written.
const APPROVAL_EVENTS: [AuditKind; 2] = [AuditKind::ConsentGiven, AuditKind::CodeIssued];

async fn approve_at_once(conn: &mut impl Sql, approval: &NewApproval) -> Result<(), StoreError> {
    let scopes = approval.scopes.to_wire();
    let [consent, code] = APPROVAL_EVENTS.map(AuditKind::as_str);
    conn.exec(
        APPROVE_AT_ONCE,
        &[
            Arg::Text(&approval.grant_id),
            Arg::Text(&approval.merchant_id),
            Arg::Text(&approval.client_id),
            Arg::Text(&approval.user_id),
            Arg::Text(&scopes),
            Arg::Int(approval.now),
            Arg::Blob(&approval.code_hash),
            Arg::Text(&approval.redirect_uri),
            Arg::Int(i64::from(approval.redirect_uri_explicit)),
            Arg::OptText(approval.code_challenge.as_deref()),
            Arg::OptText(approval.code_challenge_method),
            Arg::Int(approval.code_expires_at),
            Arg::Text(consent),
            Arg::Text(code),
            Arg::OptText(approval.origin.client_ip.as_deref()),
        ],
    )
    .await?;
    Ok(())
}

async fn approve(conn: &mut impl Sql, approval: NewApproval) -> Result<(), StoreError> {
    let scopes = approval.scopes.to_wire();
    conn.exec(
        // The code issued here is the grant's first use (see the `grant_last_used_to_the_minute`
        // migration): the exchange that follows within the minute need not rewrite the row.
        "INSERT INTO grants \
         (grant_id, merchant_id, client_id, user_id, scopes, created_at, last_used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            Arg::Text(&approval.grant_id),
            Arg::Text(&approval.merchant_id),
            Arg::Text(&approval.client_id),
            Arg::Text(&approval.user_id),
            Arg::Text(&scopes),
            Arg::Int(approval.now),
            Arg::Int(approval.now),
        ],
    )
    .await?;
    conn.exec(
        "INSERT INTO authorization_codes (code_hash, grant_id, redirect_uri, \
         redirect_uri_explicit, code_challenge, code_challenge_method, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            Arg::Blob(&approval.code_hash),
            Arg::Text(&approval.grant_id),
            Arg::Text(&approval.redirect_uri),
            Arg::Int(i64::from(approval.redirect_uri_explicit)),
            Arg::OptText(approval.code_challenge.as_deref()),
            Arg::OptText(approval.code_challenge_method),
            Arg::Int(approval.now),
            Arg::Int(approval.code_expires_at),
        ],
    )
    .await?;
    for kind in APPROVAL_EVENTS {
        let event = AuditEvent::new(kind)
            .merchant(approval.merchant_id.as_str())
            .client(approval.client_id.as_str())
            .grant(approval.grant_id.as_str())
            .user(approval.user_id.as_str())
            .ip(approval.origin.client_ip.clone());
        record(conn, &event, approval.now).await?;
    }
    Ok(())
}

/// A code with its grant, as a redemption reads it.
struct CodeRow {
    grant_id: String,
    stored: StoredCode,
    merchant_id: String,
    scopes: ScopeSet,
}

async fn redeem_code(conn: &mut impl Sql, req: CodeRedemption) -> Result<Answer, StoreError> {
    let code_hash = &req.code_hash[..];
    let row = conn
        .fetch_row(
            "SELECT c.grant_id, c.redirect_uri, c.redirect_uri_explicit, c.code_challenge, \
                    c.code_challenge_method, c.expires_at, c.consumed_at, \
                    g.client_id, g.merchant_id, g.scopes, g.revoked_at \
             FROM authorization_codes c JOIN grants g ON g.grant_id = c.grant_id \
             WHERE c.code_hash = $1",
            &[Arg::Blob(code_hash)],
            |r| {
                let grant_id = r.text(0)?;
                Ok(CodeRow {
                    stored: StoredCode {
                        redirect_uri: r.text(1)?,
                        redirect_uri_explicit: flag(r.int(2)?),
                        code_challenge: r.opt_text(3)?,
                        code_challenge_method: r.opt_text(4)?,
                        expires_at: r.int(5)?,
                        consumed_at: r.opt_int(6)?,
                        client_id: r.text(7)?,
                        grant_revoked: r.opt_int(10)?.is_some(),
                    },
                    merchant_id: r.text(8)?,
                    scopes: parse_scopes(&grant_id, &r.text(9)?)?,
                    grant_id,
                })
            },
        )
        .await?;
    let Some(CodeRow {
        grant_id,
        stored,
        merchant_id,
        scopes,
    }) = row
    else {
        return Ok((
            Err(OauthError::invalid_grant(
                "the authorization code is invalid",
            )),
            None,
        ));
    };

    match code::check(&stored, &req.presented, req.now) {
        Verdict::Refuse(e) => return Ok((Err(e), None)),
        Verdict::Replay => return replayed(conn, &grant_id, &req).await,
        Verdict::Redeem => {}
    }
    // The row count decides a race between two redemptions of one code.
    let consumed = conn
        .exec(
            "UPDATE authorization_codes SET consumed_at = $1 \
             WHERE code_hash = $2 AND consumed_at IS NULL",
            &[Arg::Int(req.now), Arg::Blob(code_hash)],
        )
        .await?;
    if consumed != 1 {
        return replayed(conn, &grant_id, &req).await;
    }
    insert_tokens(conn, &grant_id, &scopes, &req.tokens, req.now).await?;
    let event = AuditEvent::new(AuditKind::CodeRedeemed)
        .merchant(merchant_id.as_str())
        .client(req.presented.client_id.as_str())
        .grant(grant_id.as_str())
        .ip(req.origin.client_ip.clone());
    record(conn, &event, req.now).await?;
    Ok((
        Ok(Issued {
            grant_id,
            merchant_id,
            scopes,
        }),
        None,
    ))
}

/// A second redemption: revoke what the first one created (RFC 6749 §4.1.2).
async fn replayed(
    conn: &mut impl Sql,
    grant_id: &str,
    req: &CodeRedemption,
) -> Result<Answer, StoreError> {
    let event = AuditEvent::new(AuditKind::CodeReplayed)
        .client(req.presented.client_id.as_str())
        .grant(grant_id)
        .ip(req.origin.client_ip.clone());
    record(conn, &event, req.now).await?;
    let revoked = revoke_grant(
        conn,
        grant_id,
        RevokeReason::CodeReplay,
        req.now,
        &req.origin,
    )
    .await?;
    Ok((
        Err(OauthError::invalid_grant(
            "the authorization code was already used; the tokens issued for it have been revoked",
        )),
        Some(Reuse {
            reason: RevokeReason::CodeReplay,
            revoked,
        }),
    ))
}

/// A refresh token with its grant and the state of its successor, as a refresh reads it.
struct RefreshRow {
    grant_id: String,
    state: PresentedState,
    successor: Option<Vec<u8>>,
    client_id: String,
    merchant_id: String,
    granted: ScopeSet,
    grant_revoked: bool,
}

async fn refresh(conn: &mut impl Sql, req: Refresh) -> Result<Answer, StoreError> {
    let presented = &req.refresh_hash[..];
    let new_hash = &req.tokens.refresh_hash[..];
    // From here until commit no other refresh, retry or revocation of this grant runs, so the
    // state read next is the state the decision acts on.
    lock_grant_of_refresh_token(conn, presented).await?;
    let row = conn
        .fetch_row(
            "SELECT r.expires_at, r.consumed_at, r.retired_at, r.successor_hash, \
                    s.consumed_at, s.retired_at, \
                    g.client_id, g.merchant_id, g.scopes, g.revoked_at, r.grant_id \
             FROM refresh_tokens r \
             JOIN grants g ON g.grant_id = r.grant_id \
             LEFT JOIN refresh_tokens s ON s.token_hash = r.successor_hash \
             WHERE r.token_hash = $1",
            &[Arg::Blob(presented)],
            |r| {
                let grant_id = r.text(10)?;
                let successor = r.opt_blob(3)?;
                Ok(RefreshRow {
                    state: PresentedState {
                        expires_at: r.int(0)?,
                        consumed_at: r.opt_int(1)?,
                        retired_at: r.opt_int(2)?,
                        successor_unused: successor.is_some()
                            && r.opt_int(4)?.is_none()
                            && r.opt_int(5)?.is_none(),
                    },
                    successor,
                    client_id: r.text(6)?,
                    merchant_id: r.text(7)?,
                    granted: parse_scopes(&grant_id, &r.text(8)?)?,
                    grant_revoked: r.opt_int(9)?.is_some(),
                    grant_id,
                })
            },
        )
        .await?;
    let Some(RefreshRow {
        grant_id,
        state,
        successor,
        client_id,
        merchant_id,
        granted,
        grant_revoked,
    }) = row
    else {
        return Ok((
            Err(OauthError::invalid_grant("the refresh token is invalid")),
            None,
        ));
    };
    if client_id != req.client_id {
        return Ok((
            Err(OauthError::invalid_grant(
                "the refresh token was not issued to this client_id",
            )),
            None,
        ));
    }
    if grant_revoked {
        return Ok((
            Err(OauthError::invalid_grant(
                "the authorization behind this refresh token has been revoked",
            )),
            None,
        ));
    }
    let scopes = match &req.scope {
        None => granted.clone(),
        Some(asked) if asked.is_subset_of(&granted) && !asked.is_empty() => asked.clone(),
        Some(asked) => {
            let extra: Vec<_> = asked.outside(&granted).collect();
            return Ok((
                Err(OauthError::invalid_scope(format!(
                    "scope may only narrow the granted scopes; not granted: {}",
                    extra.join(" ")
                ))),
                None,
            ));
        }
    };

    // The updates stay conditional: under the lock they always apply, and if a future change
    // ever let two writers in, the row counts would still refuse the second.
    let applied = match refresh::decide(state, req.now, req.grace_ms) {
        Decision::Expired => {
            return Ok((
                Err(OauthError::invalid_grant(
                    "the refresh token has expired; authorize the application again",
                )),
                None,
            ))
        }
        Decision::Reuse => {
            let event = AuditEvent::new(AuditKind::RefreshReuseDetected)
                .merchant(merchant_id.as_str())
                .client(client_id.as_str())
                .grant(grant_id.as_str())
                .ip(req.origin.client_ip.clone());
            record(conn, &event, req.now).await?;
            let revoked = revoke_grant(
                conn,
                &grant_id,
                RevokeReason::RefreshReuse,
                req.now,
                &req.origin,
            )
            .await?;
            return Ok((
                Err(OauthError::invalid_grant(
                    "the refresh token was already used; the authorization has been revoked",
                )),
                Some(Reuse {
                    reason: RevokeReason::RefreshReuse,
                    revoked,
                }),
            ));
        }
        Decision::Rotate => {
            conn.exec(
                "UPDATE refresh_tokens SET consumed_at = $1, successor_hash = $2 \
                 WHERE token_hash = $3 AND consumed_at IS NULL AND retired_at IS NULL",
                &[Arg::Int(req.now), Arg::Blob(new_hash), Arg::Blob(presented)],
            )
            .await?
                == 1
        }
        Decision::GraceRetry => {
            let successor = successor.as_deref().unwrap_or_default();
            let retired = conn
                .exec(
                    "UPDATE refresh_tokens SET retired_at = $1 \
                     WHERE token_hash = $2 AND consumed_at IS NULL AND retired_at IS NULL",
                    &[Arg::Int(req.now), Arg::Blob(successor)],
                )
                .await?
                == 1;
            if retired {
                conn.exec(
                    "UPDATE refresh_tokens SET successor_hash = $1 WHERE token_hash = $2",
                    &[Arg::Blob(new_hash), Arg::Blob(presented)],
                )
                .await?;
            }
            retired
        }
    };
    if !applied {
        return Err(StoreError::Inconsistent(format!(
            "grant {grant_id}: a refresh token changed while its grant was locked"
        )));
    }
    insert_tokens(conn, &grant_id, &scopes, &req.tokens, req.now).await?;
    let event = AuditEvent::new(AuditKind::TokenRefreshed)
        .merchant(merchant_id.as_str())
        .client(client_id.as_str())
        .grant(grant_id.as_str())
        .ip(req.origin.client_ip.clone());
    record(conn, &event, req.now).await?;
    Ok((
        Ok(Issued {
            grant_id,
            merchant_id,
            scopes,
        }),
        None,
    ))
}

/// Takes the row lock of the grant behind a refresh token until the transaction ends,
/// serialising every change to the grant's credentials. PostgreSQL: `FOR NO KEY UPDATE` (the
/// lock an `UPDATE` of the row takes, so it also waits for, and holds off, revocations); an
/// unknown token locks nothing. SQLite needs nothing (and has no such clause): its one writer
/// runs one write at a time.
async fn lock_grant_of_refresh_token(
    conn: &mut impl Sql,
    token_hash: &[u8],
) -> Result<(), StoreError> {
    if conn.backend() == Backend::Postgres {
        conn.fetch_row(
            "SELECT g.grant_id FROM grants g JOIN refresh_tokens r ON r.grant_id = g.grant_id \
             WHERE r.token_hash = $1 FOR NO KEY UPDATE OF g",
            &[Arg::Blob(token_hash)],
            |_| Ok(()),
        )
        .await?;
    }
    Ok(())
}

/// Issues an access/refresh pair for a grant (shared by every grant type).
pub(crate) async fn insert_tokens(
    conn: &mut impl Sql,
    grant_id: &str,
    scopes: &ScopeSet,
    tokens: &NewTokens,
    now: Millis,
) -> Result<(), StoreError> {
    let scopes = scopes.to_wire();
    conn.exec(
        "INSERT INTO access_tokens (token_hash, grant_id, scopes, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
        &[
            Arg::Blob(&tokens.access_hash),
            Arg::Text(grant_id),
            Arg::Text(&scopes),
            Arg::Int(now),
            Arg::Int(tokens.access_expires_at),
        ],
    )
    .await?;
    conn.exec(
        "INSERT INTO refresh_tokens (token_hash, grant_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4)",
        &[
            Arg::Blob(&tokens.refresh_hash),
            Arg::Text(grant_id),
            Arg::Int(now),
            Arg::Int(tokens.refresh_expires_at),
        ],
    )
    .await?;
    // `grants.last_used_at` follows from the access-token insert, to the minute (a trigger,
    // see the `grant_last_used` and `grant_last_used_to_the_minute` migrations).
    Ok(())
}

/// Revokes a grant (if still live) and records it; `false` if it was already revoked.
pub(crate) async fn revoke_grant(
    conn: &mut impl Sql,
    grant_id: &str,
    reason: RevokeReason,
    now: Millis,
    origin: &Origin,
) -> Result<bool, StoreError> {
    let revoked = conn
        .fetch_row(
            "UPDATE grants SET revoked_at = $1, revoked_reason = $2 \
             WHERE grant_id = $3 AND revoked_at IS NULL RETURNING merchant_id, client_id",
            &[
                Arg::Int(now),
                Arg::Text(reason.as_str()),
                Arg::Text(grant_id),
            ],
            |r| Ok((r.text(0)?, r.text(1)?)),
        )
        .await?;
    let Some((merchant_id, client_id)) = revoked else {
        return Ok(false);
    };
    let event = revocation_event(reason, origin)
        .merchant(merchant_id)
        .client(client_id)
        .grant(grant_id);
    record(conn, &event, now).await?;
    Ok(true)
}

/// The audit event of a revocation, all but the grant's names (`revoke_grant` adds them; the
/// batched revocation takes its other columns from here, so both write the same row).
pub(crate) fn revocation_event(reason: RevokeReason, origin: &Origin) -> AuditEvent {
    let event = AuditEvent::new(AuditKind::GrantRevoked)
        .ip(origin.client_ip.clone())
        .detail(serde_json::json!({ "reason": reason.as_str() }));
    match &origin.actor {
        Some(actor) => event.by(actor),
        None => event,
    }
}

async fn revoke_by_token(
    conn: &mut impl Sql,
    req: TokenRevocation,
) -> Result<RevokeOutcome, StoreError> {
    let found = find_token_owner(conn, &req.access_hash, &req.refresh_hash, req.now).await?;
    let Some(owner) = found else {
        return Ok(RevokeOutcome::NotLive);
    };
    if owner.client_id != req.client_id {
        return Ok(RevokeOutcome::OtherClient);
    }
    if !owner.live {
        return Ok(RevokeOutcome::NotLive);
    }
    let revoked = revoke_grant(
        conn,
        &owner.grant_id,
        RevokeReason::ClientRequest,
        req.now,
        &req.origin,
    )
    .await?;
    Ok(if revoked {
        RevokeOutcome::Revoked {
            grant_id: owner.grant_id,
        }
    } else {
        RevokeOutcome::NotLive
    })
}

struct TokenOwner {
    grant_id: String,
    client_id: String,
    /// The token itself is usable and its grant is not revoked.
    live: bool,
}

async fn find_token_owner(
    conn: &mut impl Sql,
    access_hash: &Digest,
    refresh_hash: &Digest,
    now: Millis,
) -> Result<Option<TokenOwner>, StoreError> {
    let access = conn
        .fetch_row(
            "SELECT g.grant_id, g.client_id, g.revoked_at, a.expires_at \
             FROM access_tokens a JOIN grants g ON g.grant_id = a.grant_id \
             WHERE a.token_hash = $1",
            &[Arg::Blob(access_hash)],
            |r| {
                Ok(TokenOwner {
                    grant_id: r.text(0)?,
                    client_id: r.text(1)?,
                    live: r.opt_int(2)?.is_none() && r.int(3)? > now,
                })
            },
        )
        .await?;
    if access.is_some() {
        return Ok(access);
    }
    conn.fetch_row(
        "SELECT g.grant_id, g.client_id, g.revoked_at, r.expires_at, r.consumed_at, r.retired_at \
         FROM refresh_tokens r JOIN grants g ON g.grant_id = r.grant_id WHERE r.token_hash = $1",
        &[Arg::Blob(refresh_hash)],
        |r| {
            Ok(TokenOwner {
                grant_id: r.text(0)?,
                client_id: r.text(1)?,
                live: r.opt_int(2)?.is_none()
                    && r.int(3)? > now
                    && r.opt_int(4)?.is_none()
                    && r.opt_int(5)?.is_none(),
            })
        },
    )
    .await
}

pub(crate) fn parse_scopes(grant_id: &str, text: &str) -> Result<ScopeSet, StoreError> {
    ScopeSet::parse(text)
        .map_err(|_| StoreError::Inconsistent(format!("grant {grant_id}: bad scopes")))
}

#[cfg(test)]
mod tests {
    use sqlx::Connection;
    use ucoauth_testkit::{Backend, TestDatabase};

    use crate::store::{generic_plan, resource::FIND_LIVE_REFRESH, Store, StoreOptions};

    /// PostgreSQL keeps a prepared statement's generic plan, and the first ones are made on a
    /// new database, before any statistics. The refresh-token lookup must still reach the
    /// grant, the merchant and the application by primary key from the one token row: a plan
    /// that starts from another table walks all of its rows on every lookup once the tables
    /// have grown.
    #[tokio::test]
    async fn the_refresh_token_lookup_goes_from_the_token_by_primary_keys_before_statistics() {
        let Some(db) = TestDatabase::create(Backend::Postgres).await else {
            return;
        };
        let store = Store::open(&db.url, StoreOptions::default()).await.unwrap();
        let mut conn = store.pool().acquire().await.unwrap().detach();
        for sql in [
            "INSERT INTO merchants (merchant_id, name, created_at) VALUES ('M', 'M', 0)",
            "INSERT INTO applications (client_id, owner_merchant_id, name, description, \
             developer_name, developer_email, developer_url, redirect_uris, scopes, \
             require_secret, require_pkce, secret_hash, secret_hint, created_at, updated_at) \
             VALUES ('A', 'M', 'A', '', '', '', '', '', '', 1, 0, '\\x00', '', 0, 0)",
            "INSERT INTO grants (grant_id, merchant_id, client_id, scopes, created_at) \
             SELECT 'g' || i, 'M', 'A', '', 0 FROM generate_series(1, 64) i",
            "INSERT INTO access_tokens (token_hash, grant_id, scopes, created_at, expires_at) \
             SELECT decode(md5(i::text), 'hex'), 'g' || i, '', 0, 1 FROM generate_series(1, 64) i",
            "INSERT INTO refresh_tokens (token_hash, grant_id, created_at, expires_at) \
             SELECT decode(md5(i::text), 'hex'), 'g' || i, 0, 1 FROM generate_series(1, 64) i",
            "SET plan_cache_mode = force_generic_plan",
        ] {
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
        // (The access-token lookup runs batched on PostgreSQL: `one_statement`'s plan test.)
        for (name, sql) in [("refresh", FIND_LIVE_REFRESH)] {
            let plan = generic_plan(&mut conn, name, sql, "'\\x00', 0").await;
            for table in ["grants g", "merchants m", "applications app"] {
                let step = plan.lines().find(|l| l.contains(&format!(" on {table} ")));
                assert!(
                    step.is_some_and(|s| s.contains("Index Scan using") && s.contains("_pkey")),
                    "{name}: {table} is not reached by its primary key:\n{plan}"
                );
            }
        }
        let _ = conn.close().await;
        store.close().await;
    }
}
