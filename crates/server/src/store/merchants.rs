//! Merchants and their users.

use sqlx::Row;

use super::{Store, StoreError};
use crate::{
    clock::Millis,
    domain::model::{Merchant, User},
};

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

    /// Adds a user; `password_hash` is an argon2id PHC string.
    pub async fn create_user(
        &self,
        user: User,
        password_hash: String,
        now: Millis,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO users (user_id, merchant_id, login, password_hash, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(user.user_id)
                .bind(user.merchant_id)
                .bind(user.login)
                .bind(password_hash)
                .bind(now)
                .execute(conn)
                .await
                .map_err(|e| StoreError::on_unique(e, "login"))?;
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
}
