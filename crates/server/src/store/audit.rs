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

/// A value bound to one of the filter's placeholders.
enum Value {
    Text(String),
    Int(i64),
}

impl AuditFilter {
    /// The `WHERE` clause of the filters that are set, with their values in placeholder
    /// order. Only those appear: written as `($1 IS NULL OR merchant_id = $1)`, a filter hid
    /// its column from the planner (SQLite's and PostgreSQL's generic plans alike), so no
    /// index served it and every count, and every listing of a rare kind, read the whole
    /// table (docs/performance.md, "Noticed on the way").
    fn conditions(&self) -> (String, Vec<Value>) {
        let mut clauses = Vec::new();
        let mut values = Vec::new();
        let mut add = |column: &str, op: &str, value: Value| {
            values.push(value);
            clauses.push(format!("{column} {op} ${}", values.len()));
        };
        if let Some(m) = &self.merchant_id {
            add("merchant_id", "=", Value::Text(m.clone()));
        }
        if let Some(k) = &self.kind {
            add("kind", "=", Value::Text(k.clone()));
        }
        if let Some(t) = self.since {
            add("at", ">=", Value::Int(t));
        }
        let sql = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        (sql, values)
    }

    /// The count's statement and its values.
    fn counting(&self) -> (String, Vec<Value>) {
        let (conditions, values) = self.conditions();
        (
            format!("SELECT COUNT(*) FROM audit_events{conditions}"),
            values,
        )
    }

    /// The listing's statement and its values; the limit and the offset are the two
    /// placeholders after them. Newest first by time, then by id, which the indexes by
    /// `(merchant_id, at)` and by `at` give in order, so a page reads its rows and no more.
    fn listing(&self) -> (String, Vec<Value>) {
        let (conditions, values) = self.conditions();
        let sql = format!(
            "SELECT event_id, at, kind, merchant_id, client_id, grant_id, user_id, client_ip, \
                    detail \
             FROM audit_events{conditions} \
             ORDER BY at DESC, event_id DESC LIMIT ${} OFFSET ${}",
            values.len() + 1,
            values.len() + 2
        );
        (sql, values)
    }
}

/// `sql` with the filter's values bound to its first placeholders.
fn bound(
    sql: &str,
    values: Vec<Value>,
) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
    values
        .into_iter()
        .fold(sqlx::query(sql), |query, value| match value {
            Value::Text(t) => query.bind(t),
            Value::Int(i) => query.bind(i),
        })
}

impl Store {
    /// Records an event that is not part of another write (e.g. a failed sign-in).
    pub async fn audit(&self, event: AuditEvent, at: Millis) -> Result<(), StoreError> {
        self.write(move |conn| Box::pin(async move { record(conn, &event, at).await }))
            .await
    }

    /// How many events match `filter` (for paging).
    pub async fn count_audit(&self, filter: &AuditFilter) -> Result<i64, StoreError> {
        let (sql, values) = filter.counting();
        let row = bound(&sql, values).fetch_one(self.pool()).await?;
        Ok(row.try_get(0)?)
    }

    /// Newest first; `limit` from `offset`.
    pub async fn list_audit(
        &self,
        filter: &AuditFilter,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let (sql, values) = filter.listing();
        let rows = bound(&sql, values)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreOptions;

    /// SQLite's plan for `sql` with `values` (and a limit and offset if it lists).
    async fn plan(store: &Store, sql: &str, values: Vec<Value>) -> String {
        let explain = format!("EXPLAIN QUERY PLAN {sql}");
        let mut query = bound(&explain, values);
        if sql.contains("LIMIT") {
            query = query.bind(50_i64).bind(0_i64);
        }
        let rows = query.fetch_all(store.pool()).await.unwrap();
        rows.iter()
            .map(|r| r.try_get::<String, _>(3).unwrap())
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn filter(merchant: Option<&str>, kind: Option<&str>) -> AuditFilter {
        AuditFilter {
            merchant_id: merchant.map(str::to_owned),
            kind: kind.map(str::to_owned),
            since: None,
        }
    }

    #[tokio::test]
    async fn each_page_and_count_of_a_merchants_trail_is_served_by_an_index_without_a_sort() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("a.db").display());
        let store = Store::open(&url, StoreOptions::default()).await.unwrap();

        for f in [
            filter(Some("M1"), None),
            filter(Some("M1"), Some("grant.revoked")),
        ] {
            let (sql, values) = f.listing();
            let listing = plan(&store, &sql, values).await;
            assert!(
                listing.contains("INDEX audit_events_by_merchant")
                    && !listing.contains("TEMP B-TREE"),
                "{f:?}: {listing}"
            );
            let (sql, values) = f.counting();
            let count = plan(&store, &sql, values).await;
            assert!(
                count.contains("INDEX audit_events_by_merchant"),
                "{f:?}: {count}"
            );
        }
        // The whole trail, or one kind of it (the CLI): newest first through the time index.
        for f in [filter(None, None), filter(None, Some("login.failed"))] {
            let (sql, values) = f.listing();
            let listing = plan(&store, &sql, values).await;
            assert!(
                listing.contains("INDEX audit_events_by_time") && !listing.contains("TEMP B-TREE"),
                "{f:?}: {listing}"
            );
        }
        store.close().await;
    }

    #[test]
    fn only_the_filters_that_are_set_become_conditions_numbered_in_order() {
        let all = AuditFilter {
            merchant_id: Some("M1".into()),
            kind: Some("login.failed".into()),
            since: Some(5),
        };
        assert_eq!(
            all.conditions().0,
            " WHERE merchant_id = $1 AND kind = $2 AND at >= $3"
        );
        assert!(all.listing().0.ends_with("LIMIT $4 OFFSET $5"));
        let kind = filter(None, Some("login.failed"));
        assert_eq!(kind.conditions().0, " WHERE kind = $1");
        assert!(kind.listing().0.ends_with("LIMIT $2 OFFSET $3"));
        assert_eq!(AuditFilter::default().conditions().0, "");
        assert!(AuditFilter::default()
            .listing()
            .0
            .ends_with("LIMIT $1 OFFSET $2"));
    }
}
