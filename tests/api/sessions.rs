//! Every sessions operation, its rules and its error codes, through GraphQL over HTTP.
//!
//! Tests whose outcome depends on time run the server on a `ManualClock` they keep, and move
//! it by hand instead of sleeping.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, DurationRound, SecondsFormat, TimeDelta, Utc};
use futures::future::join_all;
use serde_json::{Value, json};
use sessions::clock::{Clock, ManualClock, SystemClock};
use sessions::config::Config;
use tokio::task::JoinHandle;

use crate::helpers::{
    SESSION_FIELDS, TestApp, assert_no_errors, error_code, spawn_app, spawn_app_with,
};

// ---------------------------------------------------------------------------------------------
// Operations, one function each. `*_body` and the mutations return the whole response body;
// `open_ok`, `get` and `list` also check that there are no errors and return the result.

/// The `openSession` mutation, taking `$input`.
fn open_document() -> String {
    format!(
        "mutation($input: OpenSessionInput!) {{ openSession(input: $input) {{ {SESSION_FIELDS} }} }}"
    )
}

/// The `session` query, taking `$id`.
fn get_document() -> String {
    format!("query($id: ID!) {{ session(id: $id) {{ {SESSION_FIELDS} }} }}")
}

/// The `storeSessionData` mutation, taking `$id` and `$data`.
fn store_data_document() -> String {
    format!(
        "mutation($id: ID!, $data: JSON) {{ storeSessionData(sessionId: $id, data: $data) {{ {SESSION_FIELDS} }} }}"
    )
}

/// `openSession(input)`.
async fn open(app: &TestApp, input: Value) -> Value {
    app.graphql(&open_document(), json!({ "input": input }))
        .await
}

/// `openSession(input)` that must succeed: the new session.
async fn open_ok(app: &TestApp, input: Value) -> Value {
    ok(&open(app, input).await, "openSession")
}

/// `session(id)`.
async fn get_body(app: &TestApp, id: &str) -> Value {
    app.graphql(&get_document(), json!({ "id": id })).await
}

/// `session(id)` that must succeed: the session, or null.
async fn get(app: &TestApp, id: &str) -> Value {
    ok(&get_body(app, id).await, "session")
}

/// `sessions(filter, paging)`; pass `Value::Null` to leave either out.
async fn list_body(app: &TestApp, filter: Value, paging: Value) -> Value {
    let query = format!(
        "query($filter: SessionFilter, $paging: Paging) {{ sessions(filter: $filter, paging: $paging) {{ total data {{ {SESSION_FIELDS} }} }} }}"
    );
    app.graphql(&query, json!({ "filter": filter, "paging": paging }))
        .await
}

/// `sessions(filter, paging)` that must succeed: the page.
async fn list(app: &TestApp, filter: Value, paging: Value) -> Value {
    ok(&list_body(app, filter, paging).await, "sessions")
}

/// `storeSessionData(sessionId, data)`.
async fn store_data(app: &TestApp, id: &str, data: Value) -> Value {
    app.graphql(&store_data_document(), json!({ "id": id, "data": data }))
        .await
}

/// `updateSessionUser(sessionId, user)`.
async fn update_user(app: &TestApp, id: &str, user: Value) -> Value {
    let query = format!(
        "mutation($id: ID!, $user: JSON) {{ updateSessionUser(sessionId: $id, user: $user) {{ {SESSION_FIELDS} }} }}"
    );
    app.graphql(&query, json!({ "id": id, "user": user })).await
}

/// `closeSession(sessionId)`.
async fn close(app: &TestApp, id: &str) -> Value {
    let query =
        format!("mutation($id: ID!) {{ closeSession(sessionId: $id) {{ {SESSION_FIELDS} }} }}");
    app.graphql(&query, json!({ "id": id })).await
}

/// `closeExpiredSessions`.
async fn close_expired(app: &TestApp) -> Value {
    app.graphql("mutation { closeExpiredSessions }", Value::Null)
        .await
}

/// `deleteSession(sessionId)`.
async fn delete(app: &TestApp, id: &str) -> Value {
    let query =
        format!("mutation($id: ID!) {{ deleteSession(sessionId: $id) {{ {SESSION_FIELDS} }} }}");
    app.graphql(&query, json!({ "id": id })).await
}

// ---------------------------------------------------------------------------------------------
// Reading answers.

/// `data.<field>` of a body that must have no errors.
fn ok(body: &Value, field: &str) -> Value {
    assert_no_errors(body);
    body["data"][field].clone()
}

/// The first error of `body`, after checking its code and that it carries a correlation id.
fn expect_error<'a>(body: &'a Value, code: &str) -> &'a Value {
    assert_eq!(error_code(body), Some(code), "unexpected answer: {body}");
    let error = &body["errors"][0];
    let correlation_id = error["extensions"]["correlationId"]
        .as_str()
        .unwrap_or_default();
    assert!(
        !correlation_id.is_empty(),
        "error without a correlationId: {body}"
    );
    error
}

/// Check that `body` is a `NOT_FOUND` error whose message names the session `id`.
fn expect_not_found(body: &Value, id: &str) {
    let error = expect_error(body, "NOT_FOUND");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.contains(id), "message does not name {id}: {body}");
}

