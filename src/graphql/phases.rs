//! The one extension every GraphQL request runs through: it bounds the request, reuses parsed
//! documents, labels request-level failures, refuses mutations sent over GET, and counts and
//! times the operation.
//!
//! async-graphql reports parse and validation failures (including the depth and complexity
//! limits) as plain errors; labelling them here gives clients a `code`, and lets the HTTP
//! layer choose the status the GraphQL-over-HTTP spec asks for.
//!
//! It also bounds nesting before async-graphql's recursive parser and value code see the
//! request (see [`crate::nesting`]): a document nesting brackets deeper than
//! [`MAX_DEPTH`](crate::nesting::MAX_DEPTH) is `GRAPHQL_PARSE_FAILED`, a variable nesting
//! deeper is `BAD_USER_INPUT`. Every transport goes through here, so none can skip it.
//!
//! Documents that passed those bounds are kept, parsed, in a [`DocumentCache`] keyed by their
//! text: the next request with the same text (whatever its variables) skips the scan, the
//! parse and the fragment count. Validation still runs on every request, as it depends on the
//! variables.
//!
//! Metrics (`sessions_graphql_operations_total`, `sessions_graphql_operation_duration_seconds`)
//! are recorded here too, around the whole request, so a document refused before it runs
//! (nesting, parse, fragment or validation limits) counts as an `error`; one that did not
//! parse has the type `unknown`. One extension rather than two: async-graphql sends every
//! field of every request through each extension's `resolve` hook (a boxed future each), so
//! each extension costs per field, not only per request.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest, NextRequest,
    NextValidation,
};
use async_graphql::parser::parse_query;
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{Request, Response, ServerError, ServerResult, ValidationResult, Variables};

use super::documents::DocumentCache;
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

/// Factory for the per-request extension; it holds the schema's [`DocumentCache`].
#[derive(Clone, Debug, Default)]
pub struct RequestPhases {
    documents: Arc<DocumentCache>,
}

impl RequestPhases {
    /// Phases whose document cache holds at most `capacity` documents (0: none).
    pub fn with_cache_capacity(capacity: usize) -> Self {
        Self {
            documents: Arc::new(DocumentCache::new(capacity)),
        }
    }

    /// The parsed documents kept so far.
    pub fn documents(&self) -> &Arc<DocumentCache> {
        &self.documents
    }
}

impl ExtensionFactory for RequestPhases {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Phases {
            documents: Arc::clone(&self.documents),
            selected: OnceLock::new(),
            kind: OnceLock::new(),
        })
    }
}

/// One request's passage through the phases.
struct Phases {
    documents: Arc<DocumentCache>,
    /// The type of the operation the document selects, found in `prepare_request`.
    selected: OnceLock<&'static str>,
    /// That type once the document is accepted in `parse_query`; `unknown` until then.
    kind: OnceLock<&'static str>,
}

