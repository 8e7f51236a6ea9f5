//! Authentication through the real binary: `sessions keys new` makes a working key, and no
//! secret reaches the logs, while each change names its actor.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Value, json};

use crate::auth::temp_file;
use crate::helpers::{PATIENCE, POLL};

/// The binary, killed if a test fails before it exits.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `sessions keys new NAME --scopes SCOPES`: the secret and the keys-file line it prints.
fn keys_new(name: &str, scopes: &str) -> (String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_sessions"))
        .args(["keys", "new", name, "--scopes", scopes])
        .output()
        .expect("the binary runs");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    let mut lines = stdout.lines();
    let secret = lines.next().expect("the secret").to_owned();
    let line = lines.next().expect("the keys-file line").to_owned();
    (secret, line)
}

/// POST GraphQL to `addr` with `bearer`; returns the JSON body.
async fn gql(addr: &str, bearer: &str, query: &str, variables: Value) -> Value {
    reqwest::Client::new()
        .post(format!("http://{addr}/graphql"))
        .bearer_auth(bearer)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("request sent")
        .json()
        .await
        .expect("JSON body")
}

#[tokio::test]
async fn a_key_from_keys_new_works_and_no_secret_reaches_the_logs() {
    // Arrange: a key made by the binary, in a keys file, and the service logging at debug.
    let (secret, line) = keys_new("ci", "write");
    let file = temp_file(&format!("{line}\n"));
    let child = Command::new(env!("CARGO_BIN_EXE_sessions"))
        .args(["--listen", "127.0.0.1:0", "--api-keys-file"])
        .arg(&file)
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut server = Running(child);
    let log = Arc::new(Mutex::new(String::new()));
    let stdout = server.0.stdout.take().expect("piped");
    let sink = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().expect("log").push_str(&(line + "\n"));
        }
    });
    let deadline = Instant::now() + PATIENCE;
    let addr = loop {
        let text = log.lock().expect("log").clone();
        if let Some(at) = text.find("sessions listening") {
            let rest = &text[at..];
            let start = rest.find("addr=").expect("addr") + "addr=".len();
            break rest[start..]
                .split_whitespace()
                .next()
                .expect("address")
                .to_owned();
        }
        assert!(Instant::now() < deadline, "no listening line: {text}");
        std::thread::sleep(POLL);
    };

    // Act: use the key, the token it gets, a wrong key and a wrong token.
    let opened = gql(
        &addr,
        &secret,
        r#"mutation { openSession(input: { userId: "u" }) { id token } }"#,
        json!({}),
    )
    .await;
    let id = opened["data"]["openSession"]["id"]
        .as_str()
        .expect("opened")
        .to_owned();
    let token = opened["data"]["openSession"]["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let current = gql(&addr, &token, "{ currentSession { id } }", json!({})).await;
    gql(&addr, "sk_wrong-guess", "{ sessions { total } }", json!({})).await;
    gql(&addr, "st_wrong-guess", "{ sessions { total } }", json!({})).await;
    let closed = gql(
        &addr,
        &token,
        "mutation($id: ID!) { closeSession(sessionId: $id) { closedBy } }",
        json!({ "id": id }),
    )
    .await;
    let _ = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status();
    let deadline = Instant::now() + PATIENCE;
    while matches!(server.0.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(POLL);
    }
    let mut stderr = String::new();
    if let Some(mut pipe) = server.0.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    // Let the reader thread take the last lines.
    std::thread::sleep(POLL * 5);
    let output = format!("{}{stderr}", log.lock().expect("log"));
    let _ = std::fs::remove_file(&file);

    // Assert
    assert_eq!(
        current["data"]["currentSession"]["id"],
        json!(id),
        "{current}"
    );
    assert_eq!(
        closed["data"]["closeSession"]["closedBy"],
        json!(format!("session:{id}"))
    );
    for secret in [&secret, &token, "sk_wrong-guess", "st_wrong-guess"] {
        assert!(
            !output.contains(secret),
            "a secret is in the log:\n{output}"
        );
    }
    assert!(
        !output.to_lowercase().contains("authorization: bearer"),
        "{output}"
    );
    assert!(
        output.contains("actor=key:ci"),
        "changes name their actor:\n{output}"
    );
    assert!(output.contains(&format!("actor=session:{id}")), "{output}");
}