/// Check that `body` is a `BAD_USER_INPUT` error naming `field` in its message and in
/// `extensions.field`.
fn expect_bad_input(body: &Value, field: &str) {
    let error = expect_error(body, "BAD_USER_INPUT");
    assert_eq!(error["extensions"]["field"], field, "wrong field: {body}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(field),
        "message does not name {field}: {body}"
    );
}

/// The id of a session.
fn id(session: &Value) -> String {
    session["id"]
        .as_str()
        .expect("session has an id")
        .to_owned()
}

/// The ids of a page's sessions, in page order.
fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .expect("page has data")
        .iter()
        .map(id)
        .collect()
}

/// A `DateTime` the server returned, parsed.
fn time(value: &Value) -> DateTime<Utc> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a DateTime: {value}"));
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text:?} is not RFC 3339: {e}"))
        .with_timezone(&Utc)
}

/// `time` cut to the millisecond, the precision the server keeps.
fn millis(time: DateTime<Utc>) -> DateTime<Utc> {
    time.duration_trunc(TimeDelta::milliseconds(1))
        .expect("time in range")
}

/// A random, well-formed session id that no server has issued.
fn unknown_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A JSON string that is exactly `bytes` long when serialized.
fn json_of_size(bytes: usize) -> Value {
    let value = Value::String("x".repeat(bytes - 2));
    assert_eq!(serde_json::to_vec(&value).expect("serializes").len(), bytes);
    value
}

/// Start a server that accepts `user` and `data` of at most `bytes` when serialized.
async fn spawn_app_with_payload_limit(bytes: usize) -> TestApp {
    let mut config = Config::for_tests();
    config.max_payload = bytes;
    spawn_app_with(config, Arc::new(SystemClock)).await
}

/// Start a server on a `ManualClock` standing at the current (whole) millisecond.
async fn spawn_app_on_manual_clock(config: Config) -> (TestApp, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(millis(Utc::now())));
    let app = spawn_app_with(config, clock.clone()).await;
    (app, clock)
}

/// Send `query` from a spawned task through a clone of the app's client (clones share its
/// connection pool), so that many requests run at once; the task returns the body.
fn spawn_graphql(app: &TestApp, query: &str, variables: Value) -> JoinHandle<Value> {
    let (client, url) = (app.client.clone(), app.url("/graphql"));
    let request = json!({ "query": query, "variables": variables });
    tokio::spawn(async move {
        let response = client
            .post(url)
            .json(&request)
            .send()
            .await
            .expect("request sent");
        assert_eq!(response.status(), 200);
        response.json().await.expect("JSON body")
    })
}