#[async_trait::async_trait]
impl Extension for Phases {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let started = Instant::now();
        let response = next.run(ctx).await;
        let kind = self.kind.get().copied().unwrap_or("unknown");
        crate::metrics::graphql_operation(kind, response.errors.is_empty(), started.elapsed());
        response
    }

    /// Bound the request, then parse it here (async-graphql reuses the parsed document), or
    /// take it from the cache: nesting first, since the parser recurses per level, then the
    /// fragment expansion, since async-graphql's own depth and validation passes expand
    /// fragments as they go. A cached document passed both when it was parsed.
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let cached = self.documents.get(&request.query);
        if cached.is_none() {
            nesting::check_graphql(&request.query)
                .map_err(|error| refuse(&error, code::GRAPHQL_PARSE_FAILED))?;
        }
        check_variables(&request.variables)?;
        let document = match cached {
            Some(document) => document,
            None => {
                let document = parse_query(&request.query)
                    .map_err(|error| with_code(error.into(), code::GRAPHQL_PARSE_FAILED))?;
                fragments::check(&document, MAX_EXPANDED_FIELDS)
                    .map_err(|error| refuse(&error, code::GRAPHQL_VALIDATION_FAILED))?;
                self.documents.insert(&request.query, &document);
                document
            }
        };
        self.select(&document, request.operation_name.as_deref());
        // async-graphql runs this document rather than parsing the text again.
        request.set_parsed_query(document);
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
        if let Some(kind) = self.selected.get() {
            let _ = self.kind.set(kind);
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

impl Phases {
    /// Note the type of the operation `document` runs under `name`, for the metrics.
    fn select(&self, document: &ExecutableDocument, name: Option<&str>) {
        if let Some(ty) = selected_type(document, name) {
            let _ = self.selected.set(type_label(ty));
        }
    }
}

/// Refuse variables nesting deeper than [`nesting::MAX_DEPTH`] before async-graphql's value
/// code recurses into them. (The document's own bound is checked before it is parsed.)
fn check_variables(variables: &Variables) -> ServerResult<()> {
    for value in variables.values() {
        nesting::check_value(value, "a variable")
            .map_err(|error| refuse(&error, code::BAD_USER_INPUT))?;
    }
    Ok(())
}

/// A request-level error with `code`.
fn refuse(error: &dyn std::fmt::Display, code: &str) -> ServerError {
    with_code(ServerError::new(error.to_string(), None), code)
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

/// Set `extensions.code` unless the error already has one.
fn with_code(mut error: ServerError, code: &str) -> ServerError {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code);
    }
    error
}

#[cfg(test)]
mod tests {
    use async_graphql::{Request, Response, Variables};
    use serde_json::{Value, json};

    use super::*;
    use crate::graphql::documents::MAX_TOTAL_BYTES;
    use crate::graphql::{AppSchema, schema_with};
    use crate::store::MemoryStore;
    use crate::{ControllerOptions, NewSession, SessionsController};

    const READ: &str = "query($id: ID!){ session(id: $id){ id userId } }";

    /// A schema whose document cache holds `capacity` documents, the cache, and the ids of
    /// two sessions of users `a` and `b`.
    async fn schema(capacity: usize) -> (AppSchema, Arc<DocumentCache>, [String; 2]) {
        let controller =
            SessionsController::new(Arc::new(MemoryStore::new()), ControllerOptions::default());
        let mut ids = Vec::new();
        for user in ["a", "b"] {
            let new = NewSession {
                user_id: user.into(),
                ..NewSession::default()
            };
            ids.push(controller.open(new).await.expect("opened").id.to_string());
        }
        let phases = RequestPhases::with_cache_capacity(capacity);
        let documents = Arc::clone(phases.documents());
        let ids = [ids[0].clone(), ids[1].clone()];
        (schema_with(controller, phases), documents, ids)
    }

    async fn run(schema: &AppSchema, query: &str, variables: Value) -> Response {
        let request = Request::new(query).variables(Variables::from_json(variables));
        schema.execute(request).await
    }

    fn data(response: &Response) -> Value {
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        response.data.clone().into_json().expect("JSON")
    }

    fn code(response: &Response) -> String {
        let error = response.errors.first().expect("an error");
        let code = error.extensions.as_ref().and_then(|e| e.get("code"));
        code.map(ToString::to_string).unwrap_or_default()
    }

    #[tokio::test]
    async fn one_cached_document_answers_each_request_with_its_own_variables() {
        let (schema, documents, [a, b]) = schema(4).await;
        let first = run(&schema, READ, json!({ "id": a })).await;
        assert_eq!(documents.len(), 1, "the document is cached once it has run");
        let second = run(&schema, READ, json!({ "id": b })).await;
        assert_eq!(documents.len(), 1, "the same text is cached once");
        assert_eq!(data(&first), json!({"session": {"id": a, "userId": "a"}}));
        assert_eq!(data(&second), json!({"session": {"id": b, "userId": "b"}}));
        // A cached document still checks its variables.
        let bad = run(&schema, READ, json!({ "id": 7.5 })).await;
        assert!(!bad.errors.is_empty());
        assert_eq!(code(&bad), "\"GRAPHQL_VALIDATION_FAILED\"");
    }

