//! The `Query` root.

use async_graphql::{Context, ErrorExtensions, ID, Object, Result, ResultExt};

use super::access::authorize;
use super::errors::parse_id;
use super::types::{PagingInput, SessionFilterInput, SessionObject, SessionPageObject};
use crate::auth::{Grant, Operation};
use crate::controller::{Paging, SessionsController};
use crate::error::InputField;
use crate::model::SessionFilter;

/// Read-only operations.
#[derive(Default)]
pub struct QueryRoot;

/// Read sessions.
#[Object(name = "Query")]
impl QueryRoot {
    /// The session with this id, or null when there is none (or, for a session token, when it belongs to another user). Errors: `BAD_USER_INPUT` for a malformed id.
    async fn session(&self, ctx: &Context<'_>, id: ID) -> Result<Option<SessionObject>> {
        let (grant, _) = authorize(ctx, Operation::Session)?;
        let controller = ctx.data::<SessionsController>()?;
        let id = parse_id(InputField::Id, &id).extend()?;
        let found = controller.get(&id).await.extend()?;
        Ok(found.filter(|s| grant.reaches(s)).map(SessionObject::from))
    }

    /// Sessions matching the filter, most recent activity first (ties by id). Paging defaults to the first 100; `take` above 1000 is treated as 1000. With a session token, only its own user's sessions (`filter.userId` absent or its own). Errors: `BAD_USER_INPUT` for negative paging values; `FORBIDDEN` for another user's sessions.
    async fn sessions(
        &self,
        ctx: &Context<'_>,
        filter: Option<SessionFilterInput>,
        paging: Option<PagingInput>,
    ) -> Result<SessionPageObject> {
        let (grant, _) = authorize(ctx, Operation::Sessions)?;
        let controller = ctx.data::<SessionsController>()?;
        let mut filter = SessionFilter::try_from(filter.unwrap_or_default()).extend()?;
        filter.user_id = grant
            .confine_user(filter.user_id)
            .map_err(|denied| denied.extend())?;
        let paging = paging.map(Paging::from).unwrap_or_default();
        Ok(controller.list(&filter, paging).await.extend()?.into())
    }

    /// The session of the session token sent in the `Authorization` header; null for an API key, or without a token when authentication is off.
    async fn current_session(&self, ctx: &Context<'_>) -> Result<Option<SessionObject>> {
        let (grant, _) = authorize(ctx, Operation::CurrentSession)?;
        let Grant::Session(id) = grant else {
            return Ok(None);
        };
        let controller = ctx.data::<SessionsController>()?;
        Ok(controller.get(&id).await.extend()?.map(SessionObject::from))
    }
}