/// Wait for every spawned request and return their bodies in spawn order.
async fn join_bodies(handles: Vec<JoinHandle<Value>>) -> Vec<Value> {
    join_all(handles)
        .await
        .into_iter()
        .map(|joined| joined.expect("request task did not panic"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// openSession

#[tokio::test]
async fn opening_a_session_returns_every_field_as_given_with_fresh_id_and_times() {
    // Arrange
    let app = spawn_app().await;
    let user = json!({ "name": "Ada", "roles": ["admin", "dev"], "age": 36, "verified": true,
        "manager": null, "address": { "city": "London", "zip": [1, 2.5, -3] } });
    let data = json!({ "cart": [{ "sku": "a-1", "qty": 2 }, { "sku": "b-2", "qty": 1 }],
        "theme": "dark", "score": 1.25, "beta": false, "note": null, "nested": { "deep": [[], {}] } });
    let input = json!({ "userId": "ada", "userName": "Ada Lovelace", "address": "10.0.0.7",
        "client": "Firefox 120 on Linux", "user": user, "data": data });
    let before = millis(Utc::now());

    // Act
    let session = open_ok(&app, input).await;
    let after = Utc::now();

    // Assert
    assert_eq!(session["userId"], "ada");
    assert_eq!(session["userName"], "Ada Lovelace");
    assert_eq!(session["address"], "10.0.0.7");
    assert_eq!(session["client"], "Firefox 120 on Linux");
    assert_eq!(session["user"], user);
    assert_eq!(session["data"], data);
    assert_eq!(session["active"], true);
    assert!(session["closeTime"].is_null());
    let id = id(&session);
    assert_eq!(id.len(), 32, "id {id:?}");
    assert!(
        id.chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "id {id:?}"
    );
    assert_eq!(session["openTime"], session["requestTime"]);
    let open_time = time(&session["openTime"]);
    assert!(
        before <= open_time && open_time <= after,
        "{open_time} not in [{before}, {after}]"
    );
}

#[tokio::test]
async fn times_are_printed_in_utc_with_exactly_three_fraction_digits() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let session = app.open_session("ada").await;

    // Assert
    for field in ["openTime", "requestTime"] {
        let text = session[field].as_str().expect("a string");
        // e.g. 2026-11-25T17:04:05.123Z: 24 characters, a dot before 3 digits, then Z.
        assert_eq!(text.len(), 24, "{field} = {text:?}");
        assert_eq!(&text[19..20], ".", "{field} = {text:?}");
        assert!(
            text[20..23].chars().all(|c| c.is_ascii_digit()),
            "{field} = {text:?}"
        );
        assert!(text.ends_with('Z'), "{field} = {text:?}");
        assert_eq!(
            time(&session[field]).to_rfc3339_opts(SecondsFormat::Millis, true),
            text
        );
    }
}

#[tokio::test]
async fn opening_a_session_without_optional_fields_leaves_them_null() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let session = open_ok(&app, json!({ "userId": "bob" })).await;

    // Assert
    for field in ["userName", "address", "client", "user", "data", "closeTime"] {
        assert!(
            session[field].is_null(),
            "{field} should be null: {session}"
        );
    }
    assert_eq!(session["userId"], "bob");
    assert_eq!(session["active"], true);
}

#[tokio::test]
async fn opening_a_session_with_a_blank_user_id_returns_bad_user_input() {
    // Arrange
    let app = spawn_app().await;

    for blank in ["", "   ", "\t\n"] {
        // Act
        let body = open(&app, json!({ "userId": blank })).await;

        // Assert
        expect_bad_input(&body, "userId");
    }
    let everything = list(&app, Value::Null, json!({ "total": true })).await;
    assert_eq!(
        everything["total"], 0,
        "a rejected open must not store a session"
    );
}

#[tokio::test]
async fn a_user_id_of_257_characters_is_rejected_and_one_of_256_is_accepted() {
    // Arrange
    let app = spawn_app().await;
    // Multi-byte characters: the limit counts characters, not bytes.
    let longest = "é".repeat(256);
    let too_long = "u".repeat(257);

    // Act
    let rejected = open(&app, json!({ "userId": too_long })).await;
    let accepted = open(&app, json!({ "userId": longest })).await;

    // Assert
    expect_bad_input(&rejected, "userId");
    assert_eq!(ok(&accepted, "openSession")["userId"], longest);
}

#[tokio::test]
async fn text_fields_longer_than_1024_characters_are_rejected_naming_the_field() {
    // Arrange
    let app = spawn_app().await;

    for field in ["userName", "address", "client"] {
        // Act
        let rejected = open(&app, json!({ "userId": "ada", field: "n".repeat(1025) })).await;
        let accepted = open(&app, json!({ "userId": "ada", field: "ñ".repeat(1024) })).await;

        // Assert
        expect_bad_input(&rejected, field);
        assert_eq!(ok(&accepted, "openSession")[field], "ñ".repeat(1024));
    }
}

#[tokio::test]
async fn user_or_data_over_the_payload_limit_is_rejected_at_open_naming_the_field() {
    // Arrange
    let app = spawn_app_with_payload_limit(1024).await;

    for field in ["user", "data"] {
        // Act
        let rejected = open(&app, json!({ "userId": "ada", field: json_of_size(1025) })).await;
        let accepted = open(&app, json!({ "userId": "ada", field: json_of_size(1024) })).await;

        // Assert
        expect_bad_input(&rejected, field);
        assert_eq!(ok(&accepted, "openSession")[field], json_of_size(1024));
    }
    let page = list(&app, json!({ "userId": "ada" }), json!({ "total": true })).await;
    assert_eq!(page["total"], 2, "only the two accepted opens are stored");
}

// ---------------------------------------------------------------------------------------------
// session(id)

#[tokio::test]
async fn reading_a_session_by_id_returns_it_as_opened() {
    // Arrange
    let app = spawn_app().await;
    let input = json!({ "userId": "ada", "userName": "Ada", "user": { "a": [1, { "b": null }] },
        "data": ["x", 2, true] });
    let opened = open_ok(&app, input).await;
    app.open_session("someone-else").await;

    // Act
    let found = get(&app, &id(&opened)).await;

    // Assert
    assert_eq!(found, opened);
}

#[tokio::test]
async fn reading_an_unknown_session_returns_null_without_errors() {
    // Arrange
    let app = spawn_app().await;
    app.open_session("ada").await;

    // Act
    let body = get_body(&app, &unknown_id()).await;

    // Assert
    assert_no_errors(&body);
    assert!(body["data"]["session"].is_null(), "{body}");
}

#[tokio::test]
async fn reading_a_session_with_a_malformed_id_returns_bad_user_input_naming_id() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let body = get_body(&app, "not-a-session-id").await;

    // Assert
    assert!(body["data"]["session"].is_null(), "{body}");
    expect_bad_input(&body, "id");
}

#[tokio::test]
async fn mutations_with_a_malformed_session_id_return_bad_user_input_naming_session_id() {
    // Arrange
    let app = spawn_app().await;
    let malformed = "12345";

    // Act
    let bodies = [
        store_data(&app, malformed, json!(1)).await,
        update_user(&app, malformed, json!(1)).await,
        close(&app, malformed).await,
        delete(&app, malformed).await,
    ];

    // Assert
    for body in &bodies {
        expect_bad_input(body, "sessionId");
    }
}

// ---------------------------------------------------------------------------------------------
// sessions(filter, paging)

#[tokio::test]
async fn listing_by_user_and_activity_returns_only_the_matching_sessions() {
    // Arrange
    let app = spawn_app().await;
    let open_one = id(&app.open_session("ada").await);
    let closed_one = id(&app.open_session("ada").await);
    ok(&close(&app, &closed_one).await, "closeSession");
    let other_user = id(&app.open_session("bob").await);
    let as_set = |page: &Value| ids(page).into_iter().collect::<HashSet<_>>();

    // Act
    let active = list(
        &app,
        json!({ "userId": "ada", "active": true }),
        Value::Null,
    )
    .await;
    let inactive = list(
        &app,
        json!({ "userId": "ada", "active": false }),
        Value::Null,
    )
    .await;
    let all_of_ada = list(&app, json!({ "userId": "ada" }), Value::Null).await;
    let all_active = list(&app, json!({ "active": true }), Value::Null).await;
    let nobody = list(&app, json!({ "userId": "carol" }), Value::Null).await;

    // Assert
    assert_eq!(ids(&active), std::slice::from_ref(&open_one));
    assert_eq!(ids(&inactive), std::slice::from_ref(&closed_one));
    assert_eq!(
        as_set(&all_of_ada),
        HashSet::from([open_one.clone(), closed_one])
    );
    assert_eq!(as_set(&all_active), HashSet::from([open_one, other_user]));
    assert!(ids(&nobody).is_empty());
}

