//! The HTTP/1.1 server: accepts connections up to a cap, serves each with hyper and the
//! router, closes connections whose clients are slow to send a request or sit idle, and
//! shuts down gracefully.
//!
//! It replaces `axum::serve`, which has no connection cap and no timer, so a client that
//! opened a connection and sent half a request head held it forever (slowloris).
//!
//! Inside: `activity` (what each connection is doing, and when it has waited too long), `io`
//! (the socket and response body wrappers that report that activity) and `connection` (one
//! connection's task).

mod activity;
mod connection;
mod io;

use std::future::Future;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;

/// How many connections the server holds, and how long it waits for slow or idle clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Most connections served at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// Longest a request head (request line and headers) may take to arrive, counted from
    /// its first byte, or from the moment the connection was accepted for its first request.
    pub header_timeout: Duration,
    /// Longest a keep-alive connection may wait for the first byte of its next request.
    pub idle_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// Serve `router` on `listener` until `shutdown` completes; then stop accepting, let the
/// requests in flight finish, close idle connections, and return once every connection has
/// closed. Upgraded connections (WebSocket) are left to their handlers.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let mut slots = Slots::new(limits.max_connections);
    // Each connection task holds a receiver: a send asks them all to finish, and `closed()`
    // tells when the last one has.
    let (draining, _) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = accept(&listener, &mut slots) => accepted,
            () = &mut shutdown => break,
        };
        // The semaphore is never closed; if it were, no connection could be served.
        let Ok((stream, peer, slot)) = accepted else {
            break;
        };
        connection::spawn(
            stream,
            peer,
            slot,
            router.clone(),
            limits,
            draining.subscribe(),
        );
    }
    drop(listener);
    tracing::debug!(
        connections = draining.receiver_count(),
        "waiting for open connections"
    );
    let _ = draining.send(());
    draining.closed().await;
}

/// Wait for a free slot, then for a connection. Taking the slot first keeps connections past
/// the cap in the kernel's listen backlog, where they cost this process nothing, while the
/// open ones go on being served.
async fn accept(
    listener: &TcpListener,
    slots: &mut Slots,
) -> Result<(TcpStream, SocketAddr, OwnedSemaphorePermit), AcquireError> {
    let slot = slots.acquire().await?;
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => return Ok((stream, peer, slot)),
            // The client gave up before we accepted: nothing to do.
            Err(error) if is_connection_error(&error) => {}
            // Most likely out of file descriptors (EMFILE, ENFILE): give connections time to
            // close rather than spin, as hyper 0.14 and axum do.
            Err(error) => {
                tracing::error!(%error, "cannot accept a connection; retrying in 1s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn is_connection_error(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    )
}

/// The connection cap: one semaphore permit per open connection, held by its socket.
struct Slots {
    semaphore: Arc<Semaphore>,
    max: usize,
    /// When the cap was last reported, so that a server held at the cap logs once a minute
    /// rather than once per connection.
    last_warning: Option<Instant>,
}

impl Slots {
    /// How often the cap is reported while the server stays at it.
    const WARNING_INTERVAL: Duration = Duration::from_secs(60);

    fn new(max: usize) -> Self {
        Self {
            semaphore: Arc::new(Semaphore::new(max)),
            max,
            last_warning: None,
        }
    }

    async fn acquire(&mut self) -> Result<OwnedSemaphorePermit, AcquireError> {
        if let Ok(slot) = Arc::clone(&self.semaphore).try_acquire_owned() {
            return Ok(slot);
        }
        let now = Instant::now();
        if self
            .last_warning
            .is_none_or(|last| now.duration_since(last) >= Self::WARNING_INTERVAL)
        {
            self.last_warning = Some(now);
            tracing::warn!(
                max_connections = self.max,
                "connection limit reached; new connections wait until one closes"
            );
        }
        Arc::clone(&self.semaphore).acquire_owned().await
    }
}
