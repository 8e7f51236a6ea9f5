//! GraphQL-shaped JSON error bodies, and the layer that turns every other error response into one.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tower::{Layer, Service};

use super::correlation::CorrelationId;
use crate::graphql::errors::code;
use crate::rest::errors::ErrorDescription;

/// A response whose body is `{"errors": [{"message", "extensions": {"code", "correlationId"}}]}`.
pub fn error_response(
    status: StatusCode,
    code: &str,
    message: impl Into<String>,
    correlation_id: &CorrelationId,
) -> Response {
    let body = json!({
        "errors": [{
            "message": message.into(),
            "extensions": { "code": code, "correlationId": correlation_id.as_str() },
        }]
    });
    (status, axum::Json(body)).into_response()
}

/// Layer: an error status whose body is not JSON (axum's and tower-http's own rejections:
/// 404, 405, 408, 413, …) gets a JSON error body in its place, so clients can always parse
/// what they receive; see [`json_errors`]. A plain tower layer rather than
/// `middleware::map_response`, which clones the whole inner stack for every request.
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonErrorsLayer;

impl<S> Layer<S> for JsonErrorsLayer {
    type Service = JsonErrors<S>;

    fn layer(&self, inner: S) -> JsonErrors<S> {
        JsonErrors { inner }
    }
}

/// The service of [`JsonErrorsLayer`].
#[derive(Clone, Debug)]
pub struct JsonErrors<S> {
    inner: S,
}

impl<S> Service<Request> for JsonErrors<S>
where
    S: Service<Request, Response = Response>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let rest = request.uri().path().starts_with(crate::rest::PREFIX);
        let id = request.extensions().get::<CorrelationId>().cloned();
        let answer = self.inner.call(request);
        Box::pin(async move { Ok(json_errors(rest, id, answer.await?)) })
    }
}

/// Response mapper: an error status whose body is not JSON gets a JSON error body in its
/// place, with the request's correlation id (a fresh one when it has none).
///
/// For a request under the v1 REST prefix (`rest`) the body is a Pip.Services error
/// description instead.
pub fn json_errors(
    rest: bool,
    correlation_id: Option<CorrelationId>,
    response: Response,
) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&response) {
        return response;
    }
    let id = correlation_id.unwrap_or_else(CorrelationId::generate);
    if let Some(Panicked(message)) = response.extensions().get::<Panicked>() {
        // The id as a field of the event itself, not only of the request's span, so the line
        // names the request whatever the log filter keeps.
        tracing::error!(correlation_id = %id.as_str(), panic = %message, "request handler panicked");
    }
    let (code, message) = match status {
        StatusCode::NOT_FOUND => (
            code::ROUTE_NOT_FOUND,
            "no such route; GraphQL is at /graphql",
        ),
        StatusCode::METHOD_NOT_ALLOWED => {
            (code::METHOD_NOT_ALLOWED, "method not allowed on this route")
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            (code::PAYLOAD_TOO_LARGE, "request body is larger than 1 MiB")
        }
        StatusCode::REQUEST_TIMEOUT => (code::REQUEST_TIMEOUT, "request took too long"),
        s if s.is_server_error() => (code::INTERNAL_SERVER_ERROR, "internal error"),
        _ => (code::BAD_REQUEST, "bad request"),
    };
    let mut replacement = if rest {
        ErrorDescription::new(status, code, message, &id).into_response()
    } else {
        error_response(status, code, message, &id)
    };
    // Keep headers such as `Allow` that tell the client what to do instead.
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            replacement
                .headers_mut()
                .insert(name.clone(), value.clone());
        }
    }
    replacement
}

/// The message of a panic that a request's handling hit, carried on its 500 response until
/// [`json_errors`] logs it with the correlation id.
#[derive(Clone, Debug)]
pub struct Panicked(pub String);

/// What a request that panicked is answered with: a plain 500 carrying [`Panicked`], which
/// [`json_errors`] logs and turns into a JSON error with the correlation id. The process goes
/// on serving.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    response
        .extensions_mut()
        .insert(Panicked(message.to_owned()));
    response
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.starts_with("application/json") || v.starts_with("application/graphql-response+json")
        })
}
