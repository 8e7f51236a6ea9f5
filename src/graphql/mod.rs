//! The GraphQL API: schema, root types, scalars and error codes.

pub mod access;
pub mod documents;
pub mod errors;
pub mod fragments;
pub mod mutation;
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

/// Build the schema over `controller`, with the depth and complexity limits applied and a
/// cache of [`documents::DEFAULT_CAPACITY`] parsed documents.
pub fn build_schema(controller: SessionsController) -> AppSchema {
    build_schema_with_cache(controller, documents::DEFAULT_CAPACITY)
}

/// Like [`build_schema`], with a parsed-document cache of `capacity` documents (0: none,
/// every request is parsed; for benchmarks and tests).
pub fn build_schema_with_cache(controller: SessionsController, capacity: usize) -> AppSchema {
    schema_with(
        controller,
        phases::RequestPhases::with_cache_capacity(capacity),
    )
}

/// The schema over `controller`, with `phases` (and so its document cache) as its extension.
fn schema_with(controller: SessionsController, phases: phases::RequestPhases) -> AppSchema {
    Schema::build(QueryRoot, MutationRoot, SubscriptionRoot)
        .data(controller)
        // The only extension: async-graphql runs every field through each extension's hooks.
        .extension(phases)
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
