//! Changing open sessions: data, cached user, touches, and lazy expiry when a change finds
//! its session expired.

use super::*;

impl SessionsController {
    /// Replace an open session's data and mark it active now.
    ///
    /// # Errors
    /// `NotFound`, `Closed`, `InvalidInput` (payload too large), `Store`.
    #[tracing::instrument(skip(self, data), err(Debug), fields(session_id = %id))]
    pub async fn store_data(
        &self,
        id: &SessionId,
        data: Option<Value>,
    ) -> Result<Session, SessionError> {
        self.check_payload(InputField::Data, data.as_ref())?;
        self.update_open(id, SessionChange::Data(data.filter(|v| !v.is_null())))
            .await
    }

    /// Replace an open session's cached user and mark it active now.
    ///
    /// # Errors
    /// `NotFound`, `Closed`, `InvalidInput` (payload too large), `Store`.
    #[tracing::instrument(skip(self, user), err(Debug), fields(session_id = %id))]
    pub async fn update_user(
        &self,
        id: &SessionId,
        user: Option<Value>,
    ) -> Result<Session, SessionError> {
        self.check_payload(InputField::User, user.as_ref())?;
        self.update_open(id, SessionChange::User(user.filter(|v| !v.is_null())))
            .await
    }

    /// Mark an open session active now without changing anything else. A touch within
    /// `touch_interval` of the last activity is answered without a write, so a client may
    /// touch on every request.
    ///
    /// # Errors
    /// `NotFound`, `Closed` (an expired session is closed by the touch), `Store`.
    #[tracing::instrument(skip(self), err(Debug), fields(session_id = %id))]
    pub async fn touch(&self, id: &SessionId) -> Result<Session, SessionError> {
        if !self.options.touch_interval.is_zero() {
            let now = self.now();
            let interval =
                TimeDelta::from_std(self.options.touch_interval).unwrap_or(TimeDelta::MAX);
            if let Some(session) = self.store.get(id).await?
                && self.cutoffs(now).reason(&session).is_none()
                && session.active
                && now - session.request_time < interval
            {
                return Ok(session);
            }
        }
        self.update_open(id, SessionChange::Touch).await
    }

    pub(super) async fn update_open(
        &self,
        id: &SessionId,
        change: SessionChange,
    ) -> Result<Session, SessionError> {
        let order = self.events.lock(id).await;
        let now = self.now();
        let cutoffs = self.cutoffs(now);
        let touch = matches!(change, SessionChange::Touch);
        if let Some(session) = self.store.update_open(id, change, now, cutoffs).await? {
            if !touch {
                self.events
                    .session(SessionEventKind::Changed, &session, now)
                    .await;
            }
            return Ok(session);
        }
        // The conditional update did nothing: unknown, closed, or expired (close it now).
        let Some(session) = self.store.get(id).await? else {
            return Err(SessionError::NotFound(*id));
        };
        // Closed only if still expired, in one step: a concurrent write that renewed it keeps
        // it open with what it stored. (Such a write would have to be stamped a whole expire
        // timeout before this one, so this one is refused as closed in that case only.)
        if let Some(reason) = cutoffs.reason(&session)
            && self.store.close_if_expired(id, now, cutoffs).await?
        {
            metrics::session_closed(reason.as_str(), 1);
            tracing::debug!(session_id = %id, %reason, "session closed");
            self.events
                .closed_one(*id, &session.user_id, reason, now)
                .await;
        }
        drop(order);
        Err(SessionError::Closed(*id))
    }
}
