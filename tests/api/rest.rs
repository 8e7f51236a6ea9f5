//! The v1 REST protocol of the original Pip.Services sessions microservice, end to end:
//! `POST /v1/sessions/<command>` with snake_case JSON, 204 for unknown sessions, Pip.Services
//! error descriptions, string-typed filters, correlation ids, and interplay with GraphQL.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::{Value, json};
use sessions::clock::ManualClock;
use sessions::config::Config;

use crate::helpers::{SESSION_FIELDS, TestApp, assert_no_errors, spawn_app, spawn_app_with};

/// A well-formed session id that no session has.
const UNKNOWN_ID: &str = "0123456789abcdef0123456789abcdef";

/// Where the manual clock of the time-dependent tests starts.
const START: &str = "2026-11-25T17:18:31.110Z";

/// The keys of a full session, in the v1 protocol.
const SESSION_KEYS: [&str; 14] = [
    "id",
    "user_id",
    "user_name",
    "active",
    "open_time",
    "request_time",
    "close_time",
    "close_reason",
    "closed_by",
    "expires_at",
    "address",
    "client",
    "user",
    "data",
];

/// The commands that take a `session_id` and answer 204 when it is unknown, with the rest
/// of a valid body.
fn single_session_commands() -> [(&'static str, Value); 5] {
    [
        ("get_session_by_id", json!({})),
        ("store_session_data", json!({ "data": "xyz" })),
        ("update_session_user", json!({ "user": "xyz" })),
        ("close_session", json!({})),
        ("delete_session_by_id", json!({})),
    ]
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A raw answer: status, headers and body text.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Reply {
    /// The body parsed as JSON; `None` when it is empty.
    fn body(&self) -> Option<Value> {
        if self.text.is_empty() {
            return None;
        }
        let body = serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text));
        Some(body)
    }

    /// A header as text, when present.
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Send a request and read the whole answer.
async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body read");
    Reply {
        status,
        headers,
        text,
    }
}

/// The URL of a v1 command.
fn command_url(app: &TestApp, name: &str) -> String {
    app.url(&format!("/v1/sessions/{name}"))
}

/// POST `body` to `/v1/sessions/<name>`; the status and the parsed body (`None` when empty).
async fn command(app: &TestApp, name: &str, body: Value) -> (StatusCode, Option<Value>) {
    let reply = send(app.client.post(command_url(app, name)).json(&body)).await;
    (reply.status, reply.body())
}

/// Run a command that must answer 200 with a JSON body; returns that body.
async fn ok(app: &TestApp, name: &str, body: Value) -> Value {
    let reply = send(app.client.post(command_url(app, name)).json(&body)).await;
    assert_eq!(
        reply.status, 200,
        "{name}: unexpected status; body: {}",
        reply.text
    );
    let content_type = reply.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{name}: content type {content_type:?}"
    );
    reply.body().expect("a JSON body")
}

/// Open a session through REST with this `open_session` body; returns it.
/// Open a session; returns it without its `token` (which only `open_session` answers with,
/// checked here), so it compares equal to later reads.
async fn open(app: &TestApp, body: Value) -> Value {
    let mut opened = ok(app, "open_session", body).await;
    let token = opened
        .as_object_mut()
        .expect("session is an object")
        .remove("token");
    let token = token.unwrap_or_default();
    assert!(
        token.as_str().is_some_and(|t| t.starts_with("st_")),
        "open_session answers with the session token: {token}"
    );
    opened
}

/// The `id` of a session as text.
fn id_of(session: &Value) -> String {
    session["id"].as_str().expect("session id").to_owned()
}

/// The ids of a `get_sessions` page, in order.
fn page_ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .expect("page data is an array")
        .iter()
        .map(id_of)
        .collect()
}

/// A server whose controller reads a manual clock standing at [`START`].
async fn spawn_with_clock(config: Config) -> (TestApp, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(time(START)));
    let app = spawn_app_with(config, clock.clone()).await;
    (app, clock)
}

fn time(text: &str) -> DateTime<Utc> {
    text.parse().expect("valid RFC 3339 time")
}

/// Fail unless `value` is a v1 time: `YYYY-MM-DDTHH:MM:SS.mmmZ`, exactly 3 fraction digits.
fn assert_wire_time(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("time is not text: {value}"));
    let bytes = text.as_bytes();
    let shape_ok = bytes.len() == 24
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            10 => *b == b'T',
            13 | 16 => *b == b':',
            19 => *b == b'.',
            23 => *b == b'Z',
            _ => b.is_ascii_digit(),
        });
    assert!(shape_ok, "not YYYY-MM-DDTHH:MM:SS.mmmZ: {text:?}");
    text.parse::<DateTime<Utc>>()
        .unwrap_or_else(|e| panic!("not a valid time ({e}): {text:?}"));
}