    #[tokio::test]
    async fn the_bounds_still_hold_once_documents_are_cached() {
        let (schema, documents, [a, _]) = schema(4).await;
        assert!(
            run(&schema, READ, json!({ "id": a }))
                .await
                .errors
                .is_empty()
        );

        let depth = nesting::MAX_DEPTH + 1;
        let deep = format!(
            "{{ session(id: {}1{}) {{ id }} }}",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let refused = run(&schema, &deep, json!({})).await;
        assert_eq!(code(&refused), "\"GRAPHQL_PARSE_FAILED\"");

        let deep_variable = json!({ "id": a, "x": (0..depth).fold(json!(1), |v, _| json!([v])) });
        let refused = run(&schema, READ, deep_variable).await;
        assert_eq!(
            code(&refused),
            "\"BAD_USER_INPUT\"",
            "variables are checked on a hit"
        );

        let cycle = "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }";
        let refused = run(&schema, cycle, json!({})).await;
        assert_eq!(code(&refused), "\"GRAPHQL_VALIDATION_FAILED\"");
        for _ in 0..2 {
            let unparsable = run(&schema, "{ session(id: ", json!({})).await;
            assert_eq!(code(&unparsable), "\"GRAPHQL_PARSE_FAILED\"");
        }
        assert_eq!(documents.len(), 1, "refused documents are not cached");
    }

    #[tokio::test]
    async fn a_cached_mutation_is_still_refused_over_get() {
        let (schema, _, [a, _]) = schema(4).await;
        let close = "mutation($id: ID!){ closeSession(id: $id){ id } }";
        let read_only = ReadOnly::default();
        for _ in 0..2 {
            let request = Request::new(close)
                .variables(Variables::from_json(json!({ "id": a })))
                .data(read_only.clone());
            let refused = schema.execute(request).await;
            assert_eq!(code(&refused), "\"METHOD_NOT_ALLOWED\"");
        }
        let read = data(&run(&schema, READ, json!({ "id": a })).await);
        assert_eq!(read["session"]["id"], json!(a), "nothing was closed");
    }

    #[tokio::test]
    async fn the_cache_is_bounded_and_keeps_the_documents_in_use() {
        let (schema, documents, [a, _]) = schema(3).await;
        for n in 0..10 {
            run(&schema, READ, json!({ "id": a })).await;
            let other = format!("query Q{n}($id: ID!){{ session(id: $id){{ id }} }}");
            assert!(
                run(&schema, &other, json!({ "id": a }))
                    .await
                    .errors
                    .is_empty()
            );
            assert!(documents.len() <= 3);
        }
        assert_eq!(documents.len(), 3);
        assert!(
            documents.get(READ).is_some(),
            "the document read each time stays"
        );

        let long = format!(
            "{READ}{}",
            " ".repeat(crate::graphql::documents::MAX_QUERY_BYTES)
        );
        let (schema, documents, [a, _]) = self::schema(3).await;
        assert!(
            run(&schema, &long, json!({ "id": a }))
                .await
                .errors
                .is_empty()
        );
        assert!(
            documents.is_empty(),
            "a text over the size bound is not kept"
        );

        // Many texts just under the size bound: the total bound evicts before the count.
        let (schema, documents, [a, _]) = self::schema(1000).await;
        let limit = crate::graphql::documents::MAX_QUERY_BYTES;
        for n in 0..(MAX_TOTAL_BYTES / limit + 5) {
            let query = format!("query Q{n}($id: ID!){{ session(id: $id){{ id }} }}");
            let padded = format!("{query}{}", " ".repeat(limit - query.len()));
            assert!(
                run(&schema, &padded, json!({ "id": a }))
                    .await
                    .errors
                    .is_empty()
            );
        }
        assert_eq!(documents.len(), MAX_TOTAL_BYTES / limit);
    }

    #[tokio::test]
    async fn no_cache_still_answers() {
        let (schema, documents, [a, _]) = schema(0).await;
        for _ in 0..2 {
            let read = data(&run(&schema, READ, json!({ "id": a })).await);
            assert_eq!(read["session"]["userId"], json!("a"));
        }
        assert!(documents.is_empty());
    }
}
