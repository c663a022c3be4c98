//! Developer applications.

use std::time::Instant;

use sqlx::{any::AnyRow, Row};

use super::{
    audit::record,
    flag,
    grants::RevokeReason,
    sql::{Arg, Columns, Sql},
    Store, StoreError,
};
use crate::{
    clock::Millis,
    domain::{
        audit::{Actor, AuditEvent, AuditKind},
        model::Application,
        profile::Profile,
        scope::ScopeSet,
    },
};

/// The columns [`from_row`] reads, in its order (a macro, so that constant queries can embed
/// it with `concat!`).
macro_rules! columns {
    () => {
        "client_id, owner_merchant_id, name, description, developer_name, developer_email, \
         developer_url, redirect_uris, scopes, require_secret, require_pkce, profile, \
         secret_hash, secret_hint, created_at, updated_at"
    };
}

const COLUMNS: &str = columns!();

/// A live application by client_id: a hot path, so a constant (the direct driver caches
/// statements by their text).
const FIND_LIVE: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM applications WHERE client_id = $1 AND deleted_at IS NULL"
);

fn from_row(r: &dyn Columns) -> Result<Application, StoreError> {
    let client_id = r.text(0)?;
    let bad = |what: &str| StoreError::Inconsistent(format!("application {client_id}: {what}"));
    let redirect_uris: Vec<String> = serde_json::from_str(&r.text(7)?)
        .map_err(|_| bad("redirect_uris is not a JSON array of strings"))?;
    let scopes = ScopeSet::parse(&r.text(8)?).map_err(|_| bad("bad scopes"))?;
    let profile = match r.opt_text(11)? {
        None => None,
        Some(p) => Some(p.parse::<Profile>().map_err(|_| bad("unknown profile"))?),
    };
    Ok(Application {
        owner_merchant_id: r.opt_text(1)?,
        name: r.text(2)?,
        description: r.text(3)?,
        developer_name: r.text(4)?,
        developer_email: r.text(5)?,
        developer_url: r.text(6)?,
        redirect_uris,
        scopes,
        require_secret: flag(r.int(9)?),
        require_pkce: flag(r.int(10)?),
        profile,
        secret_hash: r.blob(12)?,
        secret_hint: r.text(13)?,
        created_at: r.int(14)?,
        updated_at: r.int(15)?,
        client_id,
    })
}

/// Rows of `applications` as [`from_row`] reads them, one sqlx row at a time.
fn from_rows(rows: &[AnyRow]) -> Result<Vec<Application>, StoreError> {
    rows.iter().map(|r| from_row(r)).collect()
}