/// Fail unless `session` is a full v1 session: exactly the 11 keys, times well formed.
fn assert_full_session(session: &Value) {
    let object = session.as_object().expect("session is an object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = SESSION_KEYS.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected, "keys of {session}");
    assert_session_times(session);
}

/// Fail unless `item` is a listing item: every key but `user` and `data`.
fn assert_summary(item: &Value) {
    let object = item.as_object().expect("list item is an object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected: Vec<&str> = SESSION_KEYS
        .into_iter()
        .filter(|k| *k != "user" && *k != "data")
        .collect();
    expected.sort_unstable();
    assert_eq!(keys, expected, "keys of list item {item}");
    assert_session_times(item);
}

fn assert_session_times(session: &Value) {
    assert_wire_time(&session["open_time"]);
    assert_wire_time(&session["request_time"]);
    if !session["close_time"].is_null() {
        assert_wire_time(&session["close_time"]);
    }
}

/// Fail unless the text carries no trace of the server's internals.
fn assert_no_stack_trace(text: &str) {
    let lower = text.to_lowercase();
    for sign in [
        "panicked",
        "backtrace",
        "stack",
        ".rs:",
        "\n    at ",
        "\tat ",
    ] {
        assert!(!lower.contains(sign), "internals ({sign:?}) in {text}");
    }
}

/// Fail unless `(status, body)` is a Pip.Services error description with these values, a
/// message and a correlation id, and no stack trace.
fn assert_error(
    (status, body): (StatusCode, Option<Value>),
    expected_status: u16,
    category: &str,
    code: &str,
) -> Value {
    let body = body.unwrap_or_else(|| panic!("{status}: empty body where an error was expected"));
    assert_eq!(status, expected_status, "status; body: {body}");
    assert_eq!(body["category"], category, "category in {body}");
    assert_eq!(body["code"], code, "code in {body}");
    assert_eq!(body["status"], expected_status, "status in {body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "no message in {body}");
    let correlation_id = body["correlation_id"].as_str().unwrap_or_default();
    assert!(!correlation_id.is_empty(), "no correlation_id in {body}");
    assert_no_stack_trace(&body.to_string());
    body
}

/// Fail unless the answer is 400 `INVALID_DATA` with a message naming `field`.
fn assert_invalid_data(answer: (StatusCode, Option<Value>), field: &str) -> Value {
    let body = assert_error(answer, 400, "BadRequest", "INVALID_DATA");
    let message = body["message"].as_str().expect("message");
    assert!(
        message.contains(field),
        "message does not name {field:?}: {message}"
    );
    body
}

/// Fail unless the answer is 204 with an empty body.
fn assert_no_content((status, body): (StatusCode, Option<Value>), what: &str) {
    assert_eq!(status, 204, "{what}: status; body: {body:?}");
    assert_eq!(body, None, "{what}: 204 must have an empty body");
}

/// Run a GraphQL operation that must succeed; returns its `data`.
async fn graphql_data(app: &TestApp, query: &str, variables: Value) -> Value {
    let body = app.graphql(query, variables).await;
    assert_no_errors(&body);
    body["data"].clone()
}

// ---------------------------------------------------------------------------------------------
// Every command
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn open_session_returns_the_new_session_as_snake_case_json() {
    // Arrange
    let (app, _clock) = spawn_with_clock(Config::for_tests()).await;

    // Act
    let session = open(
        &app,
        json!({
            "user_id": "u-1", "user_name": "User 1", "address": "10.0.0.1", "client": "web",
            "user": { "name": "Ann", "roles": ["admin"] }, "data": { "cart": [1, 2] },
        }),
    )
    .await;

    // Assert
    assert_full_session(&session);
    let id = id_of(&session);
    assert_eq!(id.len(), 32, "id {id:?}");
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert_eq!(session["user_id"], "u-1");
    assert_eq!(session["user_name"], "User 1");
    assert_eq!(session["active"], true);
    assert_eq!(session["open_time"], START);
    assert_eq!(session["request_time"], START);
    assert_eq!(session["close_time"], Value::Null);
    assert_eq!(session["address"], "10.0.0.1");
    assert_eq!(session["client"], "web");
    assert_eq!(
        session["user"],
        json!({ "name": "Ann", "roles": ["admin"] })
    );
    assert_eq!(session["data"], json!({ "cart": [1, 2] }));
}

#[tokio::test]
async fn open_session_writes_null_for_every_optional_value_left_out() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let session = open(&app, json!({ "user_id": "u-1" })).await;

    // Assert
    assert_full_session(&session);
    for key in [
        "close_time",
        "user_name",
        "address",
        "client",
        "user",
        "data",
    ] {
        let object = session.as_object().expect("object");
        assert_eq!(object.get(key), Some(&Value::Null), "{key} in {session}");
    }
}

#[tokio::test]
async fn times_are_written_with_exactly_three_fraction_digits_and_z() {
    // Arrange: a clock on a whole second, then one with sub-millisecond digits.
    let (app, clock) = spawn_with_clock(Config::for_tests()).await;
    clock.set(time("2026-11-25T17:18:31Z"));
    let on_the_second = open(&app, json!({ "user_id": "u-1" })).await;
    clock.set(time("2026-11-25T17:18:32.110999+00:00"));

    // Act
    let with_micros = open(&app, json!({ "user_id": "u-1" })).await;

    // Assert
    assert_eq!(on_the_second["open_time"], "2026-11-25T17:18:31.000Z");
    assert_eq!(with_micros["open_time"], "2026-11-25T17:18:32.110Z");
    assert_eq!(with_micros["request_time"], "2026-11-25T17:18:32.110Z");
}

#[tokio::test]
async fn get_session_by_id_returns_the_full_session() {
    // Arrange
    let app = spawn_app().await;
    let opened = open(
        &app,
        json!({ "user_id": "u-1", "address": "localhost", "data": [1, "two"] }),
    )
    .await;

    // Act
    let found = ok(
        &app,
        "get_session_by_id",
        json!({ "session_id": id_of(&opened) }),
    )
    .await;

    // Assert
    assert_full_session(&found);
    assert_eq!(found, opened);
}

#[tokio::test]
async fn get_sessions_returns_a_page_of_summaries_without_user_and_data() {
    // Arrange
    let (app, clock) = spawn_with_clock(Config::for_tests()).await;
    let older = open(&app, json!({ "user_id": "u-1", "user": "x", "data": "y" })).await;
    clock.advance(TimeDelta::seconds(1));
    let newer = open(&app, json!({ "user_id": "u-2", "client": "web" })).await;

    // Act
    let page = ok(&app, "get_sessions", json!({})).await;

    // Assert: most recent activity first, no total unless asked for.
    let object = page.as_object().expect("page is an object");
    assert_eq!(object.get("total"), Some(&Value::Null), "page {page}");
    assert_eq!(page_ids(&page), [id_of(&newer), id_of(&older)]);
    for item in page["data"].as_array().expect("data") {
        assert_summary(item);
    }
    assert_eq!(page["data"][0]["client"], "web");
    assert_eq!(page["data"][0]["user_name"], Value::Null);
    assert_eq!(page["data"][0]["close_time"], Value::Null);
}

#[tokio::test]
async fn get_sessions_filters_and_counts_the_total_when_asked() {
    // Arrange
    let app = spawn_app().await;
    for _ in 0..3 {
        open(&app, json!({ "user_id": "counted" })).await;
    }
    open(&app, json!({ "user_id": "someone else" })).await;

    // Act
    let page = ok(
        &app,
        "get_sessions",
        json!({ "filter": { "user_id": "counted" }, "paging": { "take": 2, "total": true } }),
    )
    .await;

    // Assert
    assert_eq!(page["total"], 3);
    assert_eq!(page["data"].as_array().expect("data").len(), 2);
    for item in page["data"].as_array().expect("data") {
        assert_eq!(item["user_id"], "counted");
    }
}

#[tokio::test]
async fn store_session_data_replaces_the_data_and_marks_the_session_active_now() {
    // Arrange
    let (app, clock) = spawn_with_clock(Config::for_tests()).await;
    let opened = open(
        &app,
        json!({ "user_id": "u-1", "user": "me", "data": "old" }),
    )
    .await;
    clock.advance(TimeDelta::milliseconds(1500));
    let id = id_of(&opened);

    // Act
    let stored = ok(
        &app,
        "store_session_data",
        json!({ "session_id": id, "data": { "cart": ["book"] } }),
    )
    .await;

    // Assert
    assert_full_session(&stored);
    assert_eq!(stored["data"], json!({ "cart": ["book"] }));
    assert_eq!(stored["user"], "me");
    assert_eq!(stored["open_time"], START);
    assert_eq!(stored["request_time"], "2026-11-25T17:18:32.610Z");
    let found = ok(&app, "get_session_by_id", json!({ "session_id": id })).await;
    assert_eq!(found, stored);
}

#[tokio::test]
async fn update_session_user_replaces_the_user_and_marks_the_session_active_now() {
    // Arrange
    let (app, clock) = spawn_with_clock(Config::for_tests()).await;
    let opened = open(
        &app,
        json!({ "user_id": "u-1", "user": "old", "data": "kept" }),
    )
    .await;
    clock.advance(TimeDelta::seconds(2));
    let id = id_of(&opened);

    // Act
    let updated = ok(
        &app,
        "update_session_user",
        json!({ "session_id": id, "user": { "name": "Ann" } }),
    )
    .await;

    // Assert
    assert_full_session(&updated);
    assert_eq!(updated["user"], json!({ "name": "Ann" }));
    assert_eq!(updated["data"], "kept");
    assert_eq!(updated["request_time"], "2026-11-25T17:18:33.110Z");
    let found = ok(&app, "get_session_by_id", json!({ "session_id": id })).await;
    assert_eq!(found, updated);
}

#[tokio::test]
async fn close_session_returns_the_closed_session_and_closing_again_changes_nothing() {
    // Arrange
    let (app, clock) = spawn_with_clock(Config::for_tests()).await;
    let opened = open(&app, json!({ "user_id": "u-1", "user": "me", "data": "d" })).await;
    let id = id_of(&opened);
    clock.advance(TimeDelta::seconds(5));

    // Act
    let closed = ok(&app, "close_session", json!({ "session_id": id })).await;
    clock.advance(TimeDelta::seconds(5));
    let closed_again = ok(&app, "close_session", json!({ "session_id": id })).await;

    // Assert
    assert_full_session(&closed);
    assert_eq!(closed["active"], false);
    assert_eq!(closed["close_time"], "2026-11-25T17:18:36.110Z");
    assert_eq!(closed["request_time"], "2026-11-25T17:18:36.110Z");
    assert_eq!(closed["user"], Value::Null);
    assert_eq!(closed["data"], Value::Null);
    assert_eq!(closed_again, closed);
}

#[tokio::test]
async fn close_expired_sessions_closes_only_idle_sessions_and_answers_how_many() {
    // Arrange: A idles 61 minutes, B 31 minutes, with a one-hour expire timeout.
    let mut config = Config::for_tests();
    config.expire_timeout = Duration::from_secs(60 * 60);
    let (app, clock) = spawn_with_clock(config).await;
    let idle = open(&app, json!({ "user_id": "u-1", "data": "d" })).await;
    clock.advance(TimeDelta::minutes(30));
    let recent = open(&app, json!({ "user_id": "u-1" })).await;
    clock.advance(TimeDelta::minutes(31));

    // Act
    let first = command(&app, "close_expired_sessions", json!({})).await;
    let second = command(&app, "close_expired_sessions", json!({})).await;

    // Assert
    assert_eq!(first, (StatusCode::OK, Some(json!({ "closed": 1 }))));
    assert_eq!(second, (StatusCode::OK, Some(json!({ "closed": 0 }))));
    let idle = ok(
        &app,
        "get_session_by_id",
        json!({ "session_id": id_of(&idle) }),
    )
    .await;
    assert_eq!(idle["active"], false);
    assert_eq!(idle["close_time"], "2026-11-25T18:19:31.110Z");
    assert_eq!(idle["data"], Value::Null);
    let recent = ok(
        &app,
        "get_session_by_id",
        json!({ "session_id": id_of(&recent) }),
    )
    .await;
    assert_eq!(recent["active"], true);
}

#[tokio::test]
async fn close_expired_sessions_accepts_an_empty_json_body() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let request = app
        .client
        .post(command_url(&app, "close_expired_sessions"))
        .header("content-type", "application/json");
    let reply = send(request).await;

    // Assert
    assert_eq!(reply.status, 200, "body: {}", reply.text);
    assert_eq!(reply.body(), Some(json!({ "closed": 0 })));
}

#[tokio::test]
async fn delete_session_by_id_returns_the_removed_session_and_forgets_it() {
    // Arrange
    let app = spawn_app().await;
    let opened = open(&app, json!({ "user_id": "u-1", "data": "d" })).await;
    let id = id_of(&opened);

    // Act
    let deleted = ok(&app, "delete_session_by_id", json!({ "session_id": id })).await;

    // Assert
    assert_eq!(deleted, opened);
    let after = command(&app, "get_session_by_id", json!({ "session_id": id })).await;
    assert_no_content(after, "get after delete");
    let page = ok(
        &app,
        "get_sessions",
        json!({ "filter": { "user_id": "u-1" } }),
    )
    .await;
    assert_eq!(page["data"], json!([]));
}

// ---------------------------------------------------------------------------------------------
// 204 for unknown sessions
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_unknown_session_id_answers_204_with_an_empty_body_on_every_session_command() {
    // Arrange
    let app = spawn_app().await;
    open(&app, json!({ "user_id": "u-1" })).await;

    for (name, mut body) in single_session_commands() {
        body["session_id"] = json!(UNKNOWN_ID);

        // Act
        let reply = send(app.client.post(command_url(&app, name)).json(&body)).await;

        // Assert
        assert_eq!(reply.status, 204, "{name}: body {:?}", reply.text);
        assert_eq!(reply.text, "", "{name}: 204 must have an empty body");
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_blank_or_missing_user_id_answers_400_invalid_data_naming_user_id() {
    // Arrange
    let app = spawn_app().await;

    for body in [
        json!({ "user_id": "" }),
        json!({ "user_id": "   " }),
        json!({ "user_name": "nobody" }),
    ] {
        // Act
        let answer = command(&app, "open_session", body.clone()).await;

        // Assert
        let error = assert_invalid_data(answer, "user_id");
        assert!(
            !error["message"]
                .as_str()
                .unwrap_or_default()
                .contains("userId")
        );
    }
    let page = ok(&app, "get_sessions", json!({ "paging": { "total": true } })).await;
    assert_eq!(
        page["total"], 0,
        "no session may be opened by a refused request"
    );
}

#[tokio::test]
async fn a_user_id_over_256_characters_answers_400_invalid_data_naming_user_id() {
    // Arrange
    let app = spawn_app().await;
    let longest = "é".repeat(256);

    // Act
    let too_long = command(&app, "open_session", json!({ "user_id": "u".repeat(257) })).await;
    let at_the_limit = command(&app, "open_session", json!({ "user_id": longest })).await;

    // Assert
    assert_invalid_data(too_long, "user_id");
    assert_eq!(
        at_the_limit.0, 200,
        "256 characters are allowed: {at_the_limit:?}"
    );
}

#[tokio::test]
async fn data_or_user_over_the_payload_limit_answers_400_invalid_data_naming_the_field() {
    // Arrange: a 64-byte limit; `"…"` of 70 characters serializes to 72 bytes.
    let mut config = Config::for_tests();
    config.max_payload = 64;
    let app = spawn_app_with(config, Arc::new(sessions::clock::SystemClock)).await;
    let big = json!("x".repeat(70));
    let opened = open(&app, json!({ "user_id": "u-1", "data": "small" })).await;
    let id = id_of(&opened);

    // Act
    let on_open = command(
        &app,
        "open_session",
        json!({ "user_id": "u-1", "data": big }),
    )
    .await;
    let on_store = command(
        &app,
        "store_session_data",
        json!({ "session_id": id, "data": big }),
    )
    .await;
    let on_update = command(
        &app,
        "update_session_user",
        json!({ "session_id": id, "user": big }),
    )
    .await;

    // Assert
    let open_error = assert_invalid_data(on_open, "data");
    assert_invalid_data(on_store, "data");
    assert_invalid_data(on_update, "user");
    let found = ok(&app, "get_session_by_id", json!({ "session_id": id })).await;
    assert_eq!(
        found["data"], "small",
        "a refused store must change nothing"
    );
    assert_eq!(
        found["user"],
        Value::Null,
        "a refused update must change nothing"
    );
    // The same limit, with the same message, as the GraphQL API.
    let graphql = app
        .graphql(
            "mutation($input: OpenSessionInput!) { openSession(input: $input) { id } }",
            json!({ "input": { "userId": "u-1", "data": big } }),
        )
        .await;
    assert_eq!(open_error["message"], graphql["errors"][0]["message"]);
}

#[tokio::test]
async fn a_malformed_or_missing_session_id_answers_400_invalid_data_naming_session_id() {
    // Arrange
    let app = spawn_app().await;

    for (name, body) in single_session_commands() {
        for session_id in [json!("not-an-id"), json!("0123456789abcdef"), Value::Null] {
            let mut body = body.clone();
            body["session_id"] = session_id.clone();

            // Act
            let answer = command(&app, name, body).await;

            // Assert
            let error = assert_invalid_data(answer, "session_id");
            let message = error["message"].as_str().unwrap_or_default();
            assert!(!message.contains("sessionId"), "{name}: {message}");
        }
    }
}

#[tokio::test]
async fn storing_data_in_a_closed_session_answers_409_session_closed() {
    // Arrange
    let app = spawn_app().await;
    let id = id_of(&open(&app, json!({ "user_id": "u-1" })).await);
    ok(&app, "close_session", json!({ "session_id": id })).await;

    // Act
    let answer = command(
        &app,
        "store_session_data",
        json!({ "session_id": id, "data": "late" }),
    )
    .await;

    // Assert
    assert_error(answer, 409, "Conflict", "SESSION_CLOSED");
    let found = ok(&app, "get_session_by_id", json!({ "session_id": id })).await;
    assert_eq!(found["data"], Value::Null, "a closed session keeps no data");
}

#[tokio::test]
async fn updating_the_user_of_a_closed_session_answers_409_session_closed() {
    // Arrange
    let app = spawn_app().await;
    let id = id_of(&open(&app, json!({ "user_id": "u-1" })).await);
    ok(&app, "close_session", json!({ "session_id": id })).await;

    // Act
    let answer = command(
        &app,
        "update_session_user",
        json!({ "session_id": id, "user": "late" }),
    )
    .await;

    // Assert
    assert_error(answer, 409, "Conflict", "SESSION_CLOSED");
    let found = ok(&app, "get_session_by_id", json!({ "session_id": id })).await;
    assert_eq!(found["user"], Value::Null, "a closed session keeps no user");
}

#[tokio::test]
async fn malformed_json_answers_400_invalid_json_and_the_server_keeps_serving() {
    // Arrange
    let app = spawn_app().await;

    for raw in [r#"{"user_id": "#, "not json", "[1, 2]", r#""a string""#] {
        // Act
        let reply = send(
            app.client
                .post(command_url(&app, "open_session"))
                .header(CONTENT_TYPE, "application/json")
                .body(raw),
        )
        .await;

        // Assert
        assert_error(
            (reply.status, reply.body()),
            400,
            "BadRequest",
            "INVALID_JSON",
        );
    }
    open(&app, json!({ "user_id": "u-1" })).await;
}

#[tokio::test]
async fn an_unknown_command_answers_404_not_found() {
    // Arrange
    let app = spawn_app().await;

    for name in ["get_everything", "GET_SESSIONS", "get_sessions/extra"] {
        // Act
        let reply = send(app.client.post(command_url(&app, name)).json(&json!({}))).await;

        // Assert
        assert_eq!(reply.status, 404, "{name}: {}", reply.text);
        let body = reply.body().expect("an error description");
        assert_eq!(body["category"], "NotFound", "{name}: {body}");
        assert_eq!(body["status"], 404, "{name}: {body}");
        assert!(body["code"].as_str().is_some_and(|c| !c.is_empty()));
        assert!(
            body["correlation_id"]
                .as_str()
                .is_some_and(|c| !c.is_empty())
        );
        assert_no_stack_trace(&reply.text);
    }
}

#[tokio::test]
async fn get_on_a_command_answers_405_with_a_pip_error_description() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let reply = send(app.client.get(command_url(&app, "get_sessions"))).await;

    // Assert
    assert_eq!(reply.status, 405, "body: {}", reply.text);
    let content_type = reply.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type:?}"
    );
    let body = reply.body().expect("an error description");
    assert_eq!(body["status"], 405, "{body}");
    for key in ["category", "code", "message", "correlation_id"] {
        assert!(
            body[key].as_str().is_some_and(|v| !v.is_empty()),
            "{key} in {body}"
        );
    }
    assert!(
        reply
            .header("allow")
            .is_some_and(|allow| allow.contains("POST")),
        "the Allow header says to use POST: {:?}",
        reply.headers
    );
    assert_no_stack_trace(&reply.text);
}

