//! The example operations in `playground/`: all offered on the GraphiQL page, each explained,
//! and each answering without errors against a live server when run in order.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::{Value, json};
use sessions::http::playground::{EXAMPLES, VARIABLES_PREFIX, example_variables};

use crate::helpers::spawn_app;

/// The order a new user runs the examples in, after `open-session.graphql`.
const AFTER_OPEN: &[&str] = &[
    "get-session.graphql",
    "list-user-sessions.graphql",
    "store-session-data.graphql",
    "update-session-user.graphql",
    "close-session.graphql",
    "close-expired-sessions.graphql",
    "delete-session.graphql",
];

/// Examples that run over the WebSocket (see `the_session_events_example_shows_events_live`).
const SUBSCRIPTIONS: &[&str] = &["session-events.graphql"];

fn example(name: &str) -> &'static str {
    EXAMPLES
        .iter()
        .find(|(file, _)| *file == name)
        .map(|(_, source)| *source)
        .unwrap_or_else(|| panic!("{name} is not among the examples"))
}

/// The example's variables, with every session id (`sessionId`, `id`) set to `session_id`.
fn variables(name: &str, session_id: &Value) -> Value {
    let text = example_variables(example(name));
    let mut variables: Value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("{name}: variables are not JSON ({e}): {text}"));
    for key in ["sessionId", "id"] {
        if let Some(value) = variables.get_mut(key) {
            *value = session_id.clone();
        }
    }
    variables
}

#[test]
fn every_playground_file_is_an_example_and_every_example_is_a_file() {
    // Arrange
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("playground");

    // Act
    let files: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("playground/ is readable")
        .map(|entry| {
            entry
                .expect("directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".graphql"))
        .collect();
    let offered: BTreeSet<String> = EXAMPLES
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();

    // Assert
    assert_eq!(files, offered, "playground/*.graphql and EXAMPLES differ");
}

#[test]
fn every_example_explains_itself_and_declares_its_variables() {
    for (name, source) in EXAMPLES {
        // Act
        let first_line = source.lines().next().unwrap_or("");
        let declared = source
            .lines()
            .find(|line| line.trim().starts_with(VARIABLES_PREFIX));

        // Assert
        assert!(
            first_line.starts_with("# "),
            "{name} does not open with a comment saying what it shows"
        );
        let declared =
            declared.unwrap_or_else(|| panic!("{name} has no `{VARIABLES_PREFIX}` line"));
        let variables: Value = serde_json::from_str(example_variables(source))
            .unwrap_or_else(|e| panic!("{name}: {declared:?} is not JSON ({e})"));
        assert!(
            variables.is_object(),
            "{name}: variables are not a JSON object"
        );
    }
}

#[tokio::test]
async fn every_example_runs_without_errors_against_a_live_server() {
    // Arrange
    let app = spawn_app().await;
    let run: BTreeSet<&str> = AFTER_OPEN
        .iter()
        .copied()
        .chain(["open-session.graphql"])
        .chain(SUBSCRIPTIONS.iter().copied())
        .collect();
    let all: BTreeSet<&str> = EXAMPLES.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        run, all,
        "the run order must cover every example exactly once"
    );

    // Act
    let opened = app
        .graphql(
            example("open-session.graphql"),
            variables("open-session.graphql", &Value::Null),
        )
        .await;
    assert!(
        opened.get("errors").is_none(),
        "open-session.graphql answered with errors: {opened}"
    );
    let session_id = opened["data"]["openSession"]["id"].clone();
    assert!(
        session_id.is_string(),
        "open-session.graphql gave no id: {opened}"
    );
    let mut answers = Vec::new();
    for name in AFTER_OPEN {
        let body = app
            .graphql(example(name), variables(name, &session_id))
            .await;
        answers.push((*name, body));
    }

    // Assert
    for (name, body) in &answers {
        assert!(
            body.get("errors").is_none(),
            "{name} answered with errors: {body}"
        );
        assert!(
            body["data"].is_object(),
            "{name} answered without data: {body}"
        );
    }
    let answer = |name: &str| {
        &answers
            .iter()
            .find(|(n, _)| *n == name)
            .expect("answered")
            .1
    };
    assert_eq!(
        answer("get-session.graphql")["data"]["session"]["id"],
        session_id
    );
    let listed = &answer("list-user-sessions.graphql")["data"]["sessions"];
    assert_eq!(
        listed["data"][0]["id"], session_id,
        "the opened session is not listed: {listed}"
    );
    assert_eq!(
        answer("close-session.graphql")["data"]["closeSession"]["active"],
        json!(false)
    );
    assert_eq!(
        answer("delete-session.graphql")["data"]["deleteSession"]["id"],
        session_id
    );
}

#[tokio::test]
async fn the_session_events_example_shows_events_live() {
    let app = spawn_app().await;
    let mut ws = crate::ws::Ws::ready(app.addr).await;
    let source = example("session-events.graphql");
    let variables: Value = serde_json::from_str(example_variables(source)).expect("JSON");
    ws.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": source, "variables": variables } }))
        .await;
    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(ws.json().await["type"], "pong");

    let opened = app.open_session("watched").await;

    let event = ws.event("1").await;
    assert_eq!(event["kind"], "OPENED");
    assert_eq!(event["sessionId"], opened["id"]);
}