impl Store {
    /// Registers an application and records `application.created` by `actor`.
    pub async fn create_application(
        &self,
        app: Application,
        actor: Actor,
    ) -> Result<(), StoreError> {
        let redirect_uris = serde_json::to_string(&app.redirect_uris)
            .map_err(|e| StoreError::Inconsistent(e.to_string()))?;
        let (client_id, owner, created_at) = (
            app.client_id.clone(),
            app.owner_merchant_id.clone(),
            app.created_at,
        );
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(&format!(
                    "INSERT INTO applications ({COLUMNS}) VALUES \
                     ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
                ))
                .bind(app.client_id)
                .bind(app.owner_merchant_id)
                .bind(app.name)
                .bind(app.description)
                .bind(app.developer_name)
                .bind(app.developer_email)
                .bind(app.developer_url)
                .bind(redirect_uris)
                .bind(app.scopes.to_wire())
                .bind(i64::from(app.require_secret))
                .bind(i64::from(app.require_pkce))
                .bind(app.profile.map(|p| p.as_str().to_owned()))
                .bind(app.secret_hash)
                .bind(app.secret_hint)
                .bind(app.created_at)
                .bind(app.updated_at)
                .execute(&mut *conn)
                .await
                .map_err(|e| StoreError::on_unique(e, "client_id"))?;
                let mut event = AuditEvent::new(AuditKind::ApplicationCreated)
                    .client(client_id)
                    .by(&actor);
                event.merchant_id = owner;
                record(conn, &event, created_at).await?;
                Ok(())
            })
        })
        .await
    }

    /// A live (not deleted) application by client_id. Served from memory when read less than
    /// a second ago (see `recent` for what that means for changes).
    pub async fn find_application(
        &self,
        client_id: &str,
    ) -> Result<Option<Application>, StoreError> {
        if let Some(app) = self.apps.get(client_id) {
            return Ok(Some(app));
        }
        let generation = self.apps.generation();
        let read_at = Instant::now();
        let found = self
            .timed("find_application", async {
                self.read_via()?
                    .fetch_row(FIND_LIVE, &[Arg::Text(client_id)], from_row)
                    .await
            })
            .await?;
        if let Some(app) = &found {
            self.apps
                .put(generation, read_at, app.client_id.clone(), app.clone());
        }
        Ok(found)
    }

    /// Live applications, oldest first, `limit` from `offset`, and the total count.
    pub async fn list_applications(
        &self,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Application>, i64), StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM applications WHERE deleted_at IS NULL \
             ORDER BY created_at, client_id LIMIT $1 OFFSET $2"
        ))
        .bind(limit)
        .bind(offset)
        .fetch_all(self.pool())
        .await?;
        let total: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM applications WHERE deleted_at IS NULL")
                .fetch_one(self.pool())
                .await?;
        let apps = from_rows(&rows)?;
        Ok((apps, total))
    }

    /// Live applications owned by `owner_merchant_id`, newest first, and their total count.
    pub async fn list_applications_by_owner(
        &self,
        owner_merchant_id: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Application>, i64), StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM applications \
             WHERE owner_merchant_id = $1 AND deleted_at IS NULL \
             ORDER BY created_at DESC, client_id LIMIT $2 OFFSET $3"
        ))
        .bind(owner_merchant_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(self.pool())
        .await?;
        let total: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM applications WHERE owner_merchant_id = $1 AND deleted_at IS NULL",
        )
        .bind(owner_merchant_id)
        .fetch_one(self.pool())
        .await?;
        let apps = from_rows(&rows)?;
        Ok((apps, total))
    }

    /// Saves an application's editable fields (everything but its id, owner, secret and
    /// creation time); `false` if it does not exist or was deleted. Records
    /// `application.changed` by `actor`, naming the `changed` fields.
    pub async fn update_application(
        &self,
        app: Application,
        changed: Vec<&'static str>,
        actor: Actor,
    ) -> Result<bool, StoreError> {
        let mut event = AuditEvent::new(AuditKind::ApplicationChanged)
            .client(app.client_id.as_str())
            .detail(serde_json::json!({ "changed": changed }))
            .by(&actor);
        event.merchant_id.clone_from(&app.owner_merchant_id);
        let now = app.updated_at;
        let redirect_uris = serde_json::to_string(&app.redirect_uris)
            .map_err(|e| StoreError::Inconsistent(e.to_string()))?;
        let _forget = self.apps.forget_when_done(app.client_id.clone());
        // Access-token lookups carry the application's name.
        let _lookups = self.access.forget_all_when_done();
        self.write(move |conn| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE applications SET name = $1, description = $2, developer_name = $3, \
                     developer_email = $4, developer_url = $5, redirect_uris = $6, scopes = $7, \
                     require_secret = $8, require_pkce = $9, profile = $10, updated_at = $11 \
                     WHERE client_id = $12 AND deleted_at IS NULL",
                )
                .bind(app.name)
                .bind(app.description)
                .bind(app.developer_name)
                .bind(app.developer_email)
                .bind(app.developer_url)
                .bind(redirect_uris)
                .bind(app.scopes.to_wire())
                .bind(i64::from(app.require_secret))
                .bind(i64::from(app.require_pkce))
                .bind(app.profile.map(|p| p.as_str().to_owned()))
                .bind(app.updated_at)
                .bind(app.client_id)
                .execute(&mut *conn)
                .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                record(conn, &event, now).await?;
                Ok(true)
            })
        })
        .await
    }

    /// Deletes an application and, in the same transaction, revokes every grant it holds, so
    /// its tokens stop working at once (in other processes: see [`Store::find_access`]).
    /// `None` if it did not exist (or was already deleted); else how many live grants were
    /// revoked. Records `application.deleted` by `actor`.
    pub async fn delete_application(
        &self,
        client_id: String,
        now: Millis,
        actor: Actor,
    ) -> Result<Option<u64>, StoreError> {
        let _forget = self.apps.forget_when_done(client_id.clone());
        let _revoked = self.access.forget_all_when_done();
        self.write(move |conn| {
            Box::pin(async move {
                let deleted = sqlx::query(
                    "UPDATE applications SET deleted_at = $1, updated_at = $1 \
                     WHERE client_id = $2 AND deleted_at IS NULL RETURNING owner_merchant_id",
                )
                .bind(now)
                .bind(&client_id)
                .fetch_optional(&mut *conn)
                .await?;
                let Some(deleted) = deleted else {
                    return Ok(None);
                };
                let owner: Option<String> = deleted.try_get(0)?;
                let reason = RevokeReason::ApplicationDeleted.as_str();
                let revoked = sqlx::query(
                    "UPDATE grants SET revoked_at = $1, revoked_reason = $2 \
                     WHERE client_id = $3 AND revoked_at IS NULL RETURNING grant_id, merchant_id",
                )
                .bind(now)
                .bind(reason)
                .bind(&client_id)
                .fetch_all(&mut *conn)
                .await?;
                let count = u64::try_from(revoked.len()).unwrap_or(u64::MAX);
                let mut event = AuditEvent::new(AuditKind::ApplicationDeleted)
                    .client(client_id.as_str())
                    .detail(serde_json::json!({ "revoked_grants": count }))
                    .by(&actor);
                event.merchant_id = owner;
                record(conn, &event, now).await?;
                for row in &revoked {
                    let event = AuditEvent::new(AuditKind::GrantRevoked)
                        .merchant(row.try_get::<String, _>(1)?)
                        .client(client_id.as_str())
                        .grant(row.try_get::<String, _>(0)?)
                        .detail(serde_json::json!({ "reason": reason }))
                        .by(&actor);
                    record(conn, &event, now).await?;
                }
                Ok(Some(count))
            })
        })
        .await
    }

    /// How many live grants an application holds (what deleting it would end).
    pub async fn count_live_grants(&self, client_id: &str) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM grants WHERE client_id = $1 AND revoked_at IS NULL",
        )
        .bind(client_id)
        .fetch_one(self.pool())
        .await?)
    }

    /// Replaces an application's client-secret hash (rotation).
    pub async fn set_client_secret(
        &self,
        client_id: String,
        secret_hash: Vec<u8>,
        secret_hint: String,
        now: Millis,
        actor: Actor,
    ) -> Result<bool, StoreError> {
        let _forget = self.apps.forget_when_done(client_id.clone());
        self.write(move |conn| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE applications SET secret_hash = $1, secret_hint = $2, updated_at = $3 \
                     WHERE client_id = $4 AND deleted_at IS NULL RETURNING owner_merchant_id",
                )
                .bind(secret_hash)
                .bind(secret_hint)
                .bind(now)
                .bind(&client_id)
                .fetch_optional(&mut *conn)
                .await?;
                let Some(row) = done else {
                    return Ok(false);
                };
                let mut event = AuditEvent::new(AuditKind::SecretRotated)
                    .client(client_id)
                    .by(&actor);
                event.merchant_id = row.try_get(0)?;
                record(conn, &event, now).await?;
                Ok(true)
            })
        })
        .await
    }
}