/// An `open_session` body just over 1 MiB.
fn oversized_body() -> String {
    let padding = "x".repeat(1024 * 1024);
    json!({ "user_id": "u-1", "data": padding }).to_string()
}

#[tokio::test]
async fn a_body_over_one_mebibyte_answers_413_with_a_json_error_description() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let reply = send(
        app.client
            .post(command_url(&app, "open_session"))
            .header(CONTENT_TYPE, "application/json")
            .body(oversized_body()),
    )
    .await;

    // Assert
    assert_eq!(reply.status, 413, "body: {}", reply.text);
    let content_type = reply.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type:?}"
    );
    let body = reply.body().expect("an error description");
    assert_eq!(body["status"], 413, "{body}");
    assert!(
        body["code"].as_str().is_some_and(|c| !c.is_empty()),
        "{body}"
    );
    assert!(
        body["category"].as_str().is_some_and(|c| !c.is_empty()),
        "{body}"
    );
    assert!(
        body["correlation_id"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );
    assert_no_stack_trace(&reply.text);
    let page = ok(&app, "get_sessions", json!({ "paging": { "total": true } })).await;
    assert_eq!(page["total"], 0, "the oversized request opened nothing");
}

#[tokio::test]
async fn a_streamed_body_over_one_mebibyte_answers_413_with_a_json_error_description() {
    // Arrange: no Content-Length, so the limit is only found while reading.
    let app = spawn_app().await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = oversized_body()
        .into_bytes()
        .chunks(64 * 1024)
        .map(|chunk| Ok(chunk.to_vec()))
        .collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));

    // Act
    let reply = send(
        app.client
            .post(command_url(&app, "open_session"))
            .header(CONTENT_TYPE, "application/json")
            .body(body),
    )
    .await;

    // Assert
    assert_eq!(reply.status, 413, "body: {}", reply.text);
    let body = reply.body().expect("an error description");
    assert_eq!(body["status"], 413, "{body}");
    assert!(
        body["correlation_id"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );
    assert_no_stack_trace(&reply.text);
}

