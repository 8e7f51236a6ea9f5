//! The GraphQL API: schema, root types, scalars and error codes.

pub mod access;
pub mod errors;
pub mod fragments;
pub mod mutation;
pub mod observe;
pub mod phases;
pub mod query;
pub mod scalars;
pub mod subscription;
pub mod types;

use async_graphql::Schema;

use crate::controller::SessionsController;
use mutation::MutationRoot;
use query::QueryRoot;
use subscription::SubscriptionRoot;

/// The service's schema type.
pub type AppSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Deepest selection nesting a query may have. GraphiQL's introspection query needs 13.
pub const MAX_DEPTH: usize = 16;
/// Largest query complexity (one per selected field). GraphiQL's introspection query is ~230.
pub const MAX_COMPLEXITY: usize = 1000;

/// Build the schema over `controller`, with the depth and complexity limits applied.
pub fn build_schema(controller: SessionsController) -> AppSchema {
    Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
        .data(controller)
        // First, so that it wraps (and times, and counts the refusals of) everything else.
        .extension(observe::OperationMetrics)
        .extension(phases::RequestPhases)
        // The parser's own bound on selection nesting (32 by default) would report deep
        // selections as parse failures; the document's bracket bound already covers that.
        .limit_recursive_depth(crate::nesting::MAX_DEPTH)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .finish()
}

/// The schema in GraphQL SDL, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
        .finish()
        .sdl()
}
