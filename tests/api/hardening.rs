//! Hostile input: every request gets an answer and the server keeps serving. Deep nesting of
//! every kind, cross-site requests without a JSON content type, oversize bodies, panics.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sessions::http::MAX_BODY_BYTES;
use sessions::model::{
    Admission, CloseReason, Closed, Cutoffs, Page, PageRequest, SessionChange, SessionCounts,
    SessionFilter, TokenHash, UserLimit,
};
use sessions::nesting::MAX_DEPTH;
use sessions::store::Closing;
use sessions::{MemoryStore, Session, SessionId, SessionStore, StoreError};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, serve_over, spawn_app};

/// Depths from shallow to about what fits in a 1 MiB body (two bytes a level). The document
/// or body around the nested value adds up to four levels, so `MAX_DEPTH - 4` fits.
const DEPTHS: [usize; 8] = [
    10,
    MAX_DEPTH - 4,
    MAX_DEPTH + 1,
    100,
    1_000,
    10_000,
    100_000,
    500_000,
];

/// The ways a document or request can nest, each built to `depth` levels.
#[derive(Clone, Copy, Debug)]
enum Nesting {
    /// `session(id: [[…]])`: a list literal in an argument.
    ListArgument,
    /// `openSession(input: {userId: "x", data: {a: {a: …}}})`: an object literal in an input.
    ObjectInInput,
    /// `{ __typename a: __schema { … } }`-like nested selection sets.
    SelectionSets,
    /// `{ ... on Query { ... on Query { … } } }`: nested inline fragments.
    InlineFragments,
    /// `variables: {"d": [[…]]}` in the JSON body.
    Variables,
}

impl Nesting {
    const ALL: [Nesting; 5] = [
        Self::ListArgument,
        Self::ObjectInInput,
        Self::SelectionSets,
        Self::InlineFragments,
        Self::Variables,
    ];

    /// `depth`, or the deepest nesting of this kind whose body fits the 1 MiB limit.
    fn fitting(self, depth: usize) -> usize {
        let base = self.body(0).len();
        let per_level = self.body(1).len() - base;
        depth.min((MAX_BODY_BYTES - base) / per_level)
    }

    /// The JSON body of a request nesting `depth` levels this way.
    fn body(self, depth: usize) -> String {
        let nest = |open: &str, inner: &str, close: &str| {
            format!("{}{inner}{}", open.repeat(depth), close.repeat(depth))
        };
        let query = match self {
            Self::ListArgument => format!("{{ session(id: {}) {{ id }} }}", nest("[", "1", "]")),
            Self::ObjectInInput => format!(
                "mutation {{ openSession(input: {{userId: \\\"x\\\", data: {}}}) {{ id }} }}",
                nest("{a: ", "1", "}")
            ),
            Self::SelectionSets => nest("{ __type(name: \\\"Query\\\") ", "name", "}"),
            Self::InlineFragments => nest("{ ... on Query ", "{ __typename }", "}"),
            Self::Variables => {
                let query = "mutation($d: JSON) { openSession(input: {userId: \\\"x\\\", data: $d}) { id } }";
                return format!(
                    r#"{{"query":"{query}","variables":{{"d":{}}}}}"#,
                    nest("[", "1", "]")
                );
            }
        };
        format!(r#"{{"query":"{query}"}}"#)
    }
}

/// POST a raw JSON body to /graphql; the status and the parsed answer.
async fn post_raw(app: &TestApp, body: String) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the server answers instead of dropping the connection");
    let status = response.status();
    let text = response.text().await.expect("body read");
    let value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("JSON answer ({e}): {text:.200}"));
    (status, value)
}

