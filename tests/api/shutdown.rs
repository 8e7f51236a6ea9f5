//! Graceful shutdown: requests in flight are answered, then the server stops; the binary does the
//! same on SIGTERM, and rejects bad command lines without panicking.

use std::io::{BufRead, BufReader, ErrorKind};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use serde_json::{Value, json};
use tokio::net::TcpStream;

use crate::helpers::{PATIENCE, POLL, refuses_connections, send, spawn_app};

/// Read from `stream` until `buffer` holds `needle`; panics after [`PATIENCE`].
async fn read_until(stream: &TcpStream, buffer: &mut Vec<u8>, needle: &[u8]) {
    let read = async {
        while !buffer.windows(needle.len()).any(|w| w == needle) {
            stream.readable().await.expect("socket readable");
            let mut chunk = [0u8; 4096];
            match stream.try_read(&mut chunk) {
                Ok(0) => panic!(
                    "connection closed early; got {:?}",
                    String::from_utf8_lossy(buffer)
                ),
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("read from server failed: {e}"),
            }
        }
    };
    tokio::time::timeout(PATIENCE, read)
        .await
        .expect("server answered in time");
}

/// Read from `stream` until the server closes the connection; panics after [`PATIENCE`].
async fn read_to_close(stream: &TcpStream, buffer: &mut Vec<u8>) {
    let read = async {
        loop {
            stream.readable().await.expect("socket readable");
            let mut chunk = [0u8; 4096];
            match stream.try_read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("read from server failed: {e}"),
            }
        }
    };
    tokio::time::timeout(PATIENCE, read)
        .await
        .expect("server answered and closed in time");
}

/// Split a raw HTTP/1.1 response into its status code and its body (by `Content-Length`).
fn parse_response(raw: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .expect("a complete response head");
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_owned())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("response without Content-Length: {head}"));
    let body = &body.as_bytes()[..length];
    (status, serde_json::from_slice(body).expect("JSON body"))
}

#[tokio::test]
async fn a_request_in_flight_when_shutdown_begins_is_answered_before_the_server_stops() {
    // Arrange
    let app = spawn_app().await;
    let addr = app.addr;
    let session = app.open_session("shutdown-user").await;
    let body = json!({
        "query": "query($id: ID!) { session(id: $id) { id userId active } }",
        "variables": { "id": session["id"] },
    })
    .to_string();
    let (first_half, second_half) = body.split_at(body.len() / 2);
    let stream = TcpStream::connect(addr).await.expect("connected");
    // `Expect: 100-continue` makes the server say when its handler starts reading the body:
    // from then on the request is in flight, with no guessing about timing.
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    );
    send(&stream, head.as_bytes()).await;
    send(&stream, first_half.as_bytes()).await;
    let mut received = Vec::new();
    read_until(&stream, &mut received, b"HTTP/1.1 100 Continue\r\n\r\n").await;
    received.clear();

    // Act
    let stopping = tokio::spawn(app.stop());
    let stopped_accepting = refuses_connections(addr).await;
    send(&stream, second_half.as_bytes()).await;
    read_to_close(&stream, &mut received).await;
    let stopped = tokio::time::timeout(PATIENCE, stopping).await;

    // Assert
    assert!(
        stopped_accepting,
        "the server still accepts connections after stop()"
    );
    let (status, answer) = parse_response(&received);
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer.get("errors").is_none(),
        "unexpected errors: {answer}"
    );
    assert_eq!(answer["data"]["session"]["id"], session["id"]);
    assert_eq!(answer["data"]["session"]["userId"], "shutdown-user");
    let result = stopped
        .expect("stop() finished in time")
        .expect("server task did not panic");
    assert!(result.is_ok(), "serve returned {result:?}");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "a new connection was accepted after shutdown"
    );
}

/// A child process that is killed if the test ends before it exits.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl Running {
    /// Poll until the process exits; `None` if it still runs after [`PATIENCE`].
    fn wait_exit(&mut self) -> Option<ExitStatus> {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Some(status) = self.0.try_wait().expect("process status") {
                return Some(status);
            }
            std::thread::sleep(POLL);
        }
        None
    }
}

/// Start the binary with these arguments, capturing its output.
fn start_binary(args: &[&str]) -> Running {
    let child = Command::new(env!("CARGO_BIN_EXE_sessions"))
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    Running(child)
}

/// The address in the "sessions listening" log line (`addr=127.0.0.1:PORT`).
fn listening_address(line: &str) -> Option<SocketAddr> {
    if !line.contains("sessions listening") {
        return None;
    }
    let start = line.find("addr=")? + "addr=".len();
    line[start..].split_whitespace().next()?.parse().ok()
}

#[tokio::test]
async fn the_binary_stops_cleanly_on_sigterm() {
    // Arrange
    let mut server = start_binary(&["--listen", "127.0.0.1:0", "--cleanup-interval", "1s"]);
    let stdout = server.0.stdout.take().expect("stdout is piped");
    let (lines, log) = mpsc::channel();
    // A thread reads the log (and keeps the pipe drained) while the test waits with a bound.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + PATIENCE;
    let addr = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = log
            .recv_timeout(left)
            .expect("a \"sessions listening\" log line in time");
        if let Some(addr) = listening_address(&line) {
            break addr;
        }
    };
    let heartbeat = reqwest::get(format!("http://{addr}/heartbeat"))
        .await
        .expect("heartbeat answered");
    assert_eq!(heartbeat.status(), 200);

    // Act
    let killed = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .expect("kill runs");
    let exit = server.wait_exit();

    // Assert
    assert!(killed.success(), "kill -TERM failed");
    let exit = exit.expect("the binary exited within 10 s of SIGTERM");
    assert!(exit.success(), "the binary exited with {exit}");
}

#[test]
fn invalid_command_line_values_are_reported_by_flag_without_a_panic() {
    let cases: [(&[&str], &str); 3] = [
        (&["--listen", "not-an-address"], "--listen"),
        (
            &["--listen", "127.0.0.1:0", "--expire-timeout", "soon"],
            "--expire-timeout",
        ),
        (
            &["--listen", "127.0.0.1:0", "--max-payload", "5MiB"],
            "--max-payload",
        ),
    ];
    for (args, flag) in cases {
        // Arrange
        let mut process = start_binary(args);

        // Act
        let exit = process.wait_exit();

        // Assert
        let exit = exit.unwrap_or_else(|| panic!("`sessions {}` kept running", args.join(" ")));
        let mut stderr = String::new();
        std::io::Read::read_to_string(
            &mut process.0.stderr.take().expect("stderr is piped"),
            &mut stderr,
        )
        .expect("stderr is readable");
        assert!(
            !exit.success(),
            "`sessions {}` exited with success",
            args.join(" ")
        );
        assert!(
            stderr.contains(flag),
            "stderr does not name {flag}: {stderr}"
        );
        assert!(
            !stderr.contains("panicked"),
            "`sessions {}` panicked: {stderr}",
            args.join(" ")
        );
    }
}
