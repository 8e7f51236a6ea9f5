//! `GET /metrics` (Prometheus' text format) and the layer that counts and times requests.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use super::AppState;
use crate::metrics;

/// The content type of Prometheus' text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`: every series, with the process' own metrics and the open subscriptions
/// and WebSockets read afresh.
pub async fn serve(State(state): State<AppState>) -> Response {
    let live = metrics::Live {
        subscriptions: state.controller.events().subscribers(),
        websockets: state.sockets.open(),
    };
    match metrics::render(live) {
        Some(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        // Another recorder (the host program's) receives the metrics; it exports them.
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Layer: count each request by method, matched route and status, and time it.
///
/// Applied inside the router, where [`MatchedPath`] is known; the route is the pattern
/// (`/v1/sessions/{command}`), never the raw path, and a request no route matched is counted
/// under [`metrics::UNMATCHED_ROUTE`], so clients cannot create series at will. A plain
/// tower layer rather than `middleware::from_fn`, which clones the whole inner stack for
/// every request.
#[derive(Clone, Copy, Debug, Default)]
pub struct RecordLayer;

impl<S> Layer<S> for RecordLayer {
    type Service = Record<S>;

    fn layer(&self, inner: S) -> Record<S> {
        Record { inner }
    }
}

/// The service of [`RecordLayer`].
#[derive(Clone, Debug)]
pub struct Record<S> {
    inner: S,
}

impl<S> Service<Request> for Record<S>
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
        let started = Instant::now();
        let method = method_label(request.method());
        let route = request.extensions().get::<MatchedPath>().cloned();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            let route = route
                .as_ref()
                .map_or(metrics::UNMATCHED_ROUTE, MatchedPath::as_str);
            metrics::http_request(method, route, response.status().as_u16(), started.elapsed());
            Ok(response)
        })
    }
}

/// The method as a label: the standard ones by name, anything else as `other`.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}