#[tokio::test]
async fn listing_by_id_returns_only_that_session_when_the_other_conditions_hold() {
    // Arrange
    let app = spawn_app().await;
    let wanted = id(&app.open_session("ada").await);
    app.open_session("ada").await;
    let paging = json!({ "total": true });

    // Act
    let by_id = list(&app, json!({ "id": wanted }), paging.clone()).await;
    let and_user = list(
        &app,
        json!({ "id": wanted, "userId": "ada" }),
        paging.clone(),
    )
    .await;
    let other_user = list(
        &app,
        json!({ "id": wanted, "userId": "bob" }),
        paging.clone(),
    )
    .await;
    let closed_only = list(
        &app,
        json!({ "id": wanted, "active": false }),
        paging.clone(),
    )
    .await;
    let unknown = list(&app, json!({ "id": unknown_id() }), paging).await;

    // Assert
    assert_eq!(
        (ids(&by_id), &by_id["total"]),
        (vec![wanted.clone()], &json!(1))
    );
    assert_eq!(ids(&and_user), [wanted]);
    for empty in [&other_user, &closed_only, &unknown] {
        assert!(ids(empty).is_empty(), "{empty}");
        assert_eq!(empty["total"], 0);
    }
}

#[tokio::test]
async fn listing_with_a_malformed_id_filter_returns_bad_user_input_naming_filter_id() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let body = list_body(&app, json!({ "id": "zz-not-hex" }), Value::Null).await;

    // Assert
    expect_bad_input(&body, "filter.id");
}

#[tokio::test]
async fn from_time_is_inclusive_and_to_time_is_exclusive() {
    // Arrange: three sessions one second apart, on the server's own clock.
    let (app, clock) = spawn_app_on_manual_clock(Config::for_tests()).await;
    let first = app.open_session("ada").await;
    clock.advance(TimeDelta::seconds(1));
    let second = app.open_session("ada").await;
    clock.advance(TimeDelta::seconds(1));
    let third = app.open_session("ada").await;
    let [t1, t2, t3] = [&first, &second, &third].map(|s| s["requestTime"].clone());
    let [s1, s2, s3] = [&first, &second, &third].map(id);
    let cases = [
        (json!({ "fromTime": t2 }), vec![s3.clone(), s2.clone()]),
        (json!({ "toTime": t2 }), vec![s1.clone()]),
        (
            json!({ "fromTime": t1, "toTime": t3 }),
            vec![s2.clone(), s1.clone()],
        ),
        (json!({ "fromTime": t2, "toTime": t2 }), vec![]),
        (json!({ "fromTime": t3, "toTime": t1 }), vec![]),
    ];

    for (mut filter, expected) in cases {
        for user in [None, Some("ada")] {
            // Both the global and the per-user listing must honour the bounds.
            if let Some(user) = user {
                filter["userId"] = json!(user);
            }

            // Act
            let page = list(&app, filter.clone(), Value::Null).await;

            // Assert
            assert_eq!(ids(&page), expected, "filter {filter}");
        }
    }
}

#[tokio::test]
async fn listing_orders_by_request_time_descending_then_by_id_ascending() {
    // Arrange: three sessions opened in the same millisecond, then two later ones.
    let (app, clock) = spawn_app_on_manual_clock(Config::for_tests()).await;
    let mut tied = Vec::new();
    for _ in 0..3 {
        tied.push(id(&app.open_session("ada").await));
    }
    clock.advance(TimeDelta::milliseconds(1));
    let newer = id(&app.open_session("ada").await);
    clock.advance(TimeDelta::milliseconds(1));
    let newest = id(&app.open_session("ada").await);
    tied.sort();
    let expected: Vec<String> = [newest, newer].into_iter().chain(tied).collect();

    for filter in [Value::Null, json!({ "userId": "ada" })] {
        // Act
        let page = list(&app, filter, Value::Null).await;

        // Assert
        assert_eq!(ids(&page), expected);
    }
}

#[tokio::test]
async fn skip_and_take_select_a_window_of_the_ordered_matches() {
    // Arrange: five sessions with distinct times.
    let (app, clock) = spawn_app_on_manual_clock(Config::for_tests()).await;
    let mut newest_first = Vec::new();
    for _ in 0..5 {
        newest_first.insert(0, id(&app.open_session("ada").await));
        clock.advance(TimeDelta::milliseconds(10));
    }
    let all = ids(&list(&app, Value::Null, Value::Null).await);
    assert_eq!(all, newest_first);
    let cases = [
        (json!({ "skip": 1, "take": 2 }), &all[1..3]),
        (json!({ "skip": 3 }), &all[3..]),
        (json!({ "take": 2 }), &all[..2]),
        (json!({ "skip": 4, "take": 10 }), &all[4..]),
        (json!({ "skip": 5 }), &all[..0]),
        (json!({ "take": 0 }), &all[..0]),
    ];

    for (paging, expected) in cases {
        // Act
        let page = list(&app, Value::Null, paging.clone()).await;

        // Assert
        assert_eq!(ids(&page), expected, "paging {paging}");
    }
}

