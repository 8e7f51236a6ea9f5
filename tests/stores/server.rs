//! The real binary as a child process, and a GraphQL client for it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sessions::store::StoreUrl;

/// Upper bound for anything these tests wait for.
pub const PATIENCE: Duration = Duration::from_secs(30);
/// Pause between two looks at something being polled.
pub const POLL: Duration = Duration::from_millis(50);

/// Every field of `Session`, for selections.
pub const FIELDS: &str =
    "id userId userName active openTime requestTime closeTime address client user data";

/// A running `sessions` process; killed if the test ends first.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    client: reqwest::Client,
}

impl Server {
    /// Start the binary on a free port with `store` (passed through `SESSIONS_STORE`, so the
    /// password stays off the command line) and `args`; wait for its "listening" line.
    pub fn start(store: &StoreUrl, args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sessions"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("SESSIONS_STORE", store.expose())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (lines, log) = mpsc::channel();
        // A thread reads the log while the test waits with a bound, and keeps draining the
        // pipe after that so that the server never writes into a closed one.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let deadline = Instant::now() + PATIENCE;
        let addr = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = log
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no \"sessions listening\" line within {PATIENCE:?}"));
            if let Some(addr) = listening_address(&line) {
                break addr;
            }
        };
        Self {
            child,
            addr,
            client: reqwest::Client::new(),
        }
    }

    /// Kill the process with SIGKILL (no shutdown of any kind) and reap it.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL is delivered");
        self.child.wait().expect("the process is reaped");
    }

    /// GET `path`; the status and the body as text.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self
            .client
            .get(format!("http://{}{path}", self.addr))
            .send()
            .await
            .expect("request answered");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// POST a GraphQL request, which must be answered 200 with JSON; the body.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        let response = self
            .client
            .post(format!("http://{}/graphql", self.addr))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request answered");
        assert_eq!(
            response.status(),
            200,
            "GraphQL answered with another status"
        );
        response.json().await.expect("a JSON body")
    }

    /// Like [`Self::graphql`], failing on any error; returns `data.<field>`.
    pub async fn ok(&self, query: &str, variables: Value, field: &str) -> Value {
        let body = self.graphql(query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"][field].clone()
    }

    /// The session with this id, every field (null when unknown).
    pub async fn session(&self, id: &Value) -> Value {
        let query = format!("query($id: ID!) {{ session(id: $id) {{ {FIELDS} }} }}");
        self.ok(&query, json!({ "id": id }), "session").await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The address in the "sessions listening" log line (`addr=127.0.0.1:PORT`).
fn listening_address(line: &str) -> Option<SocketAddr> {
    if !line.contains("sessions listening") {
        return None;
    }
    let start = line.find("addr=")? + "addr=".len();
    line[start..].split_whitespace().next()?.parse().ok()
}

/// Open a session through `server` with every optional field set; the new session.
pub async fn open_full(server: &Server, user_id: String, n: usize) -> Value {
    let query = format!(
        "mutation($input: OpenSessionInput!) {{ openSession(input: $input) {{ {FIELDS} }} }}"
    );
    let input = json!({
        "userId": user_id,
        "userName": format!("User {n}"),
        "address": format!("192.0.2.{n}"),
        "client": "restart-test/1.0 ✓",
        "user": {"name": format!("User {n}"), "roles": ["a", "b"], "n": n},
        "data": {"cart": [n, {"sku": format!("x{n}")}], "note": null, "price": 12.5},
    });
    server
        .ok(&query, json!({ "input": input }), "openSession")
        .await
}
