//! Merchants and their users.

use sqlx::Row;

use super::{audit::record, Backend, Store, StoreError};
use crate::{
    clock::Millis,
    domain::{
        audit::{Actor, AuditEvent, AuditKind},
        model::{Merchant, User, UserSummary},
        secret::Digest,
    },
};

/// What removing a user came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserRemoval {
    Removed,
    /// No such user (for this merchant).
    NotFound,
    /// The merchant's only user: removing it would lock everyone out.
    LastUser,
}

/// A user row with the password hash, for sign-in.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    pub user: User,
    pub password_hash: String,
}

impl Store {
    pub async fn create_merchant(&self, merchant: Merchant, now: Millis) -> Result<(), StoreError> {
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO merchants (merchant_id, name, created_at) VALUES ($1, $2, $3)",
                )
                .bind(merchant.merchant_id)
                .bind(merchant.name)
                .bind(now)
                .execute(conn)
                .await
                .map_err(|e| StoreError::on_unique(e, "merchant"))?;
                Ok(())
            })
        })
        .await
    }

    pub async fn find_merchant(&self, merchant_id: &str) -> Result<Option<Merchant>, StoreError> {
        let row = sqlx::query("SELECT merchant_id, name FROM merchants WHERE merchant_id = $1")
            .bind(merchant_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| Merchant {
            merchant_id: r.get(0),
            name: r.get(1),
        }))
    }

    /// Adds a user; `password_hash` is an argon2id PHC string. Records `user.added`.
    pub async fn create_user(
        &self,
        user: User,
        password_hash: String,
        now: Millis,
        actor: Actor,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            Box::pin(async move {
                let event = AuditEvent::new(AuditKind::UserAdded)
                    .merchant(user.merchant_id.as_str())
                    .user(user.user_id.as_str())
                    .by(&actor);
                sqlx::query(
                    "INSERT INTO users (user_id, merchant_id, login, password_hash, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(user.user_id)
                .bind(user.merchant_id)
                .bind(user.login)
                .bind(password_hash)
                .bind(now)
                .execute(&mut *conn)
                .await
                .map_err(|e| StoreError::on_unique(e, "login"))?;
                record(conn, &event, now).await?;
                Ok(())
            })
        })
        .await
    }

    pub async fn find_user_by_login(
        &self,
        login: &str,
    ) -> Result<Option<UserCredentials>, StoreError> {
        let row = sqlx::query(
            "SELECT user_id, merchant_id, login, password_hash FROM users WHERE login = $1",
        )
        .bind(login)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| UserCredentials {
            user: User {
                user_id: r.get(0),
                merchant_id: r.get(1),
                login: r.get(2),
            },
            password_hash: r.get(3),
        }))
    }

    /// A merchant's users, by login, and their count.
    pub async fn list_users(
        &self,
        merchant_id: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<UserSummary>, i64), StoreError> {
        let rows = sqlx::query(
            "SELECT user_id, merchant_id, login, created_at FROM users WHERE merchant_id = $1 \
             ORDER BY login LIMIT $2 OFFSET $3",
        )
        .bind(merchant_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(self.pool())
        .await?;
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE merchant_id = $1")
            .bind(merchant_id)
            .fetch_one(self.pool())
            .await?;
        let users = rows
            .iter()
            .map(|r| {
                Ok(UserSummary {
                    user: User {
                        user_id: r.try_get(0)?,
                        merchant_id: r.try_get(1)?,
                        login: r.try_get(2)?,
                    },
                    created_at: r.try_get(3)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok((users, total))
    }

    pub async fn find_user(&self, user_id: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query("SELECT user_id, merchant_id, login FROM users WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| User {
            user_id: r.get(0),
            merchant_id: r.get(1),
            login: r.get(2),
        }))
    }

    /// Removes a user of `merchant_id` and ends their sessions, unless they are the merchant's
    /// last user. Their past approvals stay: grants belong to the merchant, not the user.
    pub async fn remove_user(
        &self,
        user_id: String,
        merchant_id: String,
        now: Millis,
        actor: Actor,
    ) -> Result<UserRemoval, StoreError> {
        let backend = self.backend();
        self.write(move |conn| {
            Box::pin(async move {
                if backend == Backend::Postgres {
                    // Two removals of a merchant's last two users must not both pass the count
                    // below; locking the merchant row serialises them. (SQLite has one writer.)
                    sqlx::query(
                        "SELECT merchant_id FROM merchants WHERE merchant_id = $1 FOR UPDATE",
                    )
                    .bind(&merchant_id)
                    .execute(&mut *conn)
                    .await?;
                }
                let exists: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM users WHERE user_id = $1 AND merchant_id = $2",
                )
                .bind(&user_id)
                .bind(&merchant_id)
                .fetch_one(&mut *conn)
                .await?;
                if exists == 0 {
                    return Ok(UserRemoval::NotFound);
                }
                let users: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE merchant_id = $1")
                        .bind(&merchant_id)
                        .fetch_one(&mut *conn)
                        .await?;
                if users <= 1 {
                    return Ok(UserRemoval::LastUser);
                }
                sqlx::query("DELETE FROM browser_sessions WHERE user_id = $1")
                    .bind(&user_id)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("DELETE FROM users WHERE user_id = $1")
                    .bind(&user_id)
                    .execute(&mut *conn)
                    .await?;
                let event = AuditEvent::new(AuditKind::UserRemoved)
                    .merchant(merchant_id.as_str())
                    .user(user_id.as_str())
                    .by(&actor);
                record(conn, &event, now).await?;
                Ok(UserRemoval::Removed)
            })
        })
        .await
    }

    /// Replaces a user's password hash and ends their other sessions (all of them, or all but
    /// `keep_session`, the one making the change). `false` if there is no such user.
    pub async fn set_password(
        &self,
        user_id: String,
        password_hash: String,
        keep_session: Option<Digest>,
        now: Millis,
        actor: Actor,
    ) -> Result<bool, StoreError> {
        self.write(move |conn| {
            Box::pin(async move {
                let done = sqlx::query(
                    "UPDATE users SET password_hash = $1 WHERE user_id = $2 RETURNING merchant_id",
                )
                .bind(password_hash)
                .bind(&user_id)
                .fetch_optional(&mut *conn)
                .await?;
                let Some(row) = done else {
                    return Ok(false);
                };
                let event = AuditEvent::new(AuditKind::PasswordChanged)
                    .merchant(row.try_get::<String, _>(0)?)
                    .user(user_id.as_str())
                    .by(&actor);
                record(conn, &event, now).await?;
                match keep_session {
                    Some(keep) => {
                        sqlx::query(
                            "DELETE FROM browser_sessions WHERE user_id = $1 AND session_hash <> $2",
                        )
                        .bind(&user_id)
                        .bind(keep.to_vec())
                        .execute(&mut *conn)
                        .await?;
                    }
                    None => {
                        sqlx::query("DELETE FROM browser_sessions WHERE user_id = $1")
                            .bind(&user_id)
                            .execute(&mut *conn)
                            .await?;
                    }
                }
                Ok(true)
            })
        })
        .await
    }
}
