//! The log, as an operator reads it from the real binary: one `info` line per request when it
//! is answered (method, route, status, duration, correlation id), as text or JSON lines, and
//! never the `Authorization` header.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{PATIENCE, POLL};

/// A bearer token no log line may contain.
const SECRET: &str = "s3cr3t-token-do-not-log";

/// The `sessions` binary as a child process, with its log lines collected.
struct Logged {
    child: Child,
    addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Logged {
    /// Start the binary on a free port with `args` and `env`; wait for its "listening" line.
    fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sessions"))
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("SESSIONS_LOG_FORMAT")
            .env_remove("SESSIONS_STORE")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().expect("piped")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("piped")),
        ] {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().expect("log lines").push(line);
                }
            });
        }
        let mut logged = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            lines,
        };
        let line = logged.wait_for_line(|line| line.contains("sessions listening"));
        logged.addr = listening_address(&line).unwrap_or_else(|| panic!("no address in {line}"));
        logged
    }

    /// The first line for which `wanted` holds, waiting up to [`PATIENCE`] for it.
    fn wait_for_line(&self, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(line) = self.lines().into_iter().find(|line| wanted(line)) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no such log line within {PATIENCE:?}; the log:\n{}",
                self.lines().join("\n")
            );
            std::thread::sleep(POLL);
        }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("log lines").clone()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address in the "sessions listening" line: `addr=…` as text, `"addr":"…"` as JSON.
fn listening_address(line: &str) -> Option<SocketAddr> {
    if let Ok(object) = serde_json::from_str::<Value>(line) {
        return object["addr"].as_str()?.parse().ok();
    }
    let start = line.find("addr=")? + "addr=".len();
    line[start..].split_whitespace().next()?.parse().ok()
}

/// Open a session over GraphQL with a bearer token and this correlation id.
async fn open_session_with_token(server: &Logged, correlation_id: &str) {
    let response = reqwest::Client::new()
        .post(server.url("/graphql"))
        .bearer_auth(SECRET)
        .header("x-correlation-id", correlation_id)
        .json(&json!({ "query": "mutation { openSession(input: {userId: \"1\"}) { id } }" }))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn json_logs_have_one_line_per_request_with_its_span_fields() {
    // Arrange: the format from the environment, as a container would set it.
    let server = Logged::start(
        &[],
        &[("SESSIONS_LOG_FORMAT", "json"), ("RUST_LOG", "info")],
    );

    // Act
    open_session_with_token(&server, "log-json-1").await;
    let line = server.wait_for_line(|line| line.contains("log-json-1"));

    // Assert
    for line in server.lines() {
        let object: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        for field in ["timestamp", "level", "message", "target"] {
            assert!(object.get(field).is_some(), "no {field} in {line}");
        }
    }
    let completed: Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(completed["level"], "INFO", "{line}");
    assert_eq!(completed["message"], "request completed", "{line}");
    assert_eq!(completed["status"], 200, "{line}");
    assert!(completed["duration_ms"].is_f64(), "{line}");
    let span = &completed["spans"][0];
    assert_eq!(span["correlation_id"], "log-json-1", "{line}");
    assert_eq!(span["method"], "POST", "{line}");
    assert_eq!(span["route"], "/graphql", "{line}");
    let about_it = server
        .lines()
        .into_iter()
        .filter(|line| line.contains("log-json-1"))
        .count();
    assert_eq!(
        about_it,
        1,
        "one info line per request:\n{}",
        server.lines().join("\n")
    );
}

#[tokio::test]
async fn text_logs_have_one_line_per_request_with_route_status_and_correlation_id() {
    // Arrange
    let server = Logged::start(&["--log-format", "text"], &[("RUST_LOG", "info")]);

    // Act
    open_session_with_token(&server, "log-text-1").await;
    let line = server.wait_for_line(|line| line.contains("log-text-1"));

    // Assert
    for part in [
        "INFO",
        "request completed",
        "method=POST",
        "route=/graphql",
        "status=200",
        "duration_ms=",
    ] {
        assert!(line.contains(part), "no {part:?} in {line}");
    }
    let about_it = server
        .lines()
        .into_iter()
        .filter(|line| line.contains("log-text-1"))
        .count();
    assert_eq!(
        about_it,
        1,
        "one info line per request:\n{}",
        server.lines().join("\n")
    );
}

#[tokio::test]
async fn the_authorization_header_never_reaches_the_log_even_at_trace_level() {
    for format in ["text", "json"] {
        // Arrange
        let server = Logged::start(&["--log-format", format], &[("RUST_LOG", "trace")]);
        let client = reqwest::Client::new();

        // Act: GraphQL, REST, and a route that does not exist.
        open_session_with_token(&server, &format!("auth-{format}-1")).await;
        for (path, id) in [("/v1/sessions/get_sessions", "2"), ("/no/such/route", "3")] {
            client
                .post(server.url(path))
                .bearer_auth(SECRET)
                .header("x-correlation-id", format!("auth-{format}-{id}"))
                .json(&json!({}))
                .send()
                .await
                .expect("answered");
        }
        let last = format!("auth-{format}-3");
        server.wait_for_line(|line| line.contains(&last) && line.contains("request completed"));
        // Anything logged after the answer (connection teardown) has a moment to arrive.
        tokio::time::sleep(Duration::from_millis(200)).await;

        // Assert
        let lines = server.lines();
        assert!(
            lines
                .iter()
                .any(|line| line.contains("started processing request")),
            "{format}: no debug lines, so the filter was not applied: {lines:?}"
        );
        let leaked: Vec<&String> = lines.iter().filter(|line| line.contains(SECRET)).collect();
        assert!(
            leaked.is_empty(),
            "{format}: the token is in the log: {leaked:?}"
        );
    }
}
