//! What resource servers need: the permission to introspect, and the live state of a refresh
//! token (access tokens are looked up with [`Store::find_access`]).

use super::{
    grants::live_grant_from_row,
    sql::{Arg, Sql},
    Store, StoreError,
};
use crate::{
    clock::Millis,
    domain::{model::AccessGrant, secret::Digest},
};

impl Store {
    /// Whether the live application `client_id` may call the introspection endpoint.
    pub async fn is_resource_server(&self, client_id: &str) -> Result<bool, StoreError> {
        self.timed("is_resource_server", async {
            let row = self
                .read_via()?
                .fetch_row(
                    "SELECT 1 FROM resource_servers r \
                     JOIN applications a ON a.client_id = r.client_id \
                     WHERE r.client_id = $1 AND a.deleted_at IS NULL",
                    &[Arg::Text(client_id)],
                    |_| Ok(()),
                )
                .await?;
            Ok(row.is_some())
        })
        .await
    }

    /// Grants (`allowed`) or withdraws the introspection permission. `false` when no live
    /// application has that client_id.
    pub async fn set_resource_server(
        &self,
        client_id: String,
        allowed: bool,
        now: Millis,
    ) -> Result<bool, StoreError> {
        self.write(move |conn| {
            Box::pin(async move {
                let exists = sqlx::query(
                    "SELECT 1 FROM applications WHERE client_id = $1 AND deleted_at IS NULL",
                )
                .bind(&client_id)
                .fetch_optional(&mut *conn)
                .await?
                .is_some();
                if !exists {
                    return Ok(false);
                }
                if allowed {
                    sqlx::query(
                        "INSERT INTO resource_servers (client_id, created_at) VALUES ($1, $2) \
                         ON CONFLICT (client_id) DO NOTHING",
                    )
                    .bind(&client_id)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                } else {
                    sqlx::query("DELETE FROM resource_servers WHERE client_id = $1")
                        .bind(&client_id)
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(true)
            })
        })
        .await
    }

    /// The grant behind a refresh token, if the token can still be used: not expired, not
    /// rotated out (consumed or retired), its grant not revoked and its application not deleted.
    /// `scopes`, `issued_at` and `expires_at` describe the refresh token.
    pub async fn find_live_refresh(
        &self,
        refresh_hash: &Digest,
        now: Millis,
    ) -> Result<Option<AccessGrant>, StoreError> {
        self.timed("find_live_refresh", async {
            let args = [Arg::Blob(refresh_hash), Arg::Int(now)];
            let row = self
                .read_via()?
                .fetch_row(FIND_LIVE_REFRESH, &args, live_grant_from_row)
                .await?;
            Ok(row.flatten())
        })
        .await
    }
}

/// A refresh token that was not rotated out, with its grant, merchant and application; the
/// grant's revocation and the application's deletion are read, not filtered (see
/// [`super::grants::FIND_ACCESS`] for why).
pub(crate) const FIND_LIVE_REFRESH: &str =
    "SELECT r.grant_id, g.scopes, r.created_at, r.expires_at, g.merchant_id, m.name, \
            g.client_id, app.name, g.revoked_at, app.deleted_at \
     FROM refresh_tokens r \
     JOIN grants g ON g.grant_id = r.grant_id \
     JOIN merchants m ON m.merchant_id = g.merchant_id \
     JOIN applications app ON app.client_id = g.client_id \
     WHERE r.token_hash = $1 AND r.expires_at > $2 \
       AND r.consumed_at IS NULL AND r.retired_at IS NULL";
