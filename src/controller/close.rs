//! Closing and deleting sessions: one, a user's, the expired ones, and the retention purge.

use super::*;

impl SessionsController {
    /// Close a session as signed out (`LOGOUT`); see [`Self::close_for`].
    ///
    /// # Errors
    /// `NotFound` when it is unknown; `Store` when the store fails.
    pub async fn close(&self, id: &SessionId) -> Result<Session, SessionError> {
        self.close_for(id, CloseReason::Logout).await
    }

    /// Close a session for `reason`, `LOGOUT` or `REVOKED`; the other reasons are the
    /// service's own. Closing a closed session returns it unchanged, first reason kept.
    ///
    /// # Errors
    /// `InvalidInput` for another reason; `NotFound` when it is unknown; `Store`.
    pub async fn close_for(
        &self,
        id: &SessionId,
        reason: CloseReason,
    ) -> Result<Session, SessionError> {
        self.close_by(id, reason, CLOSED_BY_ANONYMOUS).await
    }

    /// Like [`Self::close_for`], recording `by` as who closed it (`key:NAME`, `session:ID`,
    /// `anonymous`).
    ///
    /// # Errors
    /// `InvalidInput` for another reason; `NotFound` when it is unknown; `Store`.
    #[tracing::instrument(skip(self), err(Debug), fields(session_id = %id))]
    pub async fn close_by(
        &self,
        id: &SessionId,
        reason: CloseReason,
        by: &str,
    ) -> Result<Session, SessionError> {
        if !matches!(reason, CloseReason::Logout | CloseReason::Revoked) {
            return Err(SessionError::invalid(
                InputField::Reason,
                format!("must be LOGOUT or REVOKED, not {reason}"),
            ));
        }
        let _order = self.events.lock(id).await;
        let now = self.now();
        let closing = self
            .store
            .close(id, now, reason, by)
            .await?
            .ok_or(SessionError::NotFound(*id))?;
        if closing.closed_now {
            metrics::session_closed(reason.as_str(), 1);
            self.events
                .session(SessionEventKind::Closed, &closing.session, now)
                .await;
        }
        tracing::debug!(session_id = %id, %reason, by, "session closed");
        Ok(closing.session)
    }

    /// Close every open session of `user_id` except `except` ("log out everywhere else"), as
    /// `REVOKED`, in one atomic step; returns how many. An unknown user closes none.
    ///
    /// # Errors
    /// `InvalidInput` for a user id over the length limit or holding U+0000; `Store`.
    pub async fn close_user_sessions(
        &self,
        user_id: &str,
        except: Option<SessionId>,
    ) -> Result<u64, SessionError> {
        self.close_user_sessions_by(user_id, except, CLOSED_BY_ANONYMOUS)
            .await
    }

    /// Like [`Self::close_user_sessions`], recording `by` as who closed them.
    ///
    /// # Errors
    /// `InvalidInput` for a user id over the length limit or holding U+0000; `Store`.
    #[tracing::instrument(skip(self), err(Debug))]
    pub async fn close_user_sessions_by(
        &self,
        user_id: &str,
        except: Option<SessionId>,
        by: &str,
    ) -> Result<u64, SessionError> {
        check_text(InputField::UserId, Some(user_id), MAX_USER_ID_CHARS)?;
        let now = self.now();
        let closed = self.store.close_user(user_id, except, now, by).await?;
        tracing::info!(
            user_id,
            closed = closed.len(),
            by,
            "user's sessions revoked"
        );
        metrics::sessions_closed(&closed);
        self.events.closed(&closed, now).await;
        Ok(closed.len() as u64)
    }

    /// Close every open session past its expiry (idle timeout or max lifetime), each with its
    /// reason; returns how many.
    ///
    /// # Errors
    /// `Store` when the store fails.
    #[tracing::instrument(skip(self), err(Debug))]
    pub async fn close_expired(&self) -> Result<u64, SessionError> {
        let now = self.now();
        let closed = self.store.close_expired(self.cutoffs(now), now).await?;
        let count = closed.len() as u64;
        if count > 0 {
            tracing::info!(closed = count, "expired sessions closed");
        }
        // A sweep may close a million sessions: count, publish and free them a slice at a
        // time, yielding in between, so that no request waits behind all of it.
        let mut closed = closed.into_iter();
        loop {
            let slice: Vec<Closed> = closed.by_ref().take(AFTER_CLOSE_SLICE).collect();
            metrics::sessions_closed(&slice);
            self.events.closed(&slice, now).await;
            if slice.len() < AFTER_CLOSE_SLICE {
                return Ok(count);
            }
            drop(slice);
            tokio::task::yield_now().await;
        }
    }

    /// Delete the sessions closed longer ago than the retention, [`PURGE_BATCH`] at a time
    /// with a yield between steps; returns how many. Does nothing when retention is off.
    ///
    /// # Errors
    /// `Store` when the store fails (what was deleted before stays deleted).
    #[tracing::instrument(skip(self), err(Debug))]
    pub async fn purge_closed(&self) -> Result<u64, SessionError> {
        let Some(retention) = self.options.retention else {
            return Ok(0);
        };
        let before = TimeDelta::from_std(retention).unwrap_or(TimeDelta::MAX);
        let cutoff = self
            .now()
            .checked_sub_signed(before)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let mut purged = 0;
        loop {
            let step = self.store.purge_closed(cutoff, PURGE_BATCH).await?;
            purged += step;
            if step < PURGE_BATCH as u64 {
                break;
            }
            tokio::task::yield_now().await;
        }
        if purged > 0 {
            tracing::info!(purged, "closed sessions past retention deleted");
        }
        Ok(purged)
    }

    /// Remove a session and publish `DELETED`; returns it, or `None` when it was unknown.
    ///
    /// # Errors
    /// `Store` when the store fails.
    #[tracing::instrument(skip(self), err(Debug), fields(session_id = %id))]
    pub async fn delete(&self, id: &SessionId) -> Result<Option<Session>, SessionError> {
        let _order = self.events.lock(id).await;
        let deleted = self.store.delete(id).await?;
        if let Some(session) = &deleted {
            let now = self.now();
            self.events
                .session(SessionEventKind::Deleted, session, now)
                .await;
            metrics::session_deleted(session.active);
        }
        Ok(deleted)
    }
}
