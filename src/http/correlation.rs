//! Correlation ids: one per request, from the client's `X-Correlation-Id` or generated.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{MatchedPath, Query, Request};
use axum::http::{HeaderName, HeaderValue, Uri};
use axum::response::Response;
use tower::{Layer, Service};
use tracing::Span;

/// The header a correlation id travels in, both ways.
pub const HEADER: HeaderName = HeaderName::from_static("x-correlation-id");

/// Longest correlation id taken from a client; longer ones are replaced by a generated id.
pub const MAX_LEN: usize = 128;

/// The correlation id of the current request, kept in the request's extensions. Cheap to
/// clone (handlers and error paths each take a copy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorrelationId(Arc<str>);

impl CorrelationId {
    /// Take the client's id when it is 1 to [`MAX_LEN`] visible ASCII characters (no spaces or
    /// control characters, so it is safe in logs and headers); otherwise generate one.
    pub fn from_header(value: Option<&HeaderValue>) -> Self {
        value
            .and_then(|v| v.to_str().ok())
            .filter(|v| (1..=MAX_LEN).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()))
            .map_or_else(Self::generate, |v| Self(Arc::from(v)))
    }

    /// A fresh id: 32 hex digits, unique in this process and, with a random half drawn at
    /// start, across processes.
    ///
    /// Not a secret, so not drawn from the operating system for each request (a system
    /// call): the first 16 digits are random per process, the last 16 a counter passed
    /// through a bijective mixer, so ids never repeat within a process and do not look
    /// sequential.
    pub fn generate() -> Self {
        static PROCESS: LazyLock<u64> = LazyLock::new(|| {
            let mut bytes = [0; 8];
            // Without the OS's randomness, the time still tells processes apart.
            if getrandom::getrandom(&mut bytes).is_err() {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                bytes = (now.as_nanos() as u64 ^ u64::from(std::process::id())).to_le_bytes();
            }
            u64::from_le_bytes(bytes)
        });
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let count = NEXT.fetch_add(1, Ordering::Relaxed);
        Self(Arc::from(format!("{:016x}{:016x}", *PROCESS, mix(count))))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// SplitMix64's finalizer: a bijection on `u64`, so distinct counts give distinct ids.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Layer: give the request its correlation id and echo it in the response header.
///
/// The id comes from the `X-Correlation-Id` header, else from a `correlation_id` query
/// parameter (which the original's REST clients add), else it is generated. A plain tower
/// layer rather than `middleware::from_fn`, which clones the whole inner stack (and boxes
/// it) for every request.
#[derive(Clone, Copy, Debug, Default)]
pub struct AssignLayer;

impl<S> Layer<S> for AssignLayer {
    type Service = Assign<S>;

    fn layer(&self, inner: S) -> Assign<S> {
        Assign { inner }
    }
}

/// The service of [`AssignLayer`].
#[derive(Clone, Debug)]
pub struct Assign<S> {
    inner: S,
}

impl<S> Service<Request> for Assign<S>
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

    fn call(&mut self, mut request: Request) -> Self::Future {
        let id = match request.headers().get(HEADER) {
            Some(header) => CorrelationId::from_header(Some(header)),
            None => CorrelationId::from_header(from_query(request.uri()).as_ref()),
        };
        let echo = HeaderValue::from_str(id.as_str()).ok();
        request.extensions_mut().insert(id);
        let answer = self.inner.call(request);
        Box::pin(async move {
            let mut response = answer.await?;
            if let Some(value) = echo {
                response.headers_mut().insert(HEADER, value);
            }
            Ok(response)
        })
    }
}

/// The `correlation_id` query parameter, when there is one.
fn from_query(uri: &Uri) -> Option<HeaderValue> {
    uri.query()?;
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