fn codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["extensions"]["code"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn assert_still_serving(app: &TestApp) {
    let heartbeat = app
        .client
        .get(app.url("/heartbeat"))
        .send()
        .await
        .expect("the server is still up");
    assert_eq!(heartbeat.status(), 200);
}

#[tokio::test]
async fn every_kind_of_nesting_at_every_depth_gets_an_answer_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    for nesting in Nesting::ALL {
        for depth in DEPTHS.map(|depth| nesting.fitting(depth)) {
            // Act
            let body = nesting.body(depth);
            let (status, answer) = post_raw(&app, body).await;

            // Assert
            let codes = codes(&answer);
            if depth > MAX_DEPTH {
                let code = codes.first().map(String::as_str);
                assert!(
                    matches!(code, Some("GRAPHQL_PARSE_FAILED" | "BAD_USER_INPUT")),
                    "{nesting:?} at depth {depth}: {status} {answer:.300}"
                );
                let message = answer["errors"][0]["message"].as_str().unwrap_or("");
                assert!(
                    message.contains("64"),
                    "the error names the limit: {message}"
                );
            } else {
                assert!(
                    !codes.iter().any(|c| c == "GRAPHQL_PARSE_FAILED"),
                    "{nesting:?} at depth {depth} is within the limit: {answer:.300}"
                );
            }
            assert_still_serving(&app).await;
        }
    }
}

#[tokio::test]
async fn session_data_nested_just_within_the_limit_round_trips() {
    // Arrange: the body itself is two levels ({"variables": {"d": …}}).
    let app = spawn_app().await;
    let depth = MAX_DEPTH - 2;
    let data: Value = serde_json::from_str(&format!("{}1{}", "[".repeat(depth), "]".repeat(depth)))
        .expect("valid JSON");

    // Act
    let body = app
        .graphql(
            "mutation($d: JSON) { openSession(input: {userId: \"x\", data: $d}) { data } }",
            json!({ "d": data }),
        )
        .await;

    // Assert
    assert_eq!(body["data"]["openSession"]["data"], data, "{body:.300}");
}

