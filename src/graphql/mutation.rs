//! The `Mutation` root.

use async_graphql::{Context, ErrorExtensions, ID, Json, Object, Result, ResultExt};
use serde_json::Value;

use super::access::authorize;
use super::errors::parse_id;
use super::types::{CloseReasonValue, OpenSessionInput, SessionObject};
use crate::auth::{Denied, Grant, Operation};
use crate::controller::SessionsController;
use crate::error::{InputField, SessionError};
use crate::model::SessionId;

/// Operations that change sessions.
#[derive(Default)]
pub struct MutationRoot;

/// Check `operation` for the request's actor and, for an operation on one session, that the
/// session `id` is within reach; returns the controller and the actor's label.
async fn allowed<'a>(
    ctx: &'a Context<'_>,
    operation: Operation,
    id: Option<&SessionId>,
) -> Result<(&'a SessionsController, String)> {
    let (grant, actor) = authorize(ctx, operation)?;
    let controller = ctx.data::<SessionsController>()?;
    if let Some(id) = id {
        grant.check_id(id).map_err(|denied| denied.extend())?;
        if let Grant::User(_) = grant {
            // "Any session of its own user": the owner decides, so look it up first (a
            // session never changes users, so the answer cannot go stale).
            let session = controller.get(id).await.extend()?;
            let session = session.ok_or_else(|| SessionError::NotFound(*id).extend())?;
            if !grant.reaches(&session) {
                return Err(Denied::Forbidden.extend());
            }
        }
    }
    Ok((controller, actor.label()))
}

/// Open, change, close and delete sessions.
#[Object(name = "Mutation")]
impl MutationRoot {
    /// Open a new active session; the answer's `token` is its session token, shown only this once. With a per-user session limit, the user's oldest open session is closed as EVICTED to make room, or, under the deny policy, nothing opens. Errors: `BAD_USER_INPUT` naming the field that breaks a limit; `SESSION_LIMIT_REACHED`.
    async fn open_session(
        &self,
        ctx: &Context<'_>,
        input: OpenSessionInput,
    ) -> Result<SessionObject> {
        let (controller, _) = allowed(ctx, Operation::OpenSession, None).await?;
        let opened = controller.open_with_token(input.into()).await.extend()?;
        Ok(SessionObject::with_token(opened))
    }

    /// Replace an open session's data and mark it active now. Errors: `NOT_FOUND`, `SESSION_CLOSED`, `BAD_USER_INPUT`.
    async fn store_session_data(
        &self,
        ctx: &Context<'_>,
        session_id: ID,
        data: Option<Json<Value>>,
    ) -> Result<SessionObject> {
        let id = parse_id(InputField::SessionId, &session_id).extend()?;
        let (controller, _) = allowed(ctx, Operation::StoreSessionData, Some(&id)).await?;
        let session = controller.store_data(&id, data.map(|json| json.0)).await;
        Ok(SessionObject::from(session.extend()?))
    }

    /// Replace an open session's cached user and mark it active now. Errors: `NOT_FOUND`, `SESSION_CLOSED`, `BAD_USER_INPUT`.
    async fn update_session_user(
        &self,
        ctx: &Context<'_>,
        session_id: ID,
        user: Option<Json<Value>>,
    ) -> Result<SessionObject> {
        let id = parse_id(InputField::SessionId, &session_id).extend()?;
        let (controller, _) = allowed(ctx, Operation::UpdateSessionUser, Some(&id)).await?;
        let session = controller.update_user(&id, user.map(|json| json.0)).await;
        Ok(SessionObject::from(session.extend()?))
    }