// ---------------------------------------------------------------------------------------------
// Filters as the original clients send them
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn string_typed_filter_and_paging_values_behave_like_typed_ones() {
    // Arrange: user 1 opens a..e one second apart, user 2 opens f; c is closed last.
    let (app, clock) = spawn_with_clock(Config::for_tests()).await;
    let mut ids = Vec::new();
    for user in ["1", "1", "1", "1", "1", "2"] {
        ids.push(id_of(&open(&app, json!({ "user_id": user })).await));
        clock.advance(TimeDelta::seconds(1));
    }
    ok(&app, "close_session", json!({ "session_id": ids[2] })).await;
    let typed = json!({
        "filter": { "user_id": "1", "active": true },
        "paging": { "skip": 1, "take": 2, "total": true },
    });
    let as_strings = json!({
        "filter": { "user_id": "1", "active": "true" },
        "paging": { "skip": "1", "take": "2", "total": "true" },
    });

    // Act
    let typed_page = ok(&app, "get_sessions", typed).await;
    let string_page = ok(&app, "get_sessions", as_strings).await;

    // Assert: open sessions of user 1, newest first, are e, d, b, a; the page is d, b.
    assert_eq!(string_page["total"], 4, "{string_page}");
    assert_eq!(page_ids(&string_page), [ids[3].clone(), ids[1].clone()]);
    assert_eq!(string_page, typed_page);
    let closed = ok(
        &app,
        "get_sessions",
        json!({ "filter": { "user_id": 1, "active": "false" }, "paging": { "total": "1" } }),
    )
    .await;
    assert_eq!(closed["total"], 1, "{closed}");
    assert_eq!(page_ids(&closed), [ids[2].clone()]);
}

