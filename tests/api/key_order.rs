//! `user` and `data` come back over HTTP with their keys in the order the client wrote them,
//! through GraphQL (variables and inline literals) and the v1 REST protocol.
//!
//! Requests are sent as JSON text and answers checked as text: a parsed `Value` would not say
//! which order the keys came in.

use serde_json::Value;

use crate::helpers::{TestApp, spawn_app};

/// A document with keys in no sorted order, objects nested in objects and in arrays.
const USER: &str = r#"{"zeta":1,"alpha":{"y":[{"d":1,"c":{"q":2,"p":3}}],"b":null},"mid":"m","10":"ten","9":"nine"}"#;
/// Another one, for `data`.
const DATA: &str = r#"{"z":{},"cart":[{"sku":"x","qty":2}],"b":{"z":{"z":1,"a":2},"a":"last"}}"#;
/// [`DATA`] as a GraphQL input literal.
const DATA_LITERAL: &str =
    r#"{z: {}, cart: [{sku: "x", qty: 2}], b: {z: {z: 1, a: 2}, a: "last"}}"#;

/// POST `body` (JSON text) to `path`; the answer's text, which must come with a 200.
async fn post(app: &TestApp, path: &str, body: String) -> String {
    let response = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request sent");
    let status = response.status();
    let text = response.text().await.expect("body read");
    assert_eq!(status, 200, "{path}: {text}");
    text
}

/// Run a GraphQL operation whose variables are given as JSON text; the answer's text.
async fn graphql(app: &TestApp, query: &str, variables: &str) -> String {
    let query = serde_json::to_string(query).expect("serializes");
    let answer = post(
        app,
        "/graphql",
        format!(r#"{{"query":{query},"variables":{variables}}}"#),
    )
    .await;
    assert!(!answer.contains(r#""errors""#), "{answer}");
    answer
}

/// The string at `pointer` in a JSON answer.
fn string_at(answer: &str, pointer: &str) -> String {
    let value: Value = serde_json::from_str(answer).expect("a JSON answer");
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no {pointer} in {answer}"))
        .to_owned()
}

/// `answer` holds `"field":document`, written exactly as given.
#[track_caller]
fn assert_written(answer: &str, field: &str, document: &str, what: &str) {
    let expected = format!(r#""{field}":{document}"#);
    assert!(
        answer.contains(&expected),
        "{what}: expected {expected} in {answer}"
    );
}

#[tokio::test]
async fn graphql_returns_user_and_data_with_keys_in_the_order_written() {
    let app = spawn_app().await;
    let open = format!(
        "mutation($user: JSON) {{ openSession(input: {{userId: \"alice\", user: $user, \
         data: {DATA_LITERAL}}}) {{ id user data }} }}"
    );

    let opened = graphql(&app, &open, &format!(r#"{{"user":{USER}}}"#)).await;
    let id = string_at(&opened, "/data/openSession/id");
    let read = graphql(
        &app,
        "query($id: ID!) { session(id: $id) { user data } }",
        &format!(r#"{{"id":"{id}"}}"#),
    )
    .await;

    for (what, answer) in [("openSession", &opened), ("session", &read)] {
        assert_written(answer, "user", USER, what);
        assert_written(answer, "data", DATA, what);
    }
}

#[tokio::test]
async fn graphql_store_and_update_keep_the_key_order_of_variables_and_literals() {
    let app = spawn_app().await;
    let id = string_at(
        &graphql(
            &app,
            r#"mutation { openSession(input: {userId: "alice"}) { id } }"#,
            "{}",
        )
        .await,
        "/data/openSession/id",
    );
    let ids = format!(r#"{{"id":"{id}","data":{USER}}}"#);

    let stored = graphql(
        &app,
        "mutation($id: ID!, $data: JSON) { storeSessionData(sessionId: $id, data: $data) { data } }",
        &ids,
    )
    .await;
    let updated = graphql(
        &app,
        &format!(
            "mutation($id: ID!) {{ updateSessionUser(sessionId: $id, user: {DATA_LITERAL}) {{ user data }} }}"
        ),
        &ids,
    )
    .await;

    assert_written(&stored, "data", USER, "storeSessionData");
    assert_written(&updated, "user", DATA, "updateSessionUser");
    assert_written(&updated, "data", USER, "updateSessionUser");
}

#[tokio::test]
async fn rest_v1_returns_user_and_data_with_keys_in_the_order_written() {
    let app = spawn_app().await;

    let opened = post(
        &app,
        "/v1/sessions/open_session",
        format!(r#"{{"user_id":"alice","user":{USER},"data":{DATA}}}"#),
    )
    .await;
    let id = string_at(&opened, "/id");
    let read = post(
        &app,
        "/v1/sessions/get_session_by_id",
        format!(r#"{{"session_id":"{id}"}}"#),
    )
    .await;
    let stored = post(
        &app,
        "/v1/sessions/store_session_data",
        format!(r#"{{"session_id":"{id}","data":{USER}}}"#),
    )
    .await;
    let updated = post(
        &app,
        "/v1/sessions/update_session_user",
        format!(r#"{{"session_id":"{id}","user":{DATA}}}"#),
    )
    .await;

    for (what, answer) in [("open_session", &opened), ("get_session_by_id", &read)] {
        assert_written(answer, "user", USER, what);
        assert_written(answer, "data", DATA, what);
    }
    assert_written(&stored, "data", USER, "store_session_data");
    assert_written(&updated, "user", DATA, "update_session_user");
}

#[tokio::test]
async fn a_key_written_twice_keeps_its_first_place_and_its_last_value() {
    // As JavaScript's JSON.parse does, so clients of the original service see no change.
    let app = spawn_app().await;
    let twice = r#"{"b":1,"a":{"y":1,"x":2,"y":3},"b":4}"#;
    let twice_literal = "{b: 1, a: {y: 1, x: 2, y: 3}, b: 4}";
    let once = r#"{"b":4,"a":{"y":3,"x":2}}"#;

    let rest = post(
        &app,
        "/v1/sessions/open_session",
        format!(r#"{{"user_id":"alice","data":{twice}}}"#),
    )
    .await;
    let variables = graphql(
        &app,
        r#"mutation($data: JSON) { openSession(input: {userId: "alice", data: $data}) { data } }"#,
        &format!(r#"{{"data":{twice}}}"#),
    )
    .await;
    let literal = graphql(
        &app,
        &format!(
            "mutation {{ openSession(input: {{userId: \"alice\", data: {twice_literal}}}) {{ data }} }}"
        ),
        "{}",
    )
    .await;

    assert_written(&rest, "data", once, "REST");
    assert_written(&variables, "data", once, "GraphQL variables");
    assert_written(&literal, "data", once, "GraphQL literal");
}
