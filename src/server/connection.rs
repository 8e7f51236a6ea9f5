//! One connection: hyper's HTTP/1.1 state machine over the tracked socket, closed early when
//! its client is too slow or idle, and gracefully when the server shuts down.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;

use axum::Router;
use axum::http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, watch};

use super::ConnectionLimits;
use super::activity::{self, Activity};
use super::io::{TrackedBody, TrackedIo};

/// Serve one accepted connection on its own task. `slot` is its place under the cap;
/// `draining` changes when the server shuts down, and is held until the connection ends.
pub(super) fn spawn(
    stream: TcpStream,
    peer: SocketAddr,
    slot: OwnedSemaphorePermit,
    router: Router,
    limits: ConnectionLimits,
    mut draining: watch::Receiver<()>,
) {
    // Responses are written whole; without Nagle's algorithm a small one leaves at once rather
    // than waiting for the client's delayed ACK of the previous one on a keep-alive connection.
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%peer, %error, "cannot set TCP_NODELAY");
    }
    let activity = Activity::new();
    let timer = activity::expired(Arc::clone(&activity), limits);
    let io = TokioIo::new(TrackedIo::new(stream, Arc::clone(&activity), slot));
    let service = TrackedService {
        router: TowerToHyperService::new(router),
        activity,
    };
    tokio::spawn(async move {
        // HTTP/1.1 only, as before (axum's `http2` feature is off). hyper gets no timer: the
        // header and idle timeouts are ours (see `activity`).
        let mut builder = http1::Builder::new();
        builder.header_read_timeout(None);
        let mut connection = pin!(builder.serve_connection(io, service).with_upgrades());
        let mut expired = pin!(timer);
        let mut shutting_down = false;
        loop {
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(error) = served {
                        tracing::debug!(%peer, %error, "connection ended with an error");
                    }
                    break;
                }
                timeout = &mut expired => {
                    // Dropping the connection closes the socket; no request is in flight.
                    tracing::debug!(%peer, reason = timeout.describe(), "closing connection");
                    break;
                }
                _ = draining.changed(), if !shutting_down => {
                    // Finish the request in flight, if any, then close; idle ones close now.
                    shutting_down = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    });
}

/// The router, reporting each request's start and end to the connection's [`Activity`].
struct TrackedService {
    router: TowerToHyperService<Router>,
    activity: Arc<Activity>,
}

impl hyper::service::Service<Request<Incoming>> for TrackedService {
    type Response = Response<TrackedBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let guard = self.activity.request_started();
        let response = self.router.call(request);
        Box::pin(async move { Ok(guard.track(response.await?)) })
    }
}
