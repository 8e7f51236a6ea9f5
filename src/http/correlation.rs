//! Correlation ids: one per request, from the client's `X-Correlation-Id` or generated.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{MatchedPath, Query, Request};
use axum::http::{HeaderName, HeaderValue, Uri};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Span;

/// The header a correlation id travels in, both ways.
pub const HEADER: HeaderName = HeaderName::from_static("x-correlation-id");

/// Longest correlation id taken from a client; longer ones are replaced by a generated id.
pub const MAX_LEN: usize = 128;

/// The correlation id of the current request, kept in the request's extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorrelationId(String);

impl CorrelationId {
    /// Take the client's id when it is 1 to [`MAX_LEN`] visible ASCII characters (no spaces or
    /// control characters, so it is safe in logs and headers); otherwise generate one.
    pub fn from_header(value: Option<&HeaderValue>) -> Self {
        value
            .and_then(|v| v.to_str().ok())
            .filter(|v| (1..=MAX_LEN).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()))
            .map_or_else(Self::generate, |v| Self(v.to_owned()))
    }

    /// A fresh random id: 32 hex digits.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Middleware: give the request its correlation id and echo it in the response header.
///
/// The id comes from the `X-Correlation-Id` header, else from a `correlation_id` query
/// parameter (which the original's REST clients add), else it is generated.
pub async fn assign(mut request: Request, next: Next) -> Response {
    let id = match request.headers().get(HEADER) {
        Some(header) => CorrelationId::from_header(Some(header)),
        None => CorrelationId::from_header(from_query(request.uri()).as_ref()),
    };
    request.extensions_mut().insert(id.clone());
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

/// The `correlation_id` query parameter, when there is one.
fn from_query(uri: &Uri) -> Option<HeaderValue> {
    let Query(params) = Query::<HashMap<String, String>>::try_from_uri(uri).ok()?;
    HeaderValue::from_str(params.get("correlation_id")?).ok()
}

/// The log span of a request, carrying its correlation id, method and matched route (for
/// `TraceLayer`). Headers stay out of it: `Authorization` must never reach a log.
pub fn span<B>(request: &axum::http::Request<B>) -> Span {
    let id = request
        .extensions()
        .get::<CorrelationId>()
        .map_or("-", CorrelationId::as_str);
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(crate::metrics::UNMATCHED_ROUTE, MatchedPath::as_str);
    tracing::info_span!(
        "request",
        method = %request.method(),
        route = %route,
        correlation_id = %id,
        // Filled in by `auth::authenticate`: `key:NAME`, `session:ID`, `anonymous`.
        actor = tracing::field::Empty,
    )
}

/// The one `info` line of a request, written when its answer is ready (for `TraceLayer`); the
/// span adds the method, route and correlation id.
pub fn completed<B>(response: &axum::http::Response<B>, latency: Duration, _span: &Span) {
    tracing::info!(
        status = response.status().as_u16(),
        // Whole microseconds, so the number prints short (1.234, not 1.2340000000000002).
        duration_ms = latency.as_micros() as f64 / 1000.0,
        "request completed"
    );
}
