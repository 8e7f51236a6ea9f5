//! Slow and idle clients, and the connection cap: a request head that never completes and a
//! keep-alive connection left idle are closed after their bounds, requests in progress are
//! not, and past `max_connections` new connections wait while the open ones are served.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::http::header::{CONNECTION, UPGRADE};
use axum::response::Response;
use axum::routing::get;
use hyper_util::rt::TokioIo;
use sessions::clock::SystemClock;
use sessions::config::Config;
use sessions::server::{self, ConnectionLimits};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

use crate::helpers::{PATIENCE, TestApp, send, spawn_app_with};

/// Added to a server-side bound before a test calls it broken: the box is small and busy.
const SLACK: Duration = Duration::from_secs(5);
/// A short bound, so that tests finish fast.
const SHORT: Duration = Duration::from_secs(1);
/// A bound no test reaches.
const LONG: Duration = Duration::from_secs(60);

/// A complete request for the cheapest endpoint.
const HEARTBEAT: &[u8] = b"GET /heartbeat HTTP/1.1\r\nHost: x\r\n\r\n";
/// The same request without the blank line that ends its head: the server waits for more.
const HALF_SENT: &[u8] = b"GET /heartbeat HTTP/1.1\r\nHost: x\r\n";

/// Start a server with the test defaults changed by `adjust`.
async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = Config::for_tests();
    adjust(&mut config);
    spawn_app_with(config, Arc::new(SystemClock)).await
}

/// One raw TCP connection, to control exactly what is sent and when.
struct RawClient {
    stream: TcpStream,
    /// Bytes received and not yet consumed as a response.
    received: Vec<u8>,
}

impl RawClient {
    async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connected");
        Self {
            stream,
            received: Vec::new(),
        }
    }

    /// `GET /heartbeat` on this connection; returns the status. Panics after [`PATIENCE`].
    async fn heartbeat(&mut self) -> u16 {
        send(&self.stream, HEARTBEAT).await;
        timeout(PATIENCE, self.read_response())
            .await
            .expect("heartbeat answered in time")
    }

    /// Read one whole response (its head and `Content-Length` body); returns its status.
    /// Cancel-safe: what was read before a cancellation stays in `received`.
    async fn read_response(&mut self) -> u16 {
        loop {
            if let Some((status, length)) = complete_response(&self.received) {
                self.received.drain(..length);
                return status;
            }
            let read = self.read_some().await;
            assert!(
                read.is_some_and(|n| n > 0),
                "connection closed before a whole response; got {:?}",
                String::from_utf8_lossy(&self.received)
            );
        }
    }

    /// Wait for bytes: `Some(n)` when `n` arrived (0: the server closed the connection),
    /// `None` when the server reset it.
    async fn read_some(&mut self) -> Option<usize> {
        loop {
            self.stream.readable().await.expect("socket readable");
            let mut chunk = [0u8; 4096];
            match self.stream.try_read(&mut chunk) {
                Ok(n) => {
                    self.received.extend_from_slice(&chunk[..n]);
                    return Some(n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("read from server failed: {e}"),
            }
        }
    }

    /// True when the server closes (or resets) the connection within `bound`.
    async fn closed_within(&mut self, bound: Duration) -> bool {
        let closed = async {
            while let Some(n) = self.read_some().await {
                if n == 0 {
                    return;
                }
            }
        };
        timeout(bound, closed).await.is_ok()
    }
}

/// The status and total length of the first response in `bytes`, once it is all there.
fn complete_response(bytes: &[u8]) -> Option<(u16, usize)> {
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&bytes[..head_end]).to_ascii_lowercase();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .map_or(Some(0), |value| value.trim().parse().ok())?;
    (bytes.len() >= head_end + length).then_some((status, head_end + length))
}

#[tokio::test]
async fn a_request_head_that_never_ends_is_closed_after_the_header_timeout() {
    // Arrange
    let app = spawn_with(|config| {
        config.header_timeout = SHORT;
        config.idle_timeout = LONG;
    })
    .await;
    let mut client = RawClient::connect(app.addr).await;

    // Act
    send(&client.stream, HALF_SENT).await;
    let closed = client.closed_within(SHORT + SLACK).await;

    // Assert
    assert!(
        closed,
        "a half-sent request head kept its connection open past the header timeout"
    );
}

