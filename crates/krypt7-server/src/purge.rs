//! Deleted accounts are closed at once and purged within 48 hours; sessions past their
//! limits are ended; unauthorized attempts are kept for their retention (90 days).
//!
//! `DELETE /v1/account` ends every session and refuses the account from then on. The rows
//! and blobs stay for [`GRACE_SECS`] with the username reserved (so nobody can take the name
//! over while contacts still have its keys pinned), then this job removes them. It runs every
//! `purge_interval_secs` (default one hour) on the server's injectable clock, so an account is
//! gone at most 25 hours after its deletion.

use std::time::Duration;

use crate::api::AppState;

pub const GRACE_SECS: i64 = 24 * 3600;

/// Purges every account whose grace period is over; returns how many.
pub async fn purge_once(st: &AppState) -> anyhow::Result<usize> {
    let due = st.db.deleted_before(st.clock.now() - GRACE_SECS).await?;
    for id in &due {
        // Blobs first: if this stops half-way, the row is still there and the next run retries.
        st.blobs.delete_account(*id).await?;
        st.db.purge_account(*id).await?;
        tracing::info!("purged a deleted account");
    }
    Ok(due.len())
}

/// Ends the sessions past their limits (a token of one is refused anyway: this keeps the
/// session list true), records the sign-ins and step-ups left unfinished, and forgets the
/// attempts and ended sessions older than the record's retention.
pub async fn tidy_sessions(st: &AppState) -> anyhow::Result<()> {
    let now = st.clock.now();
    let forget_before = now - st.config.attempts_retention_secs;
    st.db
        .end_expired_sessions(
            now - st.config.session_idle_secs,
            now - st.config.session_max_secs,
            now,
            forget_before,
        )
        .await?;
    st.sweep_unfinished()
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.body.message))?;
    st.db.forget_attempts(forget_before).await?;
    Ok(())
}

pub fn spawn(st: AppState, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            if let Err(e) = purge_once(&st).await {
                tracing::error!(error = %e, "purging deleted accounts failed; retrying at the next run");
            }
            if let Err(e) = tidy_sessions(&st).await {
                tracing::error!(error = %e, "tidying sessions and attempts failed; retrying at the next run");
            }
        }
    })
}
