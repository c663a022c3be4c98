//! Merchants' simple API keys (`x-ultracart-simple-key`). Only the keyed hash of a key is
//! stored; a revoked key stays as a row (with `revoked_at`) so the audit trail survives.

use sqlx::{any::AnyRow, Row};

use super::{audit::record, Store, StoreError};
use crate::{
    clock::Millis,
    domain::{
        audit::{Actor, AuditEvent, AuditKind},
        model::{KeyPrincipal, SimpleKey},
        scope::ScopeSet,
        secret::Digest,
    },
};

const COLUMNS: &str = "key_id, merchant_id, name, key_hint, scopes, created_by, created_at";

fn from_row(r: &AnyRow) -> Result<SimpleKey, StoreError> {
    let key_id: String = r.try_get(0)?;
    let scopes = ScopeSet::parse(&r.try_get::<String, _>(4)?)
        .map_err(|_| StoreError::Inconsistent(format!("simple key {key_id}: bad scopes")))?;
    Ok(SimpleKey {
        merchant_id: r.try_get(1)?,
        name: r.try_get(2)?,
        key_hint: r.try_get(3)?,
        scopes,
        created_by: r.try_get(5)?,
        created_at: r.try_get(6)?,
        key_id,
    })
}

impl Store {
    /// Stores a new key by its hash, and its `api_key.created` event.
    pub async fn create_key(
        &self,
        key: SimpleKey,
        key_hash: Digest,
        actor: Actor,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            Box::pin(async move {
                let event = AuditEvent::new(AuditKind::ApiKeyCreated)
                    .merchant(key.merchant_id.as_str())
                    .detail(serde_json::json!({
                        "key_id": key.key_id,
                        "scope": key.scopes.to_wire(),
                    }))
                    .by(&actor);
                let at = key.created_at;
                sqlx::query(&format!(
                    "INSERT INTO simple_keys ({COLUMNS}, key_hash) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                ))
                .bind(key.key_id)
                .bind(key.merchant_id)
                .bind(key.name)
                .bind(key.key_hint)
                .bind(key.scopes.to_wire())
                .bind(key.created_by)
                .bind(key.created_at)
                .bind(key_hash.to_vec())
                .execute(&mut *conn)
                .await
                .map_err(|e| StoreError::on_unique(e, "simple key"))?;
                record(conn, &event, at).await?;
                Ok(())
            })
        })
        .await
    }

    /// A merchant's live keys, newest first, and their count.
    pub async fn list_keys(
        &self,
        merchant_id: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<SimpleKey>, i64), StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM simple_keys WHERE merchant_id = $1 AND revoked_at IS NULL \
             ORDER BY created_at DESC, key_id LIMIT $2 OFFSET $3"
        ))
        .bind(merchant_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(self.pool())
        .await?;
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM simple_keys WHERE merchant_id = $1 AND revoked_at IS NULL",
        )
        .bind(merchant_id)
        .fetch_one(self.pool())
        .await?;
        let keys = rows.iter().map(from_row).collect::<Result<_, _>>()?;
        Ok((keys, total))
    }

    /// A live key by id.
    pub async fn find_key(&self, key_id: &str) -> Result<Option<SimpleKey>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM simple_keys WHERE key_id = $1 AND revoked_at IS NULL"
        ))
        .bind(key_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Who a presented key speaks for, if it is live.
    pub async fn find_key_principal(
        &self,
        key_hash: &Digest,
    ) -> Result<Option<KeyPrincipal>, StoreError> {
        let row = sqlx::query(
            "SELECT k.key_id, k.merchant_id, m.name, k.name, k.scopes \
             FROM simple_keys k JOIN merchants m ON m.merchant_id = k.merchant_id \
             WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
        )
        .bind(key_hash.to_vec())
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else { return Ok(None) };
        let key_id: String = r.try_get(0)?;
        let scopes = ScopeSet::parse(&r.try_get::<String, _>(4)?)
            .map_err(|_| StoreError::Inconsistent(format!("simple key {key_id}: bad scopes")))?;
        Ok(Some(KeyPrincipal {
            merchant_id: r.try_get(1)?,
            merchant_name: r.try_get(2)?,
            name: r.try_get(3)?,
            scopes,
            key_id,
        }))
    }

    /// Revokes a live key, only if it belongs to `merchant_id` (any merchant when `None`);
    /// `false` when there is no such live key. Records `api_key.revoked` in the same write.
    pub async fn revoke_key(
        &self,
        key_id: String,
        merchant_id: Option<String>,
        now: Millis,
        actor: Actor,
    ) -> Result<bool, StoreError> {
        self.write(move |conn| {
            Box::pin(async move {
                let sql = if merchant_id.is_some() {
                    "UPDATE simple_keys SET revoked_at = $1 \
                     WHERE key_id = $2 AND revoked_at IS NULL AND merchant_id = $3 \
                     RETURNING merchant_id"
                } else {
                    "UPDATE simple_keys SET revoked_at = $1 WHERE key_id = $2 AND revoked_at IS NULL \
                     RETURNING merchant_id"
                };
                let mut query = sqlx::query(sql).bind(now).bind(&key_id);
                if let Some(merchant_id) = merchant_id {
                    query = query.bind(merchant_id);
                }
                let Some(row) = query.fetch_optional(&mut *conn).await? else {
                    return Ok(false);
                };
                let event = AuditEvent::new(AuditKind::ApiKeyRevoked)
                    .merchant(row.try_get::<String, _>(0)?)
                    .detail(serde_json::json!({ "key_id": key_id }))
                    .by(&actor);
                record(conn, &event, now).await?;
                Ok(true)
            })
        })
        .await
    }
}