#[tokio::test]
async fn a_second_request_head_that_never_ends_is_closed_after_the_header_timeout() {
    // Arrange: the idle bound is long, so only the header bound can close the connection.
    let app = spawn_with(|config| {
        config.header_timeout = SHORT;
        config.idle_timeout = LONG;
    })
    .await;
    let mut client = RawClient::connect(app.addr).await;
    assert_eq!(client.heartbeat().await, 200);

    // Act
    send(&client.stream, HALF_SENT).await;
    let closed = client.closed_within(SHORT + SLACK).await;

    // Assert
    assert!(
        closed,
        "a half-sent head on a keep-alive connection kept it open past the header timeout"
    );
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    // Arrange
    let app = spawn_with(|config| {
        config.header_timeout = SHORT;
        config.idle_timeout = LONG;
    })
    .await;

    // Act
    let mut client = RawClient::connect(app.addr).await;
    let closed = client.closed_within(SHORT + SLACK).await;

    // Assert
    assert!(
        closed,
        "a silent connection stayed open past the header timeout"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    // Arrange: the header bound is long, so only the idle bound can close the connection.
    let app = spawn_with(|config| {
        config.header_timeout = LONG;
        config.idle_timeout = SHORT;
    })
    .await;
    let mut client = RawClient::connect(app.addr).await;
    assert_eq!(client.heartbeat().await, 200);

    // Act
    let closed = client.closed_within(SHORT + SLACK).await;

    // Assert
    assert!(
        closed,
        "an idle keep-alive connection stayed open past the idle timeout"
    );
}

#[tokio::test]
async fn the_wait_between_requests_is_bounded_by_the_idle_timeout_not_the_header_timeout() {
    // Arrange
    let app = spawn_with(|config| {
        config.header_timeout = SHORT;
        config.idle_timeout = LONG;
    })
    .await;
    let mut client = RawClient::connect(app.addr).await;
    assert_eq!(client.heartbeat().await, 200);

    // Act: idle for three header timeouts, then ask again on the same connection.
    tokio::time::sleep(3 * SHORT).await;
    let status = client.heartbeat().await;

    // Assert
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_request_whose_body_arrives_slowly_is_answered_despite_short_timeouts() {
    // Arrange
    let app = spawn_with(|config| {
        config.header_timeout = SHORT;
        config.idle_timeout = SHORT;
    })
    .await;
    let mut client = RawClient::connect(app.addr).await;
    let body = br#"{"query":"{ __typename }"}"#;
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );

    // Act: the body takes about three times both bounds to arrive, in steady pieces.
    send(&client.stream, head.as_bytes()).await;
    for piece in body.chunks(body.len().div_ceil(6)) {
        tokio::time::sleep(SHORT / 2).await;
        send(&client.stream, piece).await;
    }
    let status = timeout(PATIENCE, client.read_response()).await;

    // Assert
    assert_eq!(
        status.expect("answered in time"),
        200,
        "got {:?}",
        String::from_utf8_lossy(&client.received)
    );
}

#[tokio::test]
async fn past_the_connection_cap_new_connections_wait_while_open_ones_are_served() {
    // Arrange: two keep-alive connections, open and idle, fill a cap of two.
    let app = spawn_with(|config| config.max_connections = 2).await;
    let mut first = RawClient::connect(app.addr).await;
    let mut second = RawClient::connect(app.addr).await;
    assert_eq!(first.heartbeat().await, 200);
    assert_eq!(second.heartbeat().await, 200);

    // Act
    let mut third = RawClient::connect(app.addr).await;
    send(&third.stream, HEARTBEAT).await;
    let answered_over_the_cap = timeout(SHORT, third.read_response()).await.is_ok();
    let first_again = first.heartbeat().await;
    let second_again = second.heartbeat().await;
    drop(first);
    let third_after_a_close = timeout(PATIENCE, third.read_response()).await;

    // Assert
    assert!(
        !answered_over_the_cap,
        "a third connection was served while two filled a cap of two"
    );
    assert_eq!(
        (first_again, second_again),
        (200, 200),
        "the open connections stopped being served at the cap"
    );
    assert_eq!(
        third_after_a_close.expect("the waiting connection was served once one closed"),
        200
    );
}

/// Answers any request by switching to an echo protocol: what the client sends comes back.
async fn echo_upgrade(mut request: Request) -> Response {
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let upgraded = TokioIo::new(upgrade.await.expect("upgraded"));
        let (mut from_client, mut to_client) = tokio::io::split(upgraded);
        let _ = tokio::io::copy(&mut from_client, &mut to_client).await;
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(CONNECTION, "upgrade")
        .header(UPGRADE, "echo")
        .body(Body::empty())
        .expect("a valid response")
}

#[tokio::test]
async fn an_upgraded_connection_outlives_both_timeouts_and_keeps_its_slot() {
    // Arrange: a server of one slot whose only route upgrades to an echo protocol.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bound");
    let addr = listener.local_addr().expect("address");
    let limits = ConnectionLimits {
        max_connections: 1,
        header_timeout: SHORT,
        idle_timeout: SHORT,
    };
    let router = Router::new().route("/echo", get(echo_upgrade));
    tokio::spawn(server::serve(
        listener,
        router,
        limits,
        std::future::pending(),
    ));
    let mut upgraded = RawClient::connect(addr).await;
    send(
        &upgraded.stream,
        b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n",
    )
    .await;
    let status = timeout(PATIENCE, upgraded.read_response()).await;
    assert_eq!(status.expect("upgrade answered in time"), 101);

    // Act: stay silent past both bounds, then use the upgraded connection; meanwhile a second
    // connection asks for a slot.
    let mut waiting = RawClient::connect(addr).await;
    send(&waiting.stream, HEARTBEAT).await;
    tokio::time::sleep(3 * SHORT).await;
    send(&upgraded.stream, b"ping").await;
    let echoed = timeout(PATIENCE, async {
        while upgraded.received.len() < 4 {
            assert!(upgraded.read_some().await.is_some_and(|n| n > 0), "closed");
        }
    })
    .await;
    let waiting_was_answered = timeout(SHORT, waiting.read_response()).await.is_ok();

    // Assert
    assert!(echoed.is_ok(), "the upgraded connection did not echo");
    assert_eq!(upgraded.received, b"ping");
    assert!(
        !waiting_was_answered,
        "a second connection was served while an upgraded one held the only slot"
    );
}
