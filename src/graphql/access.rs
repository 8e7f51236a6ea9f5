//! The permission check every root field runs first: the request's [`Actor`] against the
//! table in [`crate::auth::policy`].

use async_graphql::{Context, ErrorExtensions};

use super::errors::code;
use crate::auth::{Actor, Denied, Grant, Operation, policy};

/// The actor of the request: the one the HTTP layer put in its data, or, for a schema run
/// without HTTP (embedded, tests), [`Actor::ANONYMOUS`], as with authentication off.
pub fn actor<'a>(ctx: &'a Context<'_>) -> &'a Actor {
    ctx.data_opt::<Actor>().unwrap_or(&Actor::ANONYMOUS)
}

/// Check that the request's actor may run `operation`; returns what it may reach, and who
/// it is.
///
/// # Errors
/// `UNAUTHENTICATED` or `FORBIDDEN`.
pub fn authorize<'a>(
    ctx: &'a Context<'_>,
    operation: Operation,
) -> async_graphql::Result<(Grant, &'a Actor)> {
    let actor = actor(ctx);
    let grant = policy::check(actor, operation).map_err(|denied| denied.extend())?;
    Ok((grant, actor))
}

impl ErrorExtensions for Denied {
    fn extend(&self) -> async_graphql::Error {
        let code = match self {
            Self::Unauthenticated => code::UNAUTHENTICATED,
            Self::Forbidden => code::FORBIDDEN,
        };
        async_graphql::Error::new(self.to_string()).extend_with(|_, ext| ext.set("code", code))
    }
}
