//! An extension that labels request-level failures and refuses mutations sent over GET.
//!
//! async-graphql reports parse and validation failures (including the depth and complexity
//! limits) as plain errors; labelling them here gives clients a `code`, and lets the HTTP
//! layer choose the status the GraphQL-over-HTTP spec asks for.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{ServerError, ServerResult, ValidationResult, Variables};

use super::errors::code;

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
