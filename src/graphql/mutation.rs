//! The `Mutation` root.

use async_graphql::{Context, ID, Json, Object, Result, ResultExt};
use serde_json::Value;

use super::errors::parse_id;
use super::types::{OpenSessionInput, SessionObject};
use crate::controller::SessionsController;
use crate::error::InputField;

/// Operations that change sessions.
#[derive(Default)]
pub struct MutationRoot;

/// Open, change, close and delete sessions.
#[Object(name = "Mutation")]
impl MutationRoot {
    /// Open a new active session. Errors: `BAD_USER_INPUT` naming the field that breaks a limit.
    async fn open_session(
        &self,
        ctx: &Context<'_>,
        input: OpenSessionInput,
    ) -> Result<SessionObject> {
        let controller = ctx.data::<SessionsController>()?;
        Ok(SessionObject(controller.open(input.into()).await.extend()?))
    }

    /// Replace an open session's data and mark it active now. Errors: `NOT_FOUND`, `SESSION_CLOSED`, `BAD_USER_INPUT`.
    async fn store_session_data(
        &self,
        ctx: &Context<'_>,
        session_id: ID,
        data: Option<Json<Value>>,
    ) -> Result<SessionObject> {
        let controller = ctx.data::<SessionsController>()?;
        let id = parse_id(InputField::SessionId, &session_id).extend()?;
        let session = controller.store_data(&id, data.map(|json| json.0)).await;
        Ok(SessionObject(session.extend()?))
    }

    /// Replace an open session's cached user and mark it active now. Errors: `NOT_FOUND`, `SESSION_CLOSED`, `BAD_USER_INPUT`.
    async fn update_session_user(
        &self,
        ctx: &Context<'_>,
        session_id: ID,
        user: Option<Json<Value>>,
    ) -> Result<SessionObject> {
        let controller = ctx.data::<SessionsController>()?;
        let id = parse_id(InputField::SessionId, &session_id).extend()?;
        let session = controller.update_user(&id, user.map(|json| json.0)).await;
        Ok(SessionObject(session.extend()?))
    }

    /// Close a session and drop its cached user and data; closing a closed session returns it unchanged. Errors: `NOT_FOUND`.
    async fn close_session(&self, ctx: &Context<'_>, session_id: ID) -> Result<SessionObject> {
        let controller = ctx.data::<SessionsController>()?;
        let id = parse_id(InputField::SessionId, &session_id).extend()?;
        Ok(SessionObject(controller.close(&id).await.extend()?))
    }

    /// Close every open session idle for longer than the expire timeout; returns how many were closed.
    async fn close_expired_sessions(&self, ctx: &Context<'_>) -> Result<i32> {
        let controller = ctx.data::<SessionsController>()?;
        let closed = controller.close_expired().await.extend()?;
        Ok(i32::try_from(closed).unwrap_or(i32::MAX))
    }

    /// Remove a session for good; returns it, or null when there was none.
    async fn delete_session(
        &self,
        ctx: &Context<'_>,
        session_id: ID,
    ) -> Result<Option<SessionObject>> {
        let controller = ctx.data::<SessionsController>()?;
        let id = parse_id(InputField::SessionId, &session_id).extend()?;
        Ok(controller.delete(&id).await.extend()?.map(SessionObject))
    }
}