#[tokio::test]
async fn deep_variables_over_get_are_refused_with_the_limit() {
    let app = spawn_app().await;
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));

    let response = app
        .client
        .get(app.url("/graphql"))
        .query(&[
            ("query", "query($d: JSON) { __typename }"),
            ("variables", &format!("{{\"d\":{deep}}}")),
        ])
        .send()
        .await
        .expect("answered");

    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(codes(&body), ["BAD_USER_INPUT"], "{body}");
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn deep_rest_bodies_are_refused_with_the_limit() {
    let app = spawn_app().await;
    for depth in [MAX_DEPTH + 1, 1_000, 500_000] {
        let data = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        let response = app
            .client
            .post(app.url("/v1/sessions/open_session"))
            .header("content-type", "application/json")
            .body(format!(r#"{{"user_id":"x","data":{data}}}"#))
            .send()
            .await
            .expect("answered");

        assert_eq!(response.status(), 400, "depth {depth}");
        let body: Value = response.json().await.expect("JSON");
        assert!(
            body["message"].as_str().unwrap_or("").contains("64"),
            "{body}"
        );
        assert_still_serving(&app).await;
    }
}

#[tokio::test]
async fn a_fragment_bomb_is_refused_before_it_is_expanded() {
    // Arrange: 3^30 fields from about 1.5 KB, each level within async-graphql's own bound on
    // fragment depth, so only counting the expansion stops it.
    let app = spawn_app().await;
    let mut query = String::from("{ ...F0 } ");
    for level in 0..30 {
        let next = level + 1;
        query.push_str(&format!(
            "fragment F{level} on Query {{ ...F{next} ...F{next} ...F{next} }} "
        ));
    }
    query.push_str("fragment F30 on Query { __typename }");

    // Act
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": query }))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("answered within 20 s, not expanded for hours");

    // Assert
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(codes(&body), ["GRAPHQL_VALIDATION_FAILED"], "{body}");
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn fragment_cycles_are_refused() {
    let app = spawn_app().await;
    let query =
        "{ ...A } fragment A on Query { ...B ...B } fragment B on Query { __typename ...A ...A }";

    let (_, body) = app.graphql_raw(query, json!({})).await;

    assert_eq!(codes(&body), ["GRAPHQL_VALIDATION_FAILED"], "{body}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Arbitrary mixes of list, object and selection nesting, in the document or in the
    /// variables: always an answer, never a crash.
    #[test]
    fn arbitrary_nesting_always_gets_an_answer(
        levels in prop::collection::vec(0u8..3, 0..3000),
        in_variables in any::<bool>(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let app = spawn_app().await;
            let (mut open, mut close) = (String::new(), String::new());
            for level in &levels {
                let (o, c) = match (level, in_variables) {
                    (0, _) => ("[", "]"),
                    (1, true) => ("{\"k\":", "}"),
                    (1, false) => ("{k: ", "}"),
                    _ if in_variables => ("[1,", "]"),
                    _ => ("[1, ", "]"),
                };
                open.push_str(o);
                close.insert_str(0, c);
            }
            let value = format!("{open}2{close}");
            let body = if in_variables {
                let query = "mutation($d: JSON) { storeSessionData(sessionId: \\\"0\\\", data: $d) { id } }";
                format!(r#"{{"query":"{query}","variables":{{"d":{value}}}}}"#)
            } else {
                let value = value.replace('"', "\\\"");
                format!(r#"{{"query":"mutation {{ storeSessionData(sessionId: \"0\", data: {value}) {{ id }} }}"}}"#)
            };
            let (status, answer) = post_raw(&app, body).await;
            prop_assert!(status == 200 || status == 400, "status {}", status);
            prop_assert!(!codes(&answer).is_empty(), "an error for the bad id or the depth: {:.200}", answer);
            assert_still_serving(&app).await;
            Ok(())
        })?;
    }
}

// --- CSRF: only JSON bodies run ---------------------------------------------------------

/// What a cross-site page can send without a preflight, plus other non-JSON types.
const NOT_JSON: [Option<&str>; 5] = [
    None,
    Some("text/plain"),
    Some("application/x-www-form-urlencoded"),
    Some("multipart/form-data; boundary=x"),
    Some("application/jsonp"),
];

async fn count_sessions_of(app: &TestApp, user: &str) -> i64 {
    let body = app
        .graphql(
            "query($u: String) { sessions(filter: {userId: $u}, paging: {total: true}) { total } }",
            json!({ "u": user }),
        )
        .await;
    body["data"]["sessions"]["total"].as_i64().expect("a total")
}

#[tokio::test]
async fn graphql_posts_without_a_json_content_type_are_refused_and_run_nothing() {
    let app = spawn_app().await;
    let mutation = r#"{"query":"mutation { openSession(input: {userId: \"csrf\"}) { id } }"}"#;
    for content_type in NOT_JSON {
        // Act
        let mut request = app.client.post(app.url("/graphql")).body(mutation);
        if let Some(value) = content_type {
            request = request.header("content-type", value);
        }
        let response = request.send().await.expect("answered");

        // Assert
        assert_eq!(response.status(), 415, "content type {content_type:?}");
        let body: Value = response.json().await.expect("JSON error body");
        assert_eq!(codes(&body), ["BAD_REQUEST"], "{body}");
    }
    assert_eq!(count_sessions_of(&app, "csrf").await, 0, "no mutation ran");
}

#[tokio::test]
async fn graphql_posts_with_a_json_content_type_and_parameters_run() {
    let app = spawn_app().await;
    for content_type in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/graphql-response+json",
    ] {
        let response = app
            .client
            .post(app.url("/graphql"))
            .header("content-type", content_type)
            .body(r#"{"query":"mutation { openSession(input: {userId: \"ok\"}) { id } }"}"#)
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), 200, "content type {content_type}");
    }
    assert_eq!(count_sessions_of(&app, "ok").await, 4);
}

#[tokio::test]
async fn rest_commands_without_a_json_content_type_are_refused_and_run_nothing() {
    let app = spawn_app().await;
    for content_type in NOT_JSON {
        let mut request = app
            .client
            .post(app.url("/v1/sessions/open_session"))
            .body(r#"{"user_id":"csrf"}"#);
        if let Some(value) = content_type {
            request = request.header("content-type", value);
        }
        let response = request.send().await.expect("answered");

        assert_eq!(response.status(), 415, "content type {content_type:?}");
        let body: Value = response.json().await.expect("JSON error description");
        assert_eq!(body["code"], "UNSUPPORTED_MEDIA_TYPE", "{body}");
    }
    assert_eq!(count_sessions_of(&app, "csrf").await, 0, "no command ran");
}

// --- Oversize bodies: the client reads the 413 ------------------------------------------

/// Send a whole request over a raw socket, body included, and only then read the answer.
async fn send_whole_then_read(
    app: &TestApp,
    path: &str,
    body_len: usize,
    chunked: bool,
) -> (u16, String) {
    let mut stream = TcpStream::connect(app.addr).await.expect("connects");
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_owned()
    } else {
        format!("Content-Length: {body_len}")
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n{framing}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("head sent");
    let block = vec![b' '; 64 * 1024];
    let mut sent = 0;
    while sent < body_len {
        let n = block.len().min(body_len - sent);
        let result = if chunked {
            let mut chunk = format!("{n:x}\r\n").into_bytes();
            chunk.extend_from_slice(&block[..n]);
            chunk.extend_from_slice(b"\r\n");
            stream.write_all(&chunk).await
        } else {
            stream.write_all(&block[..n]).await
        };
        result.unwrap_or_else(|e| panic!("the server reset the upload after {sent} bytes: {e}"));
        sent += n;
    }
    if chunked {
        stream
            .write_all(b"0\r\n\r\n")
            .await
            .expect("last chunk sent");
    }
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .expect("answered in time")
        .expect("the answer is readable, not reset");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("an HTTP answer: {text:.200}"));
    (status, text)
}

#[tokio::test]
async fn an_oversize_body_sent_whole_is_answered_with_a_json_413() {
    let app = spawn_app().await;
    for (path, chunked) in [
        ("/graphql", false),
        ("/graphql", true),
        ("/v1/sessions/open_session", false),
    ] {
        let (status, text) = send_whole_then_read(&app, path, 4 * 1024 * 1024, chunked).await;

        assert_eq!(status, 413, "{path} chunked={chunked}: {text:.300}");
        assert!(
            text.contains("PAYLOAD_TOO_LARGE"),
            "a JSON error body: {text:.300}"
        );
    }
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn a_refused_content_type_with_a_body_is_answered_not_reset() {
    let app = spawn_app().await;
    let mut stream = TcpStream::connect(app.addr).await.expect("connects");
    let body = " ".repeat(512 * 1024);
    let request = format!(
        "POST /graphql HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("sent whole");
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .await
        .expect("answer readable");
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 415"));
}

// --- Panics: a JSON 500, logged with the correlation id, and the server goes on ---------

/// The memory store, except that looking a session up panics.
struct PanicsOnGet(MemoryStore);

#[async_trait]
impl SessionStore for PanicsOnGet {
    fn kind(&self) -> &'static str {
        "panics-on-get"
    }
    async fn insert(&self, session: &Session) -> Result<(), StoreError> {
        self.0.insert(session).await
    }
    async fn insert_limited(
        &self,
        session: &Session,
        limit: UserLimit,
        cutoffs: Cutoffs,
    ) -> Result<Admission, StoreError> {
        self.0.insert_limited(session, limit, cutoffs).await
    }
    async fn get(&self, _id: &SessionId) -> Result<Option<Session>, StoreError> {
        panic!("store bug: get is broken");
    }
    async fn list(
        &self,
        filter: &SessionFilter,
        page: &PageRequest,
    ) -> Result<Page<Session>, StoreError> {
        self.0.list(filter, page).await
    }
    async fn update_open(
        &self,
        id: &SessionId,
        change: SessionChange,
        now: DateTime<Utc>,
        cutoffs: Cutoffs,
    ) -> Result<Option<Session>, StoreError> {
        self.0.update_open(id, change, now, cutoffs).await
    }
    async fn close(
        &self,
        id: &SessionId,
        now: DateTime<Utc>,
        reason: CloseReason,
        by: &str,
    ) -> Result<Option<Closing>, StoreError> {
        self.0.close(id, now, reason, by).await
    }
    async fn close_if_expired(
        &self,
        id: &SessionId,
        now: DateTime<Utc>,
        cutoffs: Cutoffs,
    ) -> Result<bool, StoreError> {
        self.0.close_if_expired(id, now, cutoffs).await
    }
    async fn close_expired(
        &self,
        cutoffs: Cutoffs,
        now: DateTime<Utc>,
    ) -> Result<Vec<Closed>, StoreError> {
        self.0.close_expired(cutoffs, now).await
    }
    async fn close_user(
        &self,
        user_id: &str,
        except: Option<SessionId>,
        now: DateTime<Utc>,
        by: &str,
    ) -> Result<Vec<Closed>, StoreError> {
        self.0.close_user(user_id, except, now, by).await
    }
    async fn get_by_token(&self, hash: &TokenHash) -> Result<Option<Session>, StoreError> {
        self.0.get_by_token(hash).await
    }
    async fn set_token(
        &self,
        id: &SessionId,
        hash: &TokenHash,
    ) -> Result<Option<Session>, StoreError> {
        self.0.set_token(id, hash).await
    }
    async fn purge_closed(&self, before: DateTime<Utc>, max: usize) -> Result<u64, StoreError> {
        self.0.purge_closed(before, max).await
    }
    async fn delete(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        self.0.delete(id).await
    }
    async fn counts(&self) -> Result<SessionCounts, StoreError> {
        self.0.counts().await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.0.ping().await
    }
}

/// Log lines written by the server, captured for the test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_panicking_store_gets_a_json_500_with_the_correlation_id_and_the_server_goes_on() {
    // Arrange: a current-thread runtime, so the server's tasks log to this subscriber.
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let addr = serve_over(Arc::new(PanicsOnGet(MemoryStore::new()))).await;
    let client = reqwest::Client::new();
    let id = SessionId::random().to_string();

    // Act
    let graphql = client
        .post(format!("http://{addr}/graphql"))
        .header("x-correlation-id", "panic-42")
        .json(&json!({ "query": format!("{{ session(id: \"{id}\") {{ id }} }}") }))
        .send()
        .await
        .expect("answered, not dropped");
    let rest = client
        .post(format!("http://{addr}/v1/sessions/get_session_by_id"))
        .json(&json!({ "session_id": id }))
        .send()
        .await
        .expect("answered, not dropped");

    // Assert
    assert_eq!(graphql.status(), 500);
    let body: Value = graphql.json().await.expect("JSON");
    assert_eq!(codes(&body), ["INTERNAL_SERVER_ERROR"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["correlationId"], "panic-42");
    assert!(
        !body.to_string().contains("store bug"),
        "no internals leak: {body}"
    );
    assert_eq!(rest.status(), 500);
    let rest: Value = rest.json().await.expect("JSON");
    assert_eq!(rest["category"], "Internal", "{rest}");
    let opened = client
        .post(format!("http://{addr}/graphql"))
        .json(&json!({ "query": "mutation { openSession(input: {userId: \"after\"}) { id } }" }))
        .send()
        .await
        .expect("still serving");
    assert_eq!(opened.status(), 200);
    let logged = String::from_utf8_lossy(&logs.0.lock().expect("log buffer")).into_owned();
    let line = logged
        .lines()
        .find(|l| l.contains("panicked"))
        .unwrap_or_else(|| panic!("the panic is logged: {logged}"));
    assert!(
        line.contains("panic-42") && line.contains("store bug"),
        "{line}"
    );
}
