//! Session tokens: authenticating a request by its token, and rotating a session's token.

use super::*;

impl SessionsController {
    /// The open session whose token is `token`, counting this as its activity (a touch,
    /// so `touch_interval` spares most writes); `None` for an unknown token or the token of
    /// a closed or expired session (closed now).
    ///
    /// # Errors
    /// `Store` when the store fails.
    pub async fn authenticate_token(&self, token: &str) -> Result<Option<Session>, SessionError> {
        let Some(session) = self.store.get_by_token(&TokenHash::of(token)).await? else {
            return Ok(None);
        };
        if !session.active {
            return Ok(None);
        }
        match self.touch(&session.id).await {
            Ok(session) => Ok(Some(session)),
            Err(SessionError::Closed(_) | SessionError::NotFound(_)) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Give an open session a new token; the old one stops working at once. Returns the
    /// session and the new token, shown only now. Counts as activity.
    ///
    /// # Errors
    /// `NotFound`, `Closed` (an expired session is closed now), `Store`.
    #[tracing::instrument(skip(self), err(Debug), fields(session_id = %id))]
    pub async fn rotate_token(&self, id: &SessionId) -> Result<(Session, String), SessionError> {
        self.update_open(id, SessionChange::Touch).await?;
        let token = secret::new_token();
        match self.store.set_token(id, &TokenHash::of(&token)).await? {
            Some(session) => {
                tracing::info!(session_id = %id, "session token rotated");
                Ok((session, token))
            }
            // Closed between the two steps.
            None => Err(SessionError::Closed(*id)),
        }
    }
}
