//! The `Query` root.

use async_graphql::{Context, ID, Object, Result, ResultExt};

use super::errors::parse_id;
use super::types::{PagingInput, SessionFilterInput, SessionObject, SessionPageObject};
use crate::controller::{Paging, SessionsController};
use crate::error::InputField;
use crate::model::SessionFilter;

/// Read-only operations.
#[derive(Default)]
pub struct QueryRoot;

/// Read sessions.
#[Object(name = "Query")]
impl QueryRoot {
    /// The session with this id, or null when there is none. Errors: `BAD_USER_INPUT` for a malformed id.
    async fn session(&self, ctx: &Context<'_>, id: ID) -> Result<Option<SessionObject>> {
        let controller = ctx.data::<SessionsController>()?;
        let id = parse_id(InputField::Id, &id).extend()?;
        Ok(controller.get(&id).await.extend()?.map(SessionObject))
    }

    /// Sessions matching the filter, most recent activity first (ties by id). Paging defaults to the first 100; `take` above 1000 is treated as 1000. Errors: `BAD_USER_INPUT` for negative paging values.
    async fn sessions(
        &self,
        ctx: &Context<'_>,
        filter: Option<SessionFilterInput>,
        paging: Option<PagingInput>,
    ) -> Result<SessionPageObject> {
        let controller = ctx.data::<SessionsController>()?;
        let filter = SessionFilter::try_from(filter.unwrap_or_default()).extend()?;
        let paging = paging.map(Paging::from).unwrap_or_default();
        Ok(controller.list(&filter, paging).await.extend()?.into())
    }
}
