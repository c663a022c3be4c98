//! Device codes (RFC 8628): issue, look up by user code, approve or deny, and poll/redeem.
//!
//! The rules live in `domain::device`; each method here is one `Store::write` that reads the
//! row, asks the rule, and carries out its decision with conditional updates whose row counts
//! settle races (two browsers deciding one code, two polls redeeming one code). Rate-limit
//! counters are bumped in the same write as the operation they guard.

use sqlx::{AnyConnection, Row};

use super::{
    audit::record,
    grants::{insert_tokens, parse_scopes, revoke_grant, Issued, NewTokens, RevokeReason},
    rate_limits::{self, Counter, TooMany},
    Store, StoreError,
};
use crate::{
    clock::Millis,
    domain::{
        audit::{AuditEvent, AuditKind, Origin},
        device::{self, NotPending, Poll, StoredDeviceCode},
        model::User,
        scope::ScopeSet,
        secret::Digest,
        OauthError, OauthErrorKind,
    },
};

/// A device authorization request to record.
#[derive(Debug, Clone)]
pub struct NewDeviceCode {
    pub device_code_hash: Digest,
    pub user_code_hash: Digest,
    pub client_id: String,
    pub scopes: ScopeSet,
    pub now: Millis,
    pub expires_at: Millis,
    pub interval_ms: Millis,
    /// Counters this request counts against (per client IP).
    pub counters: Vec<Counter>,
    pub origin: Origin,
}

/// A pending device request, as the verification page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDevice {
    pub client_id: String,
    pub scopes: ScopeSet,
    pub expires_at: Millis,
}

/// What a user-code lookup or decision found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification<T> {
    Ok(T),
    NotPending(NotPending),
    TooMany(TooMany),
}

/// The merchant user's answer on the verification page.
#[derive(Debug, Clone)]
pub struct DeviceDecision {
    pub user_code_hash: Digest,
    pub user: User,
    /// `Some(new grant id)` to approve, `None` to deny.
    pub approve_as_grant: Option<String>,
    pub now: Millis,
    pub counters: Vec<Counter>,
    pub origin: Origin,
}

/// A poll of the token endpoint with a device code, already client-authenticated.
#[derive(Debug, Clone)]
pub struct DevicePoll {
    pub device_code_hash: Digest,
    pub client_id: String,
    pub now: Millis,
    /// The pair to issue if the code is redeemed now.
    pub tokens: NewTokens,
    pub counters: Vec<Counter>,
    pub origin: Origin,
}

/// What a poll got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollOutcome {
    Issued(Issued),
    Refused(OauthError),
    TooMany(TooMany),
}

