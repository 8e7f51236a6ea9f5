//! An extension that counts and times every GraphQL operation by its type and outcome
//! (`sessions_graphql_operations_total`, `sessions_graphql_operation_duration_seconds`).
//!
//! It wraps the whole request, so a document refused before it runs (nesting, parse,
//! fragment or validation limits) counts as an `error`; one that did not parse has the type
//! `unknown`.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Instant;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest, NextRequest,
};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{Request, Response, ServerResult, Variables};

use crate::metrics;

/// Factory for the per-request [`Extension`] that records operation metrics.
#[derive(Clone, Copy, Debug, Default)]
pub struct OperationMetrics;

impl ExtensionFactory for OperationMetrics {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Observed::default())
    }
}

/// What one request has shown of itself so far.
#[derive(Default)]
struct Observed {
    /// The `operationName` the client sent, kept from `prepare_request` for `parse_query`.
    operation_name: Mutex<Option<String>>,
    /// The type of the operation that runs, once the document has parsed.
    kind: OnceLock<&'static str>,
}

#[async_trait::async_trait]
impl Extension for Observed {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = Instant::now();
        let response = next.run(ctx).await;
        let kind = self.kind.get().copied().unwrap_or("unknown");
        metrics::graphql_operation(kind, response.errors.is_empty(), started.elapsed());
        response
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        if let Some(name) = &request.operation_name {
            *self
                .operation_name
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(name.clone());
        }
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let name = self
            .operation_name
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(ty) = selected_type(&document, name.as_deref()) {
            let _ = self.kind.set(type_label(ty));
        }
        Ok(document)
    }
}

/// The type of the operation the request runs: the only one, or the one named. `None` when
/// the name selects nothing (async-graphql then refuses the request).
fn selected_type(document: &ExecutableDocument, name: Option<&str>) -> Option<OperationType> {
    match (&document.operations, name) {
        (DocumentOperations::Single(operation), _) => Some(operation.node.ty),
        (DocumentOperations::Multiple(operations), Some(name)) => operations
            .iter()
            .find(|(operation_name, _)| operation_name.as_str() == name)
            .map(|(_, operation)| operation.node.ty),
        (DocumentOperations::Multiple(operations), None) => {
            let mut types = operations.values().map(|operation| operation.node.ty);
            // With several operations and no name async-graphql refuses the request; one
            // type for all of them is still that type.
            let first = types.next()?;
            types.all(|ty| ty == first).then_some(first)
        }
    }
}

fn type_label(ty: OperationType) -> &'static str {
    match ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    }
}
