//! Browser sessions of signed-in merchant users. Kept in the database, not in a node's memory,
//! so any node can serve any page of a flow.

use super::{
    sql::{Arg, Sql},
    Store, StoreError,
};
use crate::{
    clock::Millis,
    domain::{model::User, secret::Digest},
};

impl Store {
    pub async fn create_session(
        &self,
        session_hash: Digest,
        user_id: String,
        now: Millis,
        expires_at: Millis,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO browser_sessions (session_hash, user_id, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(session_hash.to_vec())
                .bind(user_id)
                .bind(now)
                .bind(expires_at)
                .execute(conn)
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// The user of a live session. On every page of a browser flow, so on the hot path
    /// (`sql::Sql`).
    pub async fn find_session(
        &self,
        session_hash: &Digest,
        now: Millis,
    ) -> Result<Option<User>, StoreError> {
        self.read_via()?
            .fetch_row(
                "SELECT u.user_id, u.merchant_id, u.login FROM browser_sessions s \
                 JOIN users u ON u.user_id = s.user_id \
                 WHERE s.session_hash = $1 AND s.expires_at > $2",
                &[Arg::Blob(session_hash), Arg::Int(now)],
                |r| {
                    Ok(User {
                        user_id: r.text(0)?,
                        merchant_id: r.text(1)?,
                        login: r.text(2)?,
                    })
                },
            )
            .await
    }

    pub async fn delete_session(&self, session_hash: Digest) -> Result<(), StoreError> {
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query("DELETE FROM browser_sessions WHERE session_hash = $1")
                    .bind(session_hash.to_vec())
                    .execute(conn)
                    .await?;
                Ok(())
            })
        })
        .await
    }
}