#[tokio::test]
async fn total_is_null_unless_asked_for_and_then_counts_every_match() {
    // Arrange
    let app = spawn_app().await;
    for _ in 0..3 {
        app.open_session("ada").await;
    }
    app.open_session("bob").await;
    let ada = json!({ "userId": "ada" });

    // Act
    let no_paging = list(&app, ada.clone(), Value::Null).await;
    let not_asked = list(&app, ada.clone(), json!({ "take": 1 })).await;
    let one_of_three = list(&app, ada.clone(), json!({ "take": 1, "total": true })).await;
    let skipped_all = list(&app, ada, json!({ "skip": 10, "total": true })).await;

    // Assert
    assert!(no_paging["total"].is_null(), "{no_paging}");
    assert!(not_asked["total"].is_null(), "{not_asked}");
    assert_eq!(
        (one_of_three["total"].clone(), ids(&one_of_three).len()),
        (json!(3), 1)
    );
    assert_eq!(
        (skipped_all["total"].clone(), ids(&skipped_all).len()),
        (json!(3), 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_default_to_100_sessions_and_take_above_1000_is_clamped_to_1000() {
    // Arrange: 1005 sessions of one user, opened 100 at a time.
    let app = spawn_app().await;
    let mut opened = HashSet::new();
    for batch in 0..11 {
        let count = if batch < 10 { 100 } else { 5 };
        let handles = (0..count)
            .map(|_| {
                spawn_graphql(
                    &app,
                    &open_document(),
                    json!({ "input": { "userId": "ada" } }),
                )
            })
            .collect();
        for body in join_bodies(handles).await {
            opened.insert(id(&ok(&body, "openSession")));
        }
    }
    assert_eq!(opened.len(), 1005);
    let ada = json!({ "userId": "ada" });

    // Act
    let default_page = list(&app, ada.clone(), Value::Null).await;
    let clamped = list(&app, ada.clone(), json!({ "take": 5000, "total": true })).await;
    let rest = list(&app, ada, json!({ "skip": 1000, "take": 1001 })).await;

    // Assert
    assert_eq!(ids(&default_page).len(), 100);
    assert_eq!(ids(&default_page)[..], ids(&clamped)[..100]);
    assert_eq!(ids(&clamped).len(), 1000);
    assert_eq!(clamped["total"], 1005);
    assert_eq!(ids(&rest).len(), 5);
    let listed: HashSet<String> = ids(&clamped).into_iter().chain(ids(&rest)).collect();
    assert_eq!(
        listed, opened,
        "the two pages together hold every session once"
    );
}

#[tokio::test]
async fn a_negative_skip_returns_bad_user_input_naming_paging_skip() {
    // Arrange
    let app = spawn_app().await;
    app.open_session("ada").await;

    // Act
    let body = list_body(&app, Value::Null, json!({ "skip": -1 })).await;

    // Assert
    expect_bad_input(&body, "paging.skip");
}

#[tokio::test]
async fn a_negative_take_returns_bad_user_input_naming_paging_take() {
    // Arrange
    let app = spawn_app().await;
    app.open_session("ada").await;

    // Act
    let body = list_body(&app, Value::Null, json!({ "take": -5 })).await;

    // Assert
    expect_bad_input(&body, "paging.take");
}

// ---------------------------------------------------------------------------------------------
// storeSessionData

#[tokio::test]
async fn storing_data_replaces_it_marks_activity_and_moves_the_session_first() {
    // Arrange: `older` is opened first, so it lists after `newer`.
    let (app, clock) = spawn_app_on_manual_clock(Config::for_tests()).await;
    let older = open_ok(
        &app,
        json!({ "userId": "ada", "userName": "Ada", "data": { "v": 1 } }),
    )
    .await;
    clock.advance(TimeDelta::seconds(1));
    let newer = app.open_session("ada").await;
    clock.advance(TimeDelta::seconds(1));
    let data = json!({ "v": 2, "items": ["a", { "b": [true, null] }] });

    // Act
    let stored = ok(
        &store_data(&app, &id(&older), data.clone()).await,
        "storeSessionData",
    );

    // Assert
    assert_eq!(stored["data"], data);
    assert_eq!(time(&stored["requestTime"]), clock.now());
    assert!(time(&stored["requestTime"]) > time(&newer["requestTime"]));
    assert_eq!(stored["openTime"], older["openTime"]);
    assert_eq!(
        (&stored["userName"], &stored["active"]),
        (&json!("Ada"), &json!(true))
    );
    assert_eq!(get(&app, &id(&older)).await, stored);
    let listing = list(&app, json!({ "userId": "ada" }), Value::Null).await;
    assert_eq!(ids(&listing), [id(&older), id(&newer)]);
}

#[tokio::test]
async fn storing_data_on_the_real_clock_keeps_or_advances_request_time() {
    // Arrange
    let app = spawn_app().await;
    let session = app.open_session("ada").await;

    // Act
    let stored = ok(
        &store_data(&app, &id(&session), json!("hello")).await,
        "storeSessionData",
    );

    // Assert
    assert!(
        time(&stored["requestTime"]) >= time(&session["requestTime"]),
        "{stored}"
    );
    assert_eq!(stored["data"], "hello");
}

#[tokio::test]
async fn storing_null_data_clears_it() {
    // Arrange
    let app = spawn_app().await;
    let session = open_ok(&app, json!({ "userId": "ada", "data": { "cart": [1] } })).await;

    // Act
    let stored = ok(
        &store_data(&app, &id(&session), Value::Null).await,
        "storeSessionData",
    );

    // Assert
    assert!(stored["data"].is_null(), "{stored}");
    assert!(get(&app, &id(&session)).await["data"].is_null());
}

#[tokio::test]
async fn storing_data_in_an_unknown_session_returns_not_found() {
    // Arrange
    let app = spawn_app().await;
    let unknown = unknown_id();

    // Act
    let body = store_data(&app, &unknown, json!({ "v": 1 })).await;

    // Assert
    expect_not_found(&body, &unknown);
    assert!(get(&app, &unknown).await.is_null(), "no session is created");
}

#[tokio::test]
async fn storing_data_in_a_closed_session_returns_session_closed() {
    // Arrange
    let app = spawn_app().await;
    let session = app.open_session("ada").await;
    let closed = ok(&close(&app, &id(&session)).await, "closeSession");

    // Act
    let body = store_data(&app, &id(&session), json!({ "v": 1 })).await;

    // Assert
    expect_error(&body, "SESSION_CLOSED");
    assert_eq!(
        get(&app, &id(&session)).await,
        closed,
        "the closed session is unchanged"
    );
}

#[tokio::test]
async fn storing_data_over_the_payload_limit_returns_bad_user_input_and_keeps_the_old_data() {
    // Arrange
    let app = spawn_app_with_payload_limit(1024).await;
    let session = open_ok(&app, json!({ "userId": "ada", "data": "old" })).await;

    // Act
    let rejected = store_data(&app, &id(&session), json!({ "blob": "x".repeat(2000) })).await;
    let at_limit = store_data(&app, &id(&session), json_of_size(1024)).await;

    // Assert
    expect_bad_input(&rejected, "data");
    assert_eq!(
        ok(&at_limit, "storeSessionData")["data"],
        json_of_size(1024)
    );
}

// ---------------------------------------------------------------------------------------------
// updateSessionUser

#[tokio::test]
async fn updating_the_user_replaces_it_marks_activity_and_moves_the_session_first() {
    // Arrange
    let (app, clock) = spawn_app_on_manual_clock(Config::for_tests()).await;
    let older = open_ok(
        &app,
        json!({ "userId": "ada", "user": { "v": 1 }, "data": [1] }),
    )
    .await;
    clock.advance(TimeDelta::seconds(1));
    let newer = app.open_session("ada").await;
    clock.advance(TimeDelta::seconds(1));
    let user = json!({ "name": "Ada", "roles": ["admin"], "age": 36.5, "mfa": false });

    // Act
    let updated = ok(
        &update_user(&app, &id(&older), user.clone()).await,
        "updateSessionUser",
    );

    // Assert
    assert_eq!(updated["user"], user);
    assert_eq!(updated["data"], json!([1]), "data is left alone");
    assert_eq!(time(&updated["requestTime"]), clock.now());
    assert_eq!(updated["openTime"], older["openTime"]);
    assert_eq!(get(&app, &id(&older)).await, updated);
    let listing = list(&app, json!({ "userId": "ada" }), Value::Null).await;
    assert_eq!(ids(&listing), [id(&older), id(&newer)]);
}

#[tokio::test]
async fn updating_the_user_with_null_clears_it() {
    // Arrange
    let app = spawn_app().await;
    let session = open_ok(&app, json!({ "userId": "ada", "user": { "name": "Ada" } })).await;

    // Act
    let updated = ok(
        &update_user(&app, &id(&session), Value::Null).await,
        "updateSessionUser",
    );

    // Assert
    assert!(updated["user"].is_null(), "{updated}");
    assert!(get(&app, &id(&session)).await["user"].is_null());
}

#[tokio::test]
async fn updating_the_user_of_an_unknown_session_returns_not_found() {
    // Arrange
    let app = spawn_app().await;
    let unknown = unknown_id();

    // Act
    let body = update_user(&app, &unknown, json!({ "name": "Ada" })).await;

    // Assert
    expect_not_found(&body, &unknown);
}

#[tokio::test]
async fn updating_the_user_of_a_closed_session_returns_session_closed() {
    // Arrange
    let app = spawn_app().await;
    let session = app.open_session("ada").await;
    let closed = ok(&close(&app, &id(&session)).await, "closeSession");

    // Act
    let body = update_user(&app, &id(&session), json!({ "name": "Ada" })).await;

    // Assert
    expect_error(&body, "SESSION_CLOSED");
    assert_eq!(get(&app, &id(&session)).await, closed);
}

#[tokio::test]
async fn updating_the_user_over_the_payload_limit_returns_bad_user_input() {
    // Arrange
    let app = spawn_app_with_payload_limit(1024).await;
    let session = open_ok(&app, json!({ "userId": "ada", "user": "old" })).await;

    // Act
    let body = update_user(&app, &id(&session), json!(["y".repeat(1100)])).await;

    // Assert
    expect_bad_input(&body, "user");
    assert_eq!(get(&app, &id(&session)).await["user"], "old");
}

// ---------------------------------------------------------------------------------------------
// closeSession

#[tokio::test]
async fn closing_a_session_deactivates_it_and_drops_user_and_data() {
    // Arrange
    let (app, clock) = spawn_app_on_manual_clock(Config::for_tests()).await;
    let input = json!({ "userId": "ada", "userName": "Ada", "client": "curl", "user": { "n": 1 }, "data": [1] });
    let session = open_ok(&app, input).await;
    clock.advance(TimeDelta::minutes(5));

    // Act
    let closed = ok(&close(&app, &id(&session)).await, "closeSession");

    // Assert
    assert_eq!(closed["active"], false);
    assert_eq!(time(&closed["closeTime"]), clock.now());
    assert_eq!(closed["closeTime"], closed["requestTime"]);
    assert!(
        closed["user"].is_null() && closed["data"].is_null(),
        "{closed}"
    );
    for kept in ["id", "userId", "userName", "client", "openTime"] {
        assert_eq!(closed[kept], session[kept], "{kept} must not change");
    }
    assert_eq!(get(&app, &id(&session)).await, closed);
}

#[tokio::test]
async fn closing_a_closed_session_returns_it_unchanged() {
    // Arrange
    let (app, clock) = spawn_app_on_manual_clock(Config::for_tests()).await;
    let session = app.open_session("ada").await;
    clock.advance(TimeDelta::seconds(1));
    let first = ok(&close(&app, &id(&session)).await, "closeSession");
    clock.advance(TimeDelta::minutes(1));

    // Act
    let second = ok(&close(&app, &id(&session)).await, "closeSession");

    // Assert
    assert_eq!(second, first);
    assert_eq!(get(&app, &id(&session)).await, first);
}

#[tokio::test]
async fn closing_an_unknown_session_returns_not_found() {
    // Arrange
    let app = spawn_app().await;
    let unknown = unknown_id();

    // Act
    let body = close(&app, &unknown).await;

    // Assert
    expect_not_found(&body, &unknown);
}

// ---------------------------------------------------------------------------------------------
// closeExpiredSessions

#[tokio::test]
async fn closing_expired_sessions_closes_the_idle_ones_and_returns_how_many() {
    // Arrange: expiry after 1 h; `busy` stays active half way through.
    let mut config = Config::for_tests();
    config.expire_timeout = Duration::from_secs(60 * 60);
    let (app, clock) = spawn_app_on_manual_clock(config).await;
    let idle = [
        id(&app.open_session("ada").await),
        id(&app.open_session("bob").await),
    ];
    let busy = id(&app.open_session("carol").await);
    let already_closed = ok(
        &close(&app, &id(&app.open_session("dan").await)).await,
        "closeSession",
    );
    clock.advance(TimeDelta::minutes(30));
    ok(
        &store_data(&app, &busy, json!("still here")).await,
        "storeSessionData",
    );
    clock.advance(TimeDelta::minutes(31));

    // Act
    let closed = ok(&close_expired(&app).await, "closeExpiredSessions");

    // Assert
    assert_eq!(closed, 2);
    for idle in &idle {
        let session = get(&app, idle).await;
        assert_eq!(session["active"], false, "{session}");
        assert_eq!(time(&session["closeTime"]), clock.now());
        assert_eq!(session["requestTime"], session["closeTime"]);
    }
    let busy = get(&app, &busy).await;
    assert_eq!(
        (&busy["active"], &busy["data"]),
        (&json!(true), &json!("still here"))
    );
    assert_eq!(get(&app, &id(&already_closed)).await, already_closed);
    assert_eq!(
        ok(&close_expired(&app).await, "closeExpiredSessions"),
        0,
        "nothing is left to expire"
    );
}

#[tokio::test]
async fn a_session_idle_for_exactly_the_expire_timeout_is_not_yet_expired() {
    // Arrange
    let mut config = Config::for_tests();
    config.expire_timeout = Duration::from_secs(10 * 60);
    let (app, clock) = spawn_app_on_manual_clock(config).await;
    let session = id(&app.open_session("ada").await);
    clock.advance(TimeDelta::minutes(10));

    // Act
    let at_timeout = ok(&close_expired(&app).await, "closeExpiredSessions");
    clock.advance(TimeDelta::milliseconds(1));
    let past_timeout = ok(&close_expired(&app).await, "closeExpiredSessions");

    // Assert
    assert_eq!((at_timeout, past_timeout), (json!(0), json!(1)));
    assert_eq!(get(&app, &session).await["active"], false);
}

// ---------------------------------------------------------------------------------------------
// deleteSession

#[tokio::test]
async fn deleting_a_session_returns_it_and_removes_it() {
    // Arrange
    let app = spawn_app().await;
    let session = open_ok(&app, json!({ "userId": "ada", "data": { "k": "v" } })).await;
    let kept = id(&app.open_session("ada").await);

    // Act
    let deleted = ok(&delete(&app, &id(&session)).await, "deleteSession");

    // Assert
    assert_eq!(deleted, session);
    assert!(get(&app, &id(&session)).await.is_null());
    let listing = list(&app, json!({ "userId": "ada" }), json!({ "total": true })).await;
    assert_eq!((ids(&listing), &listing["total"]), (vec![kept], &json!(1)));
    assert!(
        ok(&delete(&app, &id(&session)).await, "deleteSession").is_null(),
        "a second delete finds nothing"
    );
}

#[tokio::test]
async fn deleting_an_unknown_session_returns_null_without_errors() {
    // Arrange
    let app = spawn_app().await;
    let existing = id(&app.open_session("ada").await);

    // Act
    let body = delete(&app, &unknown_id()).await;

    // Assert
    assert_no_errors(&body);
    assert!(body["data"]["deleteSession"].is_null(), "{body}");
    assert!(!get(&app, &existing).await.is_null(), "other sessions stay");
}

// ---------------------------------------------------------------------------------------------
// Correlation ids on errors

/// POST a GraphQL request with the app's client; returns the `x-correlation-id` response
/// header and the body.
async fn post_with_header(
    app: &TestApp,
    query: &str,
    variables: Value,
    sent_id: Option<&str>,
) -> (String, Value) {
    let mut request = app.client.post(app.url("/graphql"));
    if let Some(sent_id) = sent_id {
        request = request.header("x-correlation-id", sent_id);
    }
    let response = request
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("request sent");
    let header = response
        .headers()
        .get("x-correlation-id")
        .expect("x-correlation-id header")
        .to_str()
        .expect("printable header")
        .to_owned();
    (header, response.json().await.expect("JSON body"))
}

#[tokio::test]
async fn every_session_error_carries_the_correlation_id_of_its_response() {
    // Arrange: one request for each error code.
    let app = spawn_app().await;
    let closed = id(&app.open_session("ada").await);
    ok(&close(&app, &closed).await, "closeSession");
    let requests = [
        (
            open_document(),
            json!({ "input": { "userId": " " } }),
            "BAD_USER_INPUT",
        ),
        (
            store_data_document(),
            json!({ "id": unknown_id(), "data": 1 }),
            "NOT_FOUND",
        ),
        (
            store_data_document(),
            json!({ "id": closed, "data": 1 }),
            "SESSION_CLOSED",
        ),
    ];

    for (query, variables, code) in requests {
        // Act
        let (generated, body) = post_with_header(&app, &query, variables.clone(), None).await;
        let sent = format!("test-{}", unknown_id());
        let (echoed, echoed_body) = post_with_header(&app, &query, variables, Some(&sent)).await;

        // Assert
        let error = expect_error(&body, code);
        assert_eq!(
            error["extensions"]["correlationId"],
            generated.as_str(),
            "{body}"
        );
        assert_eq!(echoed, sent);
        assert_eq!(
            expect_error(&echoed_body, code)["extensions"]["correlationId"],
            sent.as_str()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Concurrency

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_opens_give_five_hundred_distinct_readable_sessions() {
    // Arrange
    let app = spawn_app().await;
    let handles = (0..500)
        .map(|n| {
            spawn_graphql(
                &app,
                &open_document(),
                json!({ "input": { "userId": format!("user-{n}") } }),
            )
        })
        .collect();

    // Act
    let opened: Vec<Value> = join_bodies(handles)
        .await
        .iter()
        .map(|body| ok(body, "openSession"))
        .collect();

    // Assert
    let distinct: HashSet<String> = opened.iter().map(id).collect();
    assert_eq!(distinct.len(), 500);
    let reads = opened
        .iter()
        .map(|s| spawn_graphql(&app, &get_document(), json!({ "id": id(s) })))
        .collect();
    for (read, session) in join_bodies(reads).await.iter().zip(&opened) {
        assert_eq!(&ok(read, "session"), session);
    }
    let everything = list(&app, Value::Null, json!({ "take": 0, "total": true })).await;
    assert_eq!(everything["total"], 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_data_stores_on_one_session_leave_it_consistent() {
    // Arrange
    let app = spawn_app().await;
    let session = id(&app.open_session("ada").await);
    let written: Vec<Value> = (0..200)
        .map(|n| json!({ "writer": n, "items": [n, n + 1] }))
        .collect();
    let handles = written
        .iter()
        .map(|data| {
            spawn_graphql(
                &app,
                &store_data_document(),
                json!({ "id": session, "data": data }),
            )
        })
        .collect();

    // Act
    let results = join_bodies(handles).await;

    // Assert: every store succeeded and returned what it wrote.
    let mut latest_returned = None;
    for (body, data) in results.iter().zip(&written) {
        let stored = ok(body, "storeSessionData");
        assert_eq!(&stored["data"], data);
        latest_returned = latest_returned.max(Some(time(&stored["requestTime"])));
    }
    let latest_returned = latest_returned.expect("200 results");
    let after = get(&app, &session).await;
    assert!(
        written.contains(&after["data"]),
        "data is one of the written values: {after}"
    );
    let request_time = time(&after["requestTime"]);
    assert!(
        request_time >= latest_returned,
        "requestTime {request_time} went back before {latest_returned}"
    );
    // The user's index holds the session once, under its current time.
    let page = list(&app, json!({ "userId": "ada" }), json!({ "total": true })).await;
    assert_eq!(
        (ids(&page), &page["total"]),
        (vec![session.clone()], &json!(1))
    );
    assert_eq!(page["data"][0], after);
    let since = json!({ "userId": "ada", "fromTime": after["requestTime"] });
    assert_eq!(ids(&list(&app, since, Value::Null).await), [session]);
}
