//! An extension that labels request-level failures and refuses mutations sent over GET.
//!
//! async-graphql reports parse and validation failures (including the depth and complexity
//! limits) as plain errors; labelling them here gives clients a `code`, and lets the HTTP
//! layer choose the status the GraphQL-over-HTTP spec asks for.
//!
//! It also bounds nesting before async-graphql's recursive parser and value code see the
//! request (see [`crate::nesting`]): a document nesting brackets deeper than
//! [`MAX_DEPTH`](crate::nesting::MAX_DEPTH) is `GRAPHQL_PARSE_FAILED`, a variable nesting
//! deeper is `BAD_USER_INPUT`. Every transport goes through here, so none can skip it.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest,
    NextValidation,
};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{Request, ServerError, ServerResult, ValidationResult, Variables};

use super::errors::code;
use super::fragments;
use crate::nesting;

/// Most fields a document may select once its fragments are expanded; beyond it the request
/// is refused before async-graphql expands them (see [`fragments`]). Ten times the complexity
/// limit, which refuses anything over a thousand fields later anyway.
pub const MAX_EXPANDED_FIELDS: usize = 10 * super::MAX_COMPLEXITY;

/// Request data that marks a request as read-only (it came over GET), with the operation
/// the client selected, if any.
#[derive(Clone, Debug, Default)]
pub struct ReadOnly {
    /// The `operationName` the client sent.
    pub operation_name: Option<String>,
}

/// Factory for the [`RequestPhases`] extension.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestPhases;

impl ExtensionFactory for RequestPhases {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestPhases)
    }
}

#[async_trait::async_trait]
impl Extension for RequestPhases {
    /// Bound the request, then parse it here (async-graphql reuses the parsed document):
    /// nesting first, since the parser recurses per level, then the fragment expansion, since
    /// async-graphql's own depth and validation passes expand fragments as they go.
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        check_nesting(&request.query, &request.variables)?;
        let document = request
            .parsed_query()
            .map_err(|error| with_code(error, code::GRAPHQL_PARSE_FAILED))?;
        fragments::check(document, MAX_EXPANDED_FIELDS).map_err(|error| {
            with_code(
                ServerError::new(error.to_string(), None),
                code::GRAPHQL_VALIDATION_FAILED,
            )
        })?;
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next
            .run(ctx, query, variables)
            .await
            .map_err(|error| with_code(error, code::GRAPHQL_PARSE_FAILED))?;
        if let Some(read_only) = ctx.data_opt::<ReadOnly>()
            && selects_mutation(&document, read_only.operation_name.as_deref())
        {
            let error = ServerError::new("mutations must be sent with POST, not GET", None);
            return Err(with_code(error, code::METHOD_NOT_ALLOWED));
        }
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| {
            errors
                .into_iter()
                .map(|error| with_code(error, code::GRAPHQL_VALIDATION_FAILED))
                .collect()
        })
    }
}

/// Refuse documents and variables nesting deeper than [`nesting::MAX_DEPTH`], before the
/// parser (which recurses once per level of a list or object literal, with no bound of its
/// own) sees them.
fn check_nesting(query: &str, variables: &Variables) -> ServerResult<()> {
    let refuse = |error: nesting::TooDeep, code: &str| {
        with_code(ServerError::new(error.to_string(), None), code)
    };
    nesting::check_graphql(query).map_err(|error| refuse(error, code::GRAPHQL_PARSE_FAILED))?;
    for value in variables.values() {
        nesting::check_value(value, "a variable")
            .map_err(|error| refuse(error, code::BAD_USER_INPUT))?;
    }
    Ok(())
}

/// Whether the operation the request would run is a mutation. With several operations and
/// no name, async-graphql itself rejects the request, so any mutation among them counts.
fn selects_mutation(document: &ExecutableDocument, name: Option<&str>) -> bool {
    let is_mutation = |ty: OperationType| ty == OperationType::Mutation;
    match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => is_mutation(op.node.ty),
        (DocumentOperations::Multiple(ops), Some(name)) => ops
            .iter()
            .any(|(op_name, op)| op_name.as_str() == name && is_mutation(op.node.ty)),
        (DocumentOperations::Multiple(ops), None) => ops.values().any(|op| is_mutation(op.node.ty)),
    }
}

/// Set `extensions.code` unless the error already has one.
fn with_code(mut error: ServerError, code: &str) -> ServerError {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code);
    }
    error
}
