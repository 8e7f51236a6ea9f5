//! `GET` and `POST /graphql`: GraphQL over HTTP, with the status codes of the
//! GraphQL-over-HTTP spec.
//!
//! | request | status |
//! |---|---|
//! | body is not a JSON GraphQL request, or GET without `query` | 400 `BAD_REQUEST` |
//! | body larger than 1 MiB | 413 `PAYLOAD_TOO_LARGE` |
//! | POST without a JSON content type (none at all included: CSRF) | 415 `BAD_REQUEST` |
//! | JSON body nesting deeper than 64 levels | 400 `BAD_USER_INPUT` |
//! | mutation over GET | 405 `METHOD_NOT_ALLOWED`, with `Allow: POST` |
//! | authentication on, no valid credential (see [`super::auth`]) | 401 `UNAUTHENTICATED`, with `WWW-Authenticate: Bearer` |
//! | document fails to parse or validate | 400 when the client accepts `application/graphql-response+json`, else 200 (`application/json`), as the spec says |
//! | anything else | 200, with `errors` for failed fields |

use async_graphql::{ServerError, Variables};
use axum::Extension;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::AppState;
use super::body::{self, BodyError};
use super::correlation::CorrelationId;
use super::errors::error_response;
use crate::auth::Actor;
use crate::graphql::errors::code;
use crate::graphql::phases::ReadOnly;
use crate::nesting;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

/// `GET /graphql?query=…&variables=…&operationName=…`: queries only.
pub async fn get(
    State(state): State<AppState>,
    Extension(id): Extension<CorrelationId>,
    Extension(actor): Extension<Actor>,
    headers: HeaderMap,
    params: Result<Query<Params<String>>, QueryRejection>,
) -> Response {
    // Before serde_json and async-graphql recurse into the variables.
    if let Ok(Query(Params {
        variables: Some(text),
        ..
    })) = &params
        && let Err(error) = nesting::check_json(text.as_bytes(), "`variables`")
    {
        return too_deep(&error, &id);
    }
    let request = params
        .map_err(|rejection| rejection.body_text())
        .and_then(|Query(params)| params.into_request());
    let request = match request {
        Ok(request) => request,
        Err(error) => {
            let message =
                format!("GET /graphql needs a `query` parameter ({error}); the playground is at /");
            return error_response(StatusCode::BAD_REQUEST, code::BAD_REQUEST, message, &id);
        }
    };
    let read_only = ReadOnly {
        operation_name: request.operation_name.clone(),
    };
    execute(&state, request.data(read_only), actor, id, &headers).await
}

/// `POST /graphql` with a JSON body `{"query", "variables"?, "operationName"?}`.
pub async fn post(
    State(state): State<AppState>,
    Extension(id): Extension<CorrelationId>,
    Extension(actor): Extension<Actor>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if !body::is_json(&headers) {
        body::discard(body).await;
        let message = "the request body must be JSON, sent with Content-Type: application/json";
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code::BAD_REQUEST,
            message,
            &id,
        );
    }
    let bytes = match body::read(body).await {
        Ok(bytes) => bytes,
        Err(error @ BodyError::TooLarge) => {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                code::PAYLOAD_TOO_LARGE,
                error.to_string(),
                &id,
            );
        }
        Err(error) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                code::BAD_REQUEST,
                error.to_string(),
                &id,
            );
        }
    };
    // Before serde_json and async-graphql recurse into the variables.
    if let Err(error) = nesting::check_json(&bytes, "the request body") {
        return too_deep(&error, &id);
    }
    let request = serde_json::from_slice::<Params<Map<String, Value>>>(&bytes)
        .map_err(|error| error.to_string())
        .and_then(Params::into_request);
    match request {
        Ok(request) => execute(&state, request, actor, id, &headers).await,
        Err(error) => {
            let message =
                format!("the body is not a GraphQL request ({{\"query\": \"…\"}}): {error}");
            error_response(StatusCode::BAD_REQUEST, code::BAD_REQUEST, message, &id)
        }
    }
}