#[tokio::test]
async fn time_filters_bound_request_time_from_inclusive_to_exclusive() {
    // Arrange: three sessions with request times one second apart.
    let (app, clock) = spawn_with_clock(Config::for_tests()).await;
    let mut sessions = Vec::new();
    for _ in 0..3 {
        sessions.push(open(&app, json!({ "user_id": "u-1" })).await);
        clock.advance(TimeDelta::seconds(1));
    }
    let at = |i: usize| sessions[i]["request_time"].clone();
    let id = |i: usize| id_of(&sessions[i]);
    let list = |from: Value, to: Value| {
        let filter = json!({ "from_time": from, "to_time": to });
        json!({ "filter": filter, "paging": { "total": "true" } })
    };

    // Act
    let middle_only = ok(&app, "get_sessions", list(at(1), at(2))).await;
    let first_two = ok(&app, "get_sessions", list(at(0), at(2))).await;
    let from_last = ok(&app, "get_sessions", list(at(2), Value::Null)).await;
    // The same instants as `at(1)` and `at(2)`, written with an offset.
    let with_offset = list(
        json!("2026-11-25T18:18:32.110+01:00"),
        json!("2026-11-25T18:18:33.110+01:00"),
    );
    let middle_with_offset = ok(&app, "get_sessions", with_offset).await;

    // Assert
    assert_eq!(page_ids(&middle_only), [id(1)]);
    assert_eq!(page_ids(&first_two), [id(1), id(0)]);
    assert_eq!(page_ids(&from_last), [id(2)]);
    assert_eq!(page_ids(&middle_with_offset), [id(1)]);
    assert_eq!(first_two["total"], 2);
}

