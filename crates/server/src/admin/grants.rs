//! A merchant's authorized applications (its live grants), and revoking them.

use super::{AdminError, Listed, Paging, Within};
use crate::{
    clock::Millis,
    domain::{
        audit::{Actor, Origin},
        model::GrantSummary,
    },
    store::{grants::RevokeReason, Store},
};

/// One page of a merchant's live grants, newest first.
pub async fn list_grants(
    store: &Store,
    merchant_id: &str,
    paging: Paging,
) -> Result<Listed<GrantSummary>, AdminError> {
    let (items, total) = store
        .list_grants_by_merchant(merchant_id, paging.offset, paging.limit)
        .await?;
    Ok(Listed {
        items,
        total,
        paging,
    })
}

/// Ends a live grant: its tokens stop working at once on this node, and on any other node (or a
/// server on the same SQLite file) within its access-token memory (`--access-cache-ms`, 1 s).
pub async fn revoke_grant(
    store: &Store,
    within: Within<'_>,
    actor: &Actor,
    grant_id: &str,
    now: Millis,
) -> Result<(), AdminError> {
    let reason = match within {
        Within::AnyMerchant => RevokeReason::Operator,
        Within::Merchant(_) => RevokeReason::Merchant,
    };
    let revoked = grant_id.len() <= 64
        && store
            .revoke_grant_of(
                grant_id.to_owned(),
                within.merchant(),
                reason,
                now,
                Origin::actor(actor),
            )
            .await?;
    if !revoked {
        return Err(AdminError::NotFound(format!(
            "no live authorization with id {grant_id:?}"
        )));
    }
    tracing::info!(%grant_id, reason = reason.as_str(), "grant revoked");
    Ok(())
}
