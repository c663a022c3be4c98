//! Finding the stored hash of a presented credential when the pepper has been rotated.
//!
//! Rows are keyed by `HMAC(pepper, purpose || value)`. After a rotation a credential issued
//! earlier is stored under a previous pepper, so the handler cannot know which digest to look
//! up. [`Store::resolve_digest`] answers that in one place: without previous peppers it is the
//! current digest and costs nothing; with them, it probes each candidate with an indexed
//! `SELECT 1` (current first) and returns the one that exists. The caller then runs its usual
//! lookup or write with that digest, so the rules and queries downstream are unchanged.

use crate::domain::secret::{Digest, Peppers, Purpose};

use super::{
    sql::{Arg, Sql},
    Store, StoreError,
};

/// Credentials stored by their keyed hash, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashedCredential {
    AccessToken,
    RefreshToken,
    AuthorizationCode,
    Session,
}

impl HashedCredential {
    pub fn purpose(self) -> Purpose {
        match self {
            Self::AccessToken => Purpose::AccessToken,
            Self::RefreshToken => Purpose::RefreshToken,
            Self::AuthorizationCode => Purpose::AuthorizationCode,
            Self::Session => Purpose::Session,
        }
    }

    fn exists_sql(self) -> &'static str {
        match self {
            Self::AccessToken => "SELECT 1 FROM access_tokens WHERE token_hash = $1",
            Self::RefreshToken => "SELECT 1 FROM refresh_tokens WHERE token_hash = $1",
            Self::AuthorizationCode => "SELECT 1 FROM authorization_codes WHERE code_hash = $1",
            Self::Session => "SELECT 1 FROM browser_sessions WHERE session_hash = $1",
        }
    }
}

impl Store {
    /// The digest under which `value` is stored: the current pepper's, unless the value is only
    /// found under a previous pepper. Unknown values get the current digest (which then finds
    /// nothing downstream, as before).
    pub async fn resolve_digest(
        &self,
        peppers: Peppers<'_>,
        kind: HashedCredential,
        value: &str,
    ) -> Result<Digest, StoreError> {
        let current = peppers.current().digest(kind.purpose(), value);
        if !peppers.rotating() {
            return Ok(current);
        }
        self.timed("resolve_digest", async {
            let mut db = self.read_via()?;
            for digest in peppers.digests(kind.purpose(), value) {
                // Only whether a row exists matters; nothing is decoded.
                let found = db
                    .fetch_row(kind.exists_sql(), &[Arg::Blob(&digest)], |_| Ok(()))
                    .await?;
                if found.is_some() {
                    return Ok(digest);
                }
            }
            Ok(current)
        })
        .await
    }
}