#[tokio::test]
async fn a_malformed_filter_value_answers_400_invalid_data_naming_it() {
    // Arrange
    let app = spawn_app().await;
    let cases = [
        (json!({ "filter": { "active": "maybe" } }), "filter.active"),
        (json!({ "filter": { "user_id": ["1"] } }), "filter.user_id"),
        (
            json!({ "filter": { "from_time": "yesterday" } }),
            "from_time",
        ),
        (json!({ "paging": { "skip": "-1" } }), "paging.skip"),
        (json!({ "paging": { "take": "ten" } }), "paging.take"),
    ];

    for (body, field) in cases {
        // Act
        let answer = command(&app, "get_sessions", body).await;

        // Assert
        assert_invalid_data(answer, field);
    }
}

// ---------------------------------------------------------------------------------------------
// Correlation ids
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_correlation_id_in_the_url_comes_back_in_the_header_and_in_error_bodies() {
    // Arrange
    let app = spawn_app().await;
    let url = |name: &str| format!("{}?correlation_id=abc-1", command_url(&app, name));

    // Act
    let success = send(
        app.client
            .post(url("open_session"))
            .json(&json!({ "user_id": "u" })),
    )
    .await;
    let invalid = send(
        app.client
            .post(url("open_session"))
            .json(&json!({ "user_id": "" })),
    )
    .await;
    let unknown = send(app.client.post(url("no_such_command")).json(&json!({}))).await;
    let wrong_method = send(app.client.get(url("get_sessions"))).await;

    // Assert
    assert_eq!(success.status, 200);
    for reply in [&success, &invalid, &unknown, &wrong_method] {
        assert_eq!(
            reply.header("x-correlation-id"),
            Some("abc-1"),
            "{}",
            reply.text
        );
    }
    for reply in [&invalid, &unknown, &wrong_method] {
        let body = reply.body().expect("an error description");
        assert_eq!(body["correlation_id"], "abc-1", "{body}");
    }
}