    /// Close a session and drop its cached user and data; closing a closed session returns it unchanged, with its first close reason. Errors: `NOT_FOUND`; `BAD_USER_INPUT` for a reason other than LOGOUT or REVOKED.
    async fn close_session(
        &self,
        ctx: &Context<'_>,
        session_id: ID,
        #[graphql(
            default_with = "Some(CloseReasonValue::Logout)",
            desc = "Why: LOGOUT (the default, also for null: the user signed out) or REVOKED (an administrator or another device ended it). The other reasons are the service's own."
        )]
        reason: Option<CloseReasonValue>,
    ) -> Result<SessionObject> {
        let id = parse_id(InputField::SessionId, &session_id).extend()?;
        let (controller, by) = allowed(ctx, Operation::CloseSession, Some(&id)).await?;
        let reason = reason.unwrap_or(CloseReasonValue::Logout).into();
        let session = controller.close_by(&id, reason, &by).await;
        Ok(SessionObject::from(session.extend()?))
    }

    /// Mark an open session active now without changing anything else, moving its expiresAt. A touch soon after the last activity (within the service's touch interval) is answered without a write. Errors: `NOT_FOUND`, `SESSION_CLOSED` (an expired session is closed by the touch).
    async fn touch_session(&self, ctx: &Context<'_>, session_id: ID) -> Result<SessionObject> {
        let id = parse_id(InputField::SessionId, &session_id).extend()?;
        let (controller, _) = allowed(ctx, Operation::TouchSession, Some(&id)).await?;
        Ok(SessionObject::from(controller.touch(&id).await.extend()?))
    }

    /// Give an open session a new token (in the answer's `token`, shown only this once); the old token stops working at once. Use it after a privilege change (session-fixation defence). Errors: `NOT_FOUND`, `SESSION_CLOSED`.
    async fn rotate_session_token(
        &self,
        ctx: &Context<'_>,
        session_id: ID,
    ) -> Result<SessionObject> {
        let id = parse_id(InputField::SessionId, &session_id).extend()?;
        let (controller, _) = allowed(ctx, Operation::RotateSessionToken, Some(&id)).await?;
        let rotated = controller.rotate_token(&id).await.extend()?;
        Ok(SessionObject::with_token(rotated))
    }

    /// Close every open session of a user ("log out everywhere"), except the one named, with reason REVOKED, atomically with respect to concurrent opens of that user; returns how many were closed. An unknown user closes none. With a session token, its own user only (else `FORBIDDEN`).
    async fn close_user_sessions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user whose sessions to close.")] user_id: String,
        #[graphql(
            desc = "A session to keep open, such as the caller's own (\"log out everywhere else\")."
        )]
        except_session_id: Option<ID>,
    ) -> Result<i32> {
        let (grant, actor) = authorize(ctx, Operation::CloseUserSessions)?;
        let user_id = grant
            .confine_user(Some(user_id))
            .map_err(|denied| denied.extend())?
            .unwrap_or_default();
        let controller = ctx.data::<SessionsController>()?;
        let except = except_session_id
            .map(|id| parse_id(InputField::ExceptSessionId, &id))
            .transpose()
            .extend()?;
        let closed = controller
            .close_user_sessions_by(&user_id, except, &actor.label())
            .await
            .extend()?;
        Ok(i32::try_from(closed).unwrap_or(i32::MAX))
    }

    /// Close every open session past its expiry (idle for longer than the expire timeout, or older than the maximum lifetime), each with its reason; returns how many were closed.
    async fn close_expired_sessions(&self, ctx: &Context<'_>) -> Result<i32> {
        let (controller, _) = allowed(ctx, Operation::CloseExpiredSessions, None).await?;
        let closed = controller.close_expired().await.extend()?;
        Ok(i32::try_from(closed).unwrap_or(i32::MAX))
    }

    /// Remove a session for good; returns it, or null when there was none.
    async fn delete_session(
        &self,
        ctx: &Context<'_>,
        session_id: ID,
    ) -> Result<Option<SessionObject>> {
        let id = parse_id(InputField::SessionId, &session_id).extend()?;
        let (controller, _) = allowed(ctx, Operation::DeleteSession, Some(&id)).await?;
        Ok(controller
            .delete(&id)
            .await
            .extend()?
            .map(SessionObject::from))
    }
}
