//! Opening sessions: the input rules, the per-user limit, and the session token.

use super::*;

impl SessionsController {
    /// Open a new active session.
    ///
    /// # Errors
    /// `InvalidInput` when a field breaks its limit; `Store` when the store fails.
    pub async fn open(&self, new: NewSession) -> Result<Session, SessionError> {
        Ok(self.open_with_token(new).await?.0)
    }

    /// Open a new active session with a fresh session token; returns the session and the
    /// token, which is shown only now (the store keeps its SHA-256 alone).
    ///
    /// # Errors
    /// `InvalidInput` when a field breaks its limit; `LimitReached`; `Store`.
    #[tracing::instrument(skip_all, err(Debug), fields(user_id = %new.user_id))]
    pub async fn open_with_token(
        &self,
        new: NewSession,
    ) -> Result<(Session, String), SessionError> {
        let user_id = new.user_id.trim();
        if user_id.is_empty() {
            return Err(SessionError::invalid(
                InputField::UserId,
                "must not be empty",
            ));
        }
        check_text(InputField::UserId, Some(&new.user_id), MAX_USER_ID_CHARS)?;
        check_text(
            InputField::UserName,
            new.user_name.as_deref(),
            MAX_TEXT_CHARS,
        )?;
        check_text(InputField::Address, new.address.as_deref(), MAX_TEXT_CHARS)?;
        check_text(InputField::Client, new.client.as_deref(), MAX_TEXT_CHARS)?;
        self.check_payload(InputField::User, new.user.as_ref())?;
        self.check_payload(InputField::Data, new.data.as_ref())?;
        let new = NewSession {
            user: new.user.filter(|v| !v.is_null()),
            data: new.data.filter(|v| !v.is_null()),
            ..new
        };
        let now = self.now();
        let token = secret::new_token();
        let session = Session {
            token_hash: Some(TokenHash::of(&token)),
            ..Session::open(SessionId::random(), new, now)
        };
        let order = self.events.lock(&session.id).await;
        match self.options.user_limit {
            None => self.store.insert(&session).await?,
            Some(limit) => {
                let admission = self
                    .store
                    .insert_limited(&session, limit, self.cutoffs(now))
                    .await?;
                match admission {
                    Admission::Denied { expired } => {
                        drop(order);
                        self.events.closed(&expired, now).await;
                        return Err(SessionError::LimitReached(session.user_id));
                    }
                    Admission::Opened { evicted, expired } => {
                        self.events
                            .session(SessionEventKind::Opened, &session, now)
                            .await;
                        drop(order);
                        metrics::sessions_closed(&expired);
                        self.events.closed(&expired, now).await;
                        let evicted: Vec<Closed> = evicted
                            .into_iter()
                            .map(|id| Closed {
                                id,
                                user_id: session.user_id.clone(),
                                reason: CloseReason::Evicted,
                            })
                            .collect();
                        for closed in &evicted {
                            tracing::debug!(session_id = %closed.id, reason = "EVICTED", "session closed");
                        }
                        metrics::sessions_closed(&evicted);
                        self.events.closed(&evicted, now).await;
                        metrics::session_opened();
                        tracing::debug!(session_id = %session.id, "session opened");
                        return Ok((session, token));
                    }
                }
            }
        }
        self.events
            .session(SessionEventKind::Opened, &session, now)
            .await;
        metrics::session_opened();
        tracing::debug!(session_id = %session.id, "session opened");
        Ok((session, token))
    }
}
