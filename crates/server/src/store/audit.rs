//! The audit trail.

use sqlx::Row;

use super::{
    sql::{Arg, Sql},
    Store, StoreError,
};
use crate::{clock::Millis, domain::audit::AuditEvent};

/// An event as read back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditRecord {
    pub event_id: i64,
    pub at: Millis,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Records `event` inside the caller's write, so it commits or rolls back with the change.
pub(crate) async fn record(
    conn: &mut impl Sql,
    event: &AuditEvent,
    at: Millis,
) -> Result<(), StoreError> {
    conn.exec(
        "INSERT INTO audit_events \
         (at, kind, merchant_id, client_id, grant_id, user_id, client_ip, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            Arg::Int(at),
            Arg::Text(event.kind.map_or("unknown", |k| k.as_str())),
            Arg::OptText(event.merchant_id.as_deref()),
            Arg::OptText(event.client_id.as_deref()),
            Arg::OptText(event.grant_id.as_deref()),
            Arg::OptText(event.user_id.as_deref()),
            Arg::OptText(event.client_ip.as_deref()),
            Arg::OptText(event.detail.as_deref()),
        ],
    )
    .await?;
    Ok(())
}

/// Which events to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub merchant_id: Option<String>,
    pub kind: Option<String>,
    /// Only events at or after this time.
    pub since: Option<Millis>,
}

impl Store {
    /// Records an event that is not part of another write (e.g. a failed sign-in).
    pub async fn audit(&self, event: AuditEvent, at: Millis) -> Result<(), StoreError> {
        self.write(move |conn| Box::pin(async move { record(conn, &event, at).await }))
            .await
    }

    /// How many events match `filter` (for paging).
    pub async fn count_audit(&self, filter: &AuditFilter) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_events \
             WHERE ($1 IS NULL OR merchant_id = $1) AND ($2 IS NULL OR kind = $2) AND at >= $3",
        )
        .bind(filter.merchant_id.clone())
        .bind(filter.kind.clone())
        .bind(filter.since.unwrap_or(0))
        .fetch_one(self.pool())
        .await?)
    }

    /// Newest first; `limit` from `offset`.
    pub async fn list_audit(
        &self,
        filter: &AuditFilter,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT event_id, at, kind, merchant_id, client_id, grant_id, user_id, client_ip, detail \
             FROM audit_events \
             WHERE ($1 IS NULL OR merchant_id = $1) AND ($2 IS NULL OR kind = $2) AND at >= $3 \
             ORDER BY event_id DESC LIMIT $4 OFFSET $5",
        )
        .bind(filter.merchant_id.clone())
        .bind(filter.kind.clone())
        .bind(filter.since.unwrap_or(0))
        .bind(limit)
        .bind(offset)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditRecord {
                    event_id: r.try_get(0)?,
                    at: r.try_get(1)?,
                    kind: r.try_get(2)?,
                    merchant_id: r.try_get(3)?,
                    client_id: r.try_get(4)?,
                    grant_id: r.try_get(5)?,
                    user_id: r.try_get(6)?,
                    client_ip: r.try_get(7)?,
                    detail: r.try_get(8)?,
                })
            })
            .collect()
    }
}