#[tokio::test]
async fn a_correlation_id_header_comes_back_in_the_header_and_in_error_bodies() {
    // Arrange
    let app = spawn_app().await;
    let post = |name: &str| {
        app.client
            .post(command_url(&app, name))
            .header("X-Correlation-Id", "abc-2")
    };

    // Act
    let success = send(post("get_sessions").json(&json!({}))).await;
    let invalid = send(post("get_session_by_id").json(&json!({ "session_id": "nope" }))).await;
    let closed_id = id_of(&open(&app, json!({ "user_id": "u" })).await);
    ok(&app, "close_session", json!({ "session_id": closed_id })).await;
    let conflict =
        send(post("store_session_data").json(&json!({ "session_id": closed_id, "data": 1 }))).await;

    // Assert
    assert_eq!(success.status, 200);
    for reply in [&success, &invalid, &conflict] {
        assert_eq!(
            reply.header("x-correlation-id"),
            Some("abc-2"),
            "{}",
            reply.text
        );
    }
    assert_eq!(invalid.status, 400);
    assert_eq!(conflict.status, 409);
    for reply in [&invalid, &conflict] {
        let body = reply.body().expect("an error description");
        assert_eq!(body["correlation_id"], "abc-2", "{body}");
    }
}

#[tokio::test]
async fn without_a_correlation_id_one_is_generated_and_matches_the_error_body() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let reply = send(
        app.client
            .post(command_url(&app, "open_session"))
            .json(&json!({ "user_id": " " })),
    )
    .await;

    // Assert
    let header = reply.header("x-correlation-id").expect("a generated id");
    assert!(!header.is_empty());
    let body = reply.body().expect("an error description");
    assert_eq!(body["correlation_id"], header);
}

// ---------------------------------------------------------------------------------------------
// REST and GraphQL share one controller
// ---------------------------------------------------------------------------------------------

const GET_SESSION: &str = "query($id: ID!) { session(id: $id) { FIELDS } }";
const STORE_DATA: &str =
    "mutation($id: ID!, $data: JSON) { storeSessionData(sessionId: $id, data: $data) { FIELDS } }";
const CLOSE: &str = "mutation($id: ID!) { closeSession(sessionId: $id) { FIELDS } }";
const OPEN: &str = "mutation($input: OpenSessionInput!) { openSession(input: $input) { FIELDS } }";

fn with_fields(operation: &str) -> String {
    operation.replace("FIELDS", SESSION_FIELDS)
}

#[tokio::test]
async fn a_session_opened_through_rest_is_read_updated_and_closed_through_graphql() {
    // Arrange
    let (app, clock) = spawn_with_clock(Config::for_tests()).await;
    let opened = open(
        &app,
        json!({ "user_id": "mixed", "user_name": "Mixed", "client": "rest", "data": "abc" }),
    )
    .await;
    let id = id_of(&opened);

    // Act / assert: GraphQL reads what REST wrote.
    let read = graphql_data(&app, &with_fields(GET_SESSION), json!({ "id": id })).await;
    let session = &read["session"];
    assert_eq!(session["id"], id.as_str());
    assert_eq!(session["userId"], "mixed");
    assert_eq!(session["userName"], "Mixed");
    assert_eq!(session["client"], "rest");
    assert_eq!(session["data"], "abc");
    assert_eq!(session["openTime"], opened["open_time"]);

    // Act / assert: REST sees what GraphQL stored.
    clock.advance(TimeDelta::seconds(1));
    let stored = graphql_data(
        &app,
        &with_fields(STORE_DATA),
        json!({ "id": id, "data": { "from": "graphql" } }),
    )
    .await;
    let after_store = ok(&app, "get_session_by_id", json!({ "session_id": id })).await;
    assert_eq!(after_store["data"], json!({ "from": "graphql" }));
    assert_eq!(
        after_store["request_time"],
        stored["storeSessionData"]["requestTime"]
    );

    // Act / assert: REST sees the close GraphQL made.
    clock.advance(TimeDelta::seconds(1));
    let closed = graphql_data(&app, &with_fields(CLOSE), json!({ "id": id })).await;
    let after_close = ok(&app, "get_session_by_id", json!({ "session_id": id })).await;
    assert_eq!(after_close["active"], false);
    assert_eq!(
        after_close["close_time"],
        closed["closeSession"]["closeTime"]
    );
    assert_eq!(after_close["close_time"], "2026-11-25T17:18:33.110Z");
    assert_eq!(after_close["data"], Value::Null);
    let store_again = command(
        &app,
        "store_session_data",
        json!({ "session_id": id, "data": 1 }),
    )
    .await;
    assert_error(store_again, 409, "Conflict", "SESSION_CLOSED");
}