fn too_deep(error: &nesting::TooDeep, id: &CorrelationId) -> Response {
    error_response(
        StatusCode::BAD_REQUEST,
        code::BAD_USER_INPUT,
        error.to_string(),
        id,
    )
}

/// The parameters of a GraphQL-over-HTTP request, named as the spec names them. Our own type
/// rather than async-graphql's: that one reads a missing `query` as "" and, over GET, expects
/// `operation_name` instead of `operationName`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Params<V> {
    query: String,
    operation_name: Option<String>,
    /// A JSON object in a POST body; JSON text in a GET query string.
    variables: Option<V>,
}

impl<V: VariablesSource> Params<V> {
    fn into_request(self) -> Result<async_graphql::Request, String> {
        let mut request = async_graphql::Request::new(self.query);
        if let Some(name) = self.operation_name {
            request = request.operation_name(name);
        }
        if let Some(variables) = self.variables {
            request = request.variables(Variables::from_json(Value::Object(variables.into_map()?)));
        }
        Ok(request)
    }
}

/// Where `variables` come from: an object already parsed, or JSON text to parse.
pub trait VariablesSource {
    /// The variables as a JSON object.
    fn into_map(self) -> Result<Map<String, Value>, String>;
}

impl VariablesSource for Map<String, Value> {
    fn into_map(self) -> Result<Map<String, Value>, String> {
        Ok(self)
    }
}

impl VariablesSource for String {
    fn into_map(self) -> Result<Map<String, Value>, String> {
        serde_json::from_str(&self).map_err(|e| format!("`variables` is not a JSON object: {e}"))
    }
}

async fn execute(
    state: &AppState,
    request: async_graphql::Request,
    actor: Actor,
    id: CorrelationId,
    headers: &HeaderMap,
) -> Response {
    let unauthenticated = actor == Actor::Unauthenticated;
    let request = request.data(actor);
    let mut response = state.schema.execute(request.data(id.clone())).await;
    // Without a credential only introspection runs (`--public-introspection`): any root
    // field refused (or refused input) makes the whole request a 401; every root field
    // refuses before it does anything, so nothing ran.
    if unauthenticated
        && response
            .errors
            .iter()
            .any(|e| !e.path.is_empty() || has_code(e, code::UNAUTHENTICATED))
    {
        return super::auth::unauthenticated(false, false, &id);
    }
    for error in &mut response.errors {
        label(error, &id);
    }
    let modern = accepts_graphql_response_json(headers);
    let status = status_for(&response.errors, modern);
    let content_type = if modern {
        GRAPHQL_RESPONSE_JSON
    } else {
        "application/json"
    };
    let mut http = (status, axum::Json(response)).into_response();
    http.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if status == StatusCode::METHOD_NOT_ALLOWED {
        http.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    http
}

/// Give every error a `code` (async-graphql's own input-coercion errors come without one:
/// they are the caller's mistake) and the request's correlation id.
fn label(error: &mut ServerError, id: &CorrelationId) {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code::BAD_USER_INPUT);
    }
    extensions.set("correlationId", id.as_str());
}

fn has_code(error: &ServerError, wanted: &str) -> bool {
    error
        .extensions
        .as_ref()
        .and_then(|ext| ext.get("code"))
        .is_some_and(|code| *code == async_graphql::Value::from(wanted))
}

fn status_for(errors: &[ServerError], modern: bool) -> StatusCode {
    let has = |wanted: &str| errors.iter().any(|e| has_code(e, wanted));
    if has(code::METHOD_NOT_ALLOWED) {
        StatusCode::METHOD_NOT_ALLOWED
    } else if modern && (has(code::GRAPHQL_PARSE_FAILED) || has(code::GRAPHQL_VALIDATION_FAILED)) {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    }
}

fn accepts_graphql_response_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains(GRAPHQL_RESPONSE_JSON))
}
