//! Shared test harness: start a server on port 0, send GraphQL over HTTP, read errors.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sessions::clock::{Clock, SystemClock};
use sessions::config::Config;
use sessions::{ControllerOptions, HttpOptions, SessionStore, SessionsController};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running server and a client for it.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
}

/// Start a server with the test defaults.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Config::for_tests(), Arc::new(SystemClock)).await
}

/// Start a server with this configuration and clock.
pub async fn spawn_app_with(config: Config, clock: Arc<dyn Clock>) -> TestApp {
    let app = sessions::app::build_with_clock(&config, clock)
        .await
        .expect("app builds");
    let addr = app.local_addr();
    let (shutdown, stop) = oneshot::channel::<()>();
    let handle = tokio::spawn(app.serve(async {
        let _ = stop.await;
    }));
    TestApp {
        addr,
        client: reqwest::Client::new(),
        shutdown: Some(shutdown),
        handle: Some(handle),
    }
}

impl TestApp {
    /// Full URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// POST a GraphQL request; returns the HTTP status and the JSON body.
    pub async fn graphql_raw(&self, query: &str, variables: Value) -> (reqwest::StatusCode, Value) {
        let response = self
            .client
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request sent");
        let status = response.status();
        (status, response.json().await.expect("JSON body"))
    }

    /// POST a GraphQL request that must be answered with 200; returns the JSON body.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        let (status, body) = self.graphql_raw(query, variables).await;
        assert_eq!(status, 200, "unexpected status; body: {body}");
        body
    }

    /// Open a session for `user_id` and return it with all its fields.
    pub async fn open_session(&self, user_id: &str) -> Value {
        let body = self
            .graphql(
                &format!("mutation($input: OpenSessionInput!) {{ openSession(input: $input) {{ {SESSION_FIELDS} }} }}"),
                json!({ "input": { "userId": user_id } }),
            )
            .await;
        assert_no_errors(&body);
        body["data"]["openSession"].clone()
    }

    /// Ask the server to shut down and wait until it has.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.handle
            .take()
            .expect("server still running")
            .await
            .expect("server task did not panic")
    }
}

/// Every field of `Session`, for selections.
pub const SESSION_FIELDS: &str =
    "id userId userName active openTime requestTime closeTime address client user data";

/// The `extensions.code` of the first error, if any.
pub fn error_code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

/// Fail with the body when it has errors.
pub fn assert_no_errors(body: &Value) {
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
}

/// Upper bound for anything a test waits for.
pub const PATIENCE: Duration = Duration::from_secs(10);
/// Pause between two looks at something being polled.
pub const POLL: Duration = Duration::from_millis(20);

/// Poll `connect` until the address refuses connections; false if it still accepts after
/// [`PATIENCE`].
pub async fn refuses_connections(addr: SocketAddr) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return true;
        }
        tokio::time::sleep(POLL).await;
    }
    false
}

/// Write all of `bytes` to `stream` (for tests that need exact control of the bytes sent).
pub async fn send(stream: &TcpStream, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        stream.writable().await.expect("socket writable");
        match stream.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => panic!("write to server failed: {e}"),
        }
    }
}

/// Serve the library's router over `store` (default options) on a free port, as an embedder
/// would: for tests that need a store the binary cannot be given. Returns its address.
pub async fn serve_over(store: Arc<dyn SessionStore>) -> SocketAddr {
    let controller = SessionsController::new(store, ControllerOptions::default());
    let router = sessions::router(
        sessions::build_schema(controller.clone()),
        controller,
        &HttpOptions::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bound");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}
