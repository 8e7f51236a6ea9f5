//! Typed operations generated from `queries.graphql` and checked against `schema.graphql`
//! when the crate compiles: a schema change that breaks the client breaks the build.

#![allow(missing_docs, clippy::upper_case_acronyms)]

use graphql_client::GraphQLQuery;

/// The `DateTime` scalar on the client side.
pub type DateTime = chrono::DateTime<chrono::Utc>;
/// The `JSON` scalar on the client side.
pub type JSON = serde_json::Value;

macro_rules! operation {
    ($name:ident) => {
        #[derive(GraphQLQuery)]
        #[graphql(
            schema_path = "schema.graphql",
            query_path = "src/client/queries.graphql",
            response_derives = "Debug",
            variables_derives = "Debug"
        )]
        pub struct $name;
    };
}

operation!(GetSessions);
operation!(GetSessionById);
operation!(OpenSession);
operation!(StoreSessionData);
operation!(UpdateSessionUser);
operation!(CloseSession);
operation!(TouchSession);
operation!(CloseUserSessions);
operation!(CloseExpiredSessions);
operation!(DeleteSession);