impl Store {
    /// Records a device authorization request. `Ok(Err(_))`: over a rate limit, nothing
    /// recorded. `Err(StoreError::Conflict("user_code"))`: the user code is taken; draw another.
    pub async fn create_device_code(
        &self,
        new: NewDeviceCode,
    ) -> Result<Result<(), TooMany>, StoreError> {
        self.write(move |conn| {
            Box::pin(async move {
                if let Some(too_many) = rate_limits::hit(conn, &new.counters, new.now).await? {
                    return Ok(Err(too_many));
                }
                sqlx::query(
                    "INSERT INTO device_codes (device_code_hash, user_code_hash, client_id, scopes, \
                     created_at, expires_at, interval_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(new.device_code_hash.to_vec())
                .bind(new.user_code_hash.to_vec())
                .bind(&new.client_id)
                .bind(new.scopes.to_wire())
                .bind(new.now)
                .bind(new.expires_at)
                .bind(new.interval_ms)
                .execute(&mut *conn)
                .await
                .map_err(|e| StoreError::on_unique(e, "user_code"))?;
                let event = AuditEvent::new(AuditKind::DeviceAuthorizationRequested)
                    .client(new.client_id.as_str())
                    .ip(new.origin.client_ip.clone())
                    .detail(serde_json::json!({ "scope": new.scopes.to_wire() }));
                record(conn, &event, new.now).await?;
                Ok(Ok(()))
            })
        })
        .await
    }

    /// Looks up a user code for the verification page. Every lookup counts against
    /// `counters`; a lookup that finds a pending request is refunded, so only failures count.
    pub async fn find_pending_device(
        &self,
        user_code_hash: Digest,
        now: Millis,
        counters: Vec<Counter>,
    ) -> Result<Verification<PendingDevice>, StoreError> {
        self.write(move |conn| {
            Box::pin(async move {
                if let Some(too_many) = rate_limits::hit(conn, &counters, now).await? {
                    return Ok(Verification::TooMany(too_many));
                }
                let found = read_by_user_code(conn, &user_code_hash).await?;
                if let Err(why) = device::verification(found.as_ref().map(|(s, _)| s), now) {
                    return Ok(Verification::NotPending(why));
                }
                let Some((stored, scopes)) = found else {
                    return Ok(Verification::NotPending(NotPending::Unknown));
                };
                rate_limits::refund(conn, &counters, now).await?;
                Ok(Verification::Ok(PendingDevice {
                    client_id: stored.client_id,
                    scopes,
                    expires_at: stored.expires_at,
                }))
            })
        })
        .await
    }

    /// Approves (creating the grant) or denies a pending request. Counts like
    /// [`Store::find_pending_device`]. Returns the grant's scopes and client on approval.
    pub async fn decide_device(
        &self,
        d: DeviceDecision,
    ) -> Result<Verification<PendingDevice>, StoreError> {
        self.write(move |conn| Box::pin(decide(conn, d))).await
    }

    /// A poll of the token endpoint (RFC 8628 §3.4–3.5).
    pub async fn poll_device(&self, p: DevicePoll) -> Result<PollOutcome, StoreError> {
        // A replayed device code revokes its grant (an `invalid_grant` refusal); access-token
        // lookups are kept across any other outcome.
        let lookups = self.access.forget_all_when_done();
        let outcome = self.write(move |conn| Box::pin(poll(conn, p))).await?;
        if !matches!(&outcome, PollOutcome::Refused(e) if e.kind == OauthErrorKind::InvalidGrant) {
            lookups.disarm();
        }
        Ok(outcome)
    }
}

/// The row behind a user code and its requested scopes.
async fn read_by_user_code(
    conn: &mut AnyConnection,
    user_code_hash: &Digest,
) -> Result<Option<(StoredDeviceCode, ScopeSet)>, StoreError> {
    let row = sqlx::query(
        "SELECT client_id, expires_at, interval_ms, last_polled_at, approved_at, denied_at, \
                redeemed_at, scopes \
         FROM device_codes WHERE user_code_hash = $1",
    )
    .bind(user_code_hash.to_vec())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let client_id: String = r.try_get(0)?;
    let scopes = ScopeSet::parse(&r.try_get::<String, _>(7)?).map_err(|_| {
        StoreError::Inconsistent(format!("device code of client {client_id}: bad scopes"))
    })?;
    Ok(Some((
        StoredDeviceCode {
            client_id,
            expires_at: r.try_get(1)?,
            interval_ms: r.try_get(2)?,
            last_polled_at: r.try_get(3)?,
            approved: r.try_get::<Option<i64>, _>(4)?.is_some(),
            denied: r.try_get::<Option<i64>, _>(5)?.is_some(),
            redeemed: r.try_get::<Option<i64>, _>(6)?.is_some(),
            grant_revoked: false,
        },
        scopes,
    )))
}

async fn decide(
    conn: &mut AnyConnection,
    d: DeviceDecision,
) -> Result<Verification<PendingDevice>, StoreError> {
    if let Some(too_many) = rate_limits::hit(conn, &d.counters, d.now).await? {
        return Ok(Verification::TooMany(too_many));
    }
    let hash = d.user_code_hash.to_vec();
    let column = if d.approve_as_grant.is_some() {
        "approved_at"
    } else {
        "denied_at"
    };
    // The row count decides between two browsers deciding the same code.
    let claimed = sqlx::query(&format!(
        "UPDATE device_codes SET {column} = $1, user_id = $2, merchant_id = $3 \
         WHERE user_code_hash = $4 AND approved_at IS NULL AND denied_at IS NULL \
           AND redeemed_at IS NULL AND expires_at > $5"
    ))
    .bind(d.now)
    .bind(&d.user.user_id)
    .bind(&d.user.merchant_id)
    .bind(&hash)
    .bind(d.now)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    let found = read_by_user_code(conn, &d.user_code_hash).await?;
    if !claimed {
        let why = match device::verification(found.as_ref().map(|(s, _)| s), d.now) {
            Err(why) => why,
            // Not claimable yet looks pending: it changed under us; report it as decided.
            Ok(()) => NotPending::Decided,
        };
        return Ok(Verification::NotPending(why));
    }
    let Some((stored, scopes)) = found else {
        return Err(StoreError::Inconsistent(
            "a device code vanished inside its own transaction".into(),
        ));
    };
    let kind = if d.approve_as_grant.is_some() {
        AuditKind::DeviceApproved
    } else {
        AuditKind::DeviceDenied
    };
    let mut event = AuditEvent::new(kind)
        .merchant(d.user.merchant_id.as_str())
        .client(stored.client_id.as_str())
        .user(d.user.user_id.as_str())
        .ip(d.origin.client_ip.clone())
        .detail(serde_json::json!({ "scope": scopes.to_wire() }));
    event.grant_id.clone_from(&d.approve_as_grant);
    record(conn, &event, d.now).await?;
    if let Some(grant_id) = &d.approve_as_grant {
        sqlx::query(
            "INSERT INTO grants (grant_id, merchant_id, client_id, user_id, scopes, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(grant_id)
        .bind(&d.user.merchant_id)
        .bind(&stored.client_id)
        .bind(&d.user.user_id)
        .bind(scopes.to_wire())
        .bind(d.now)
        .execute(&mut *conn)
        .await?;
        sqlx::query("UPDATE device_codes SET grant_id = $1 WHERE user_code_hash = $2")
            .bind(grant_id)
            .bind(&hash)
            .execute(&mut *conn)
            .await?;
    }
    rate_limits::refund(conn, &d.counters, d.now).await?;
    Ok(Verification::Ok(PendingDevice {
        client_id: stored.client_id,
        scopes,
        expires_at: stored.expires_at,
    }))
}

async fn poll(conn: &mut AnyConnection, p: DevicePoll) -> Result<PollOutcome, StoreError> {
    if let Some(too_many) = rate_limits::hit(conn, &p.counters, p.now).await? {
        return Ok(PollOutcome::TooMany(too_many));
    }
    let hash = p.device_code_hash.to_vec();
    let row = sqlx::query(
        "SELECT d.client_id, d.expires_at, d.interval_ms, d.last_polled_at, d.approved_at, \
                d.denied_at, d.redeemed_at, d.grant_id, g.merchant_id, g.scopes, g.revoked_at \
         FROM device_codes d LEFT JOIN grants g ON g.grant_id = d.grant_id \
         WHERE d.device_code_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = row else {
        return Ok(PollOutcome::Refused(OauthError::invalid_grant(
            "the device_code is invalid",
        )));
    };
    let grant_id: Option<String> = r.try_get(7)?;
    let stored = StoredDeviceCode {
        client_id: r.try_get(0)?,
        expires_at: r.try_get(1)?,
        interval_ms: r.try_get(2)?,
        last_polled_at: r.try_get(3)?,
        approved: r.try_get::<Option<i64>, _>(4)?.is_some(),
        denied: r.try_get::<Option<i64>, _>(5)?.is_some(),
        redeemed: r.try_get::<Option<i64>, _>(6)?.is_some(),
        grant_revoked: r.try_get::<Option<i64>, _>(10)?.is_some(),
    };
    match device::poll(&stored, &p.client_id, p.now) {
        Poll::Refuse(e) => {
            if e.kind == OauthErrorKind::ExpiredToken {
                expired(conn, &p, &hash, &stored).await?;
            }
            Ok(PollOutcome::Refused(e))
        }
        Poll::Replay => Ok(PollOutcome::Refused(
            replayed(conn, grant_id.as_deref(), &p).await?,
        )),
        Poll::SlowDown { new_interval_ms } => {
            sqlx::query(
                "UPDATE device_codes SET interval_ms = $1, last_polled_at = $2 \
                 WHERE device_code_hash = $3",
            )
            .bind(new_interval_ms)
            .bind(p.now)
            .bind(&hash)
            .execute(&mut *conn)
            .await?;
            Ok(PollOutcome::Refused(device::slow_down_error(
                new_interval_ms,
            )))
        }
        Poll::Pending => {
            sqlx::query("UPDATE device_codes SET last_polled_at = $1 WHERE device_code_hash = $2")
                .bind(p.now)
                .bind(&hash)
                .execute(&mut *conn)
                .await?;
            Ok(PollOutcome::Refused(device::pending_error()))
        }
        Poll::Redeem => {
            let Some(grant_id) = grant_id else {
                return Err(StoreError::Inconsistent(
                    "an approved device code has no grant".into(),
                ));
            };
            let merchant_id: String = r.try_get(8)?;
            let scopes = parse_scopes(&grant_id, &r.try_get::<String, _>(9)?)?;
            // The row count decides between two polls redeeming the same code.
            let redeemed = sqlx::query(
                "UPDATE device_codes SET redeemed_at = $1, last_polled_at = $2 \
                 WHERE device_code_hash = $3 AND redeemed_at IS NULL AND approved_at IS NOT NULL",
            )
            .bind(p.now)
            .bind(p.now)
            .bind(&hash)
            .execute(&mut *conn)
            .await?
            .rows_affected()
                == 1;
            if !redeemed {
                return Ok(PollOutcome::Refused(
                    replayed(conn, Some(&grant_id), &p).await?,
                ));
            }
            insert_tokens(conn, &grant_id, &scopes, &p.tokens, p.now).await?;
            let event = AuditEvent::new(AuditKind::DeviceCodeRedeemed)
                .merchant(merchant_id.as_str())
                .client(p.client_id.as_str())
                .grant(grant_id.as_str())
                .ip(p.origin.client_ip.clone());
            record(conn, &event, p.now).await?;
            Ok(PollOutcome::Issued(Issued {
                grant_id,
                merchant_id,
                scopes,
            }))
        }
    }
}

/// A second redemption: revoke what the first one issued, as for a replayed authorization code
/// (the device code may have leaked, and whoever redeemed first holds live tokens).
async fn replayed(
    conn: &mut AnyConnection,
    grant_id: Option<&str>,
    p: &DevicePoll,
) -> Result<OauthError, StoreError> {
    let mut event = AuditEvent::new(AuditKind::DeviceCodeReplayed)
        .client(p.client_id.as_str())
        .ip(p.origin.client_ip.clone());
    event.grant_id = grant_id.map(str::to_owned);
    record(conn, &event, p.now).await?;
    if let Some(grant_id) = grant_id {
        revoke_grant(
            conn,
            grant_id,
            RevokeReason::DeviceCodeReplay,
            p.now,
            &p.origin,
        )
        .await?;
    }
    Ok(device::replay_error())
}

/// The first poll after a code's lifetime records its expiry; later polls do not. The
/// conditional update (the last poll was before the expiry) makes it once, also across nodes.
async fn expired(
    conn: &mut AnyConnection,
    p: &DevicePoll,
    hash: &[u8],
    stored: &StoredDeviceCode,
) -> Result<(), StoreError> {
    let first = sqlx::query(
        "UPDATE device_codes SET last_polled_at = $1 WHERE device_code_hash = $2 \
         AND (last_polled_at IS NULL OR last_polled_at < expires_at)",
    )
    .bind(p.now)
    .bind(hash.to_vec())
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if first {
        let event = AuditEvent::new(AuditKind::DeviceCodeExpired)
            .client(stored.client_id.as_str())
            .ip(p.origin.client_ip.clone())
            .detail(serde_json::json!({ "approved": stored.approved, "denied": stored.denied }));
        record(conn, &event, p.now).await?;
    }
    Ok(())
}