#[tokio::test]
async fn a_session_opened_through_graphql_is_read_updated_and_closed_through_rest() {
    // Arrange
    let (app, clock) = spawn_with_clock(Config::for_tests()).await;
    let input = json!({ "userId": "mixed", "address": "10.1.1.1", "data": [1] });
    let opened = graphql_data(&app, &with_fields(OPEN), json!({ "input": input })).await;
    let id = opened["openSession"]["id"].as_str().expect("id").to_owned();

    // Act / assert: REST reads what GraphQL wrote.
    let read = ok(&app, "get_session_by_id", json!({ "session_id": id })).await;
    assert_full_session(&read);
    assert_eq!(read["user_id"], "mixed");
    assert_eq!(read["address"], "10.1.1.1");
    assert_eq!(read["data"], json!([1]));
    assert_eq!(read["user"], Value::Null);
    assert_eq!(read["open_time"], opened["openSession"]["openTime"]);
    let listed = ok(
        &app,
        "get_sessions",
        json!({ "filter": { "user_id": "mixed" } }),
    )
    .await;
    assert_eq!(page_ids(&listed), std::slice::from_ref(&id));

    // Act / assert: GraphQL sees what REST stored and updated.
    clock.advance(TimeDelta::seconds(1));
    ok(
        &app,
        "store_session_data",
        json!({ "session_id": id, "data": { "from": "rest" } }),
    )
    .await;
    ok(
        &app,
        "update_session_user",
        json!({ "session_id": id, "user": { "name": "Ann" } }),
    )
    .await;
    let after_update = graphql_data(&app, &with_fields(GET_SESSION), json!({ "id": id })).await;
    assert_eq!(after_update["session"]["data"], json!({ "from": "rest" }));
    assert_eq!(after_update["session"]["user"], json!({ "name": "Ann" }));
    assert_eq!(
        after_update["session"]["requestTime"],
        "2026-11-25T17:18:32.110Z"
    );

    // Act / assert: GraphQL sees the close REST made.
    clock.advance(TimeDelta::seconds(1));
    let closed = ok(&app, "close_session", json!({ "session_id": id })).await;
    let after_close = graphql_data(&app, &with_fields(GET_SESSION), json!({ "id": id })).await;
    assert_eq!(after_close["session"]["active"], false);
    assert_eq!(after_close["session"]["closeTime"], closed["close_time"]);
    assert_eq!(after_close["session"]["user"], Value::Null);
    assert_eq!(after_close["session"]["data"], Value::Null);
}

// ---------------------------------------------------------------------------------------------
// The original client test fixture
// ---------------------------------------------------------------------------------------------

/// Replays `SessionsClientFixtureV1` of the original clients (`testOpenSession`, then
/// `testCloseSession`), with the bodies `SessionsHttpClientV1` sends. The second flow uses
/// user `'2'` so that the first flow's session, still open, does not count.
#[tokio::test]
async fn the_original_client_fixture_flows_pass_step_by_step() {
    let app = spawn_app().await;

    // Open session ('1', 'User 1', 'localhost', 'test', null, 'abc').
    let session1 = open(
        &app,
        json!({
            "user_id": "1", "user_name": "User 1", "address": "localhost", "client": "test",
            "user": null, "data": "abc",
        }),
    )
    .await;
    assert!(session1["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(!session1["request_time"].is_null());
    assert_eq!(session1["user_id"], "1");
    assert_eq!(session1["user_name"], "User 1");
    assert_eq!(session1["address"], "localhost");
    assert_eq!(session1["client"], "test");
    assert_eq!(session1["data"], "abc");
    let id1 = id_of(&session1);

    // Store session data 'xyz'.
    let stored = ok(
        &app,
        "store_session_data",
        json!({ "session_id": id1, "data": "xyz" }),
    )
    .await;
    assert_eq!(stored["data"], "xyz");

    // Update session user 'xyz'.
    let updated = ok(
        &app,
        "update_session_user",
        json!({ "session_id": id1, "user": "xyz" }),
    )
    .await;
    assert_eq!(updated["user"], "xyz");

    // Get the session back.
    let session = ok(&app, "get_session_by_id", json!({ "session_id": id1 })).await;
    assert_eq!(session["address"], "localhost");
    assert_eq!(session["client"], "test");
    assert_eq!(session["data"], "xyz");
    assert_eq!(session["user"], "xyz");

    // List the user's open sessions: exactly this one.
    let page = ok(
        &app,
        "get_sessions",
        json!({ "filter": { "user_id": "1", "active": true }, "paging": null }),
    )
    .await;
    assert_eq!(page_ids(&page), std::slice::from_ref(&id1));

    // Open another session and close it.
    let session2 = open(
        &app,
        json!({
            "user_id": "2", "user_name": "User 2", "address": "localhost", "client": "test",
            "user": null, "data": "abc",
        }),
    )
    .await;
    let id2 = id_of(&session2);
    let closed = ok(&app, "close_session", json!({ "session_id": id2 })).await;
    assert_eq!(closed["active"], false);

    // List that user's open sessions: none; the first user's is still there.
    let page = ok(
        &app,
        "get_sessions",
        json!({ "filter": { "user_id": "2", "active": true }, "paging": null }),
    )
    .await;
    assert_eq!(page["data"], json!([]));
    let page = ok(
        &app,
        "get_sessions",
        json!({ "filter": { "user_id": "1", "active": true }, "paging": null }),
    )
    .await;
    assert_eq!(page_ids(&page), [id1]);
}
