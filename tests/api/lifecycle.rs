//! The session lifecycle over HTTP (issue 9): `closeReason` and `expiresAt`, close reasons,
//! `touchSession`, `closeUserSessions`, the per-user limit and lazy expiry through GraphQL, and
//! the new fields and error of the REST v1 protocol.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sessions::clock::ManualClock;
use sessions::config::{Config, LimitPolicyArg, OptionalDuration};

use crate::helpers::{TestApp, assert_no_errors, error_code, spawn_app_with};

/// Where the manual clock starts.
const START: &str = "2026-11-25T17:18:31.110Z";

/// The fields these tests read.
const FIELDS: &str = "id userId active requestTime closeTime closeReason expiresAt user data";

fn time(text: &str) -> DateTime<Utc> {
    text.parse().expect("valid RFC 3339 time")
}

/// `START` moved by `by`, as the API writes times.
fn start_plus(by: TimeDelta) -> String {
    (time(START) + by)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// The test configuration with a one-hour idle timeout and a two-hour max lifetime.
fn config() -> Config {
    Config {
        expire_timeout: Duration::from_secs(60 * 60),
        max_lifetime: OptionalDuration(Some(Duration::from_secs(2 * 60 * 60))),
        ..Config::for_tests()
    }
}

/// A server on a manual clock standing at [`START`].
async fn spawn(config: Config) -> (TestApp, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(time(START)));
    let app = spawn_app_with(config, clock.clone()).await;
    (app, clock)
}

/// Run `query`, which must succeed; returns `data.<field>`.
async fn ok(app: &TestApp, query: &str, variables: Value, field: &str) -> Value {
    let body = app.graphql(query, variables).await;
    assert_no_errors(&body);
    body["data"][field].clone()
}

/// Open a session for `user_id` with a cached user and data; returns [`FIELDS`] of it.
async fn open(app: &TestApp, user_id: &str) -> Value {
    let query = format!(
        "mutation($u: String!) {{ openSession(input: {{userId: $u, user: {{n: 1}}, data: [1]}}) \
         {{ {FIELDS} }} }}"
    );
    ok(app, &query, json!({ "u": user_id }), "openSession").await
}

/// The session with this id, [`FIELDS`] of it.
async fn session(app: &TestApp, id: &Value) -> Value {
    let query = format!("query($id: ID!) {{ session(id: $id) {{ {FIELDS} }} }}");
    ok(app, &query, json!({ "id": id }), "session").await
}

/// `closeSession` with these variables (`id`, and `reason` when given); the whole body.
async fn close(app: &TestApp, variables: Value) -> Value {
    let query = if variables.get("reason").is_some() {
        format!(
            "mutation($id: ID!, $reason: CloseReason) {{ \
             closeSession(sessionId: $id, reason: $reason) {{ {FIELDS} }} }}"
        )
    } else {
        format!("mutation($id: ID!) {{ closeSession(sessionId: $id) {{ {FIELDS} }} }}")
    };
    app.graphql(&query, variables).await
}

/// `touchSession`; the whole body.
async fn touch(app: &TestApp, id: &Value) -> Value {
    let query = format!("mutation($id: ID!) {{ touchSession(sessionId: $id) {{ {FIELDS} }} }}");
    app.graphql(&query, json!({ "id": id })).await
}

/// `closeUserSessions`; the whole body.
async fn close_user_sessions(app: &TestApp, user_id: &str, except: Option<&Value>) -> Value {
    let query = "mutation($u: String!, $except: ID) \
                 { closeUserSessions(userId: $u, exceptSessionId: $except) }";
    app.graphql(query, json!({ "u": user_id, "except": except }))
        .await
}

// ---------------------------------------------------------------------------------------------
// GraphQL

#[tokio::test]
async fn an_open_session_has_no_close_reason_and_expires_at_its_earlier_bound() {
    // Arrange: idle timeout 1 h, max lifetime 2 h.
    let (app, clock) = spawn(config()).await;
    let opened = open(&app, "alice").await;

    // Act: active at 50 and 100 min; idleness would then end at 160 min, after the lifetime.
    clock.advance(TimeDelta::minutes(50));
    let first = touch(&app, &opened["id"]).await;
    clock.advance(TimeDelta::minutes(50));
    let second = touch(&app, &opened["id"]).await;
    let closed = close(&app, json!({ "id": opened["id"] })).await;

    // Assert
    assert_eq!(opened["closeReason"], Value::Null);
    assert_eq!(opened["expiresAt"], start_plus(TimeDelta::hours(1)));
    assert_no_errors(&first);
    let first = &first["data"]["touchSession"];
    assert_eq!(first["expiresAt"], start_plus(TimeDelta::minutes(110)));
    assert_no_errors(&second);
    let second = &second["data"]["touchSession"];
    assert_eq!(second["expiresAt"], start_plus(TimeDelta::hours(2)));
    assert_no_errors(&closed);
    let closed = &closed["data"]["closeSession"];
    assert_eq!(closed["closeReason"], "LOGOUT");
    assert_eq!(closed["expiresAt"], Value::Null);
    assert_eq!(&session(&app, &opened["id"]).await, closed);
}

#[tokio::test]
async fn close_session_records_revoked_when_asked_and_refuses_a_reason_of_the_services_own() {
    // Arrange
    let (app, _clock) = spawn(config()).await;
    let revoked = open(&app, "alice").await;
    let kept = open(&app, "alice").await;

    // Act
    let closed = close(&app, json!({ "id": revoked["id"], "reason": "REVOKED" })).await;
    let again = close(&app, json!({ "id": revoked["id"], "reason": "LOGOUT" })).await;
    let evicted = close(&app, json!({ "id": kept["id"], "reason": "EVICTED" })).await;

    // Assert
    assert_no_errors(&closed);
    assert_eq!(closed["data"]["closeSession"]["closeReason"], "REVOKED");
    assert_eq!(
        again["data"]["closeSession"], closed["data"]["closeSession"],
        "closing again keeps the first reason"
    );
    assert_eq!(error_code(&evicted), Some("BAD_USER_INPUT"), "{evicted}");
    assert_eq!(evicted["errors"][0]["extensions"]["field"], "reason");
    assert_eq!(session(&app, &kept["id"]).await, kept, "nothing was closed");
}

#[tokio::test]
async fn close_session_without_a_reason_or_with_null_records_logout() {
    let (app, _clock) = spawn(config()).await;
    let first = open(&app, "alice").await;
    let second = open(&app, "alice").await;

    let defaulted = close(&app, json!({ "id": first["id"] })).await;
    let null = close(&app, json!({ "id": second["id"], "reason": null })).await;

    assert_eq!(
        defaulted["data"]["closeSession"]["closeReason"], "LOGOUT",
        "{defaulted}"
    );
    assert_eq!(
        null["data"]["closeSession"]["closeReason"], "LOGOUT",
        "{null}"
    );
}

#[tokio::test]
async fn touch_session_moves_request_time_and_expires_at_and_fails_on_unknown_or_closed_ones() {
    // Arrange
    let (app, clock) = spawn(config()).await;
    let opened = open(&app, "alice").await;
    let closed = open(&app, "alice").await;
    assert_no_errors(&close(&app, json!({ "id": closed["id"] })).await);
    clock.advance(TimeDelta::minutes(10));

    // Act
    let touched = touch(&app, &opened["id"]).await;
    let unknown = touch(&app, &json!("0123456789abcdef0123456789abcdef")).await;
    let on_closed = touch(&app, &closed["id"]).await;

    // Assert
    assert_no_errors(&touched);
    let touched = &touched["data"]["touchSession"];
    assert_eq!(touched["requestTime"], start_plus(TimeDelta::minutes(10)));
    assert_eq!(touched["expiresAt"], start_plus(TimeDelta::minutes(70)));
    let unchanged = ["id", "userId", "active", "closeTime", "user", "data"];
    for field in unchanged {
        assert_eq!(touched[field], opened[field], "{field}");
    }
    assert_eq!(error_code(&unknown), Some("NOT_FOUND"), "{unknown}");
    assert_eq!(
        error_code(&on_closed),
        Some("SESSION_CLOSED"),
        "{on_closed}"
    );
}

#[tokio::test]
async fn close_user_sessions_revokes_the_users_sessions_but_the_one_named_and_counts_them() {
    // Arrange
    let (app, _clock) = spawn(config()).await;
    let mine = open(&app, "alice").await;
    let elsewhere = [open(&app, "alice").await, open(&app, "alice").await];
    let bob = open(&app, "bob").await;

    // Act
    let everywhere_else = close_user_sessions(&app, "alice", Some(&mine["id"])).await;
    let everywhere = close_user_sessions(&app, "alice", None).await;
    let nobody = close_user_sessions(&app, "nobody", None).await;
    let malformed = close_user_sessions(&app, "alice", Some(&json!("not-an-id"))).await;

    // Assert
    assert_eq!(
        everywhere_else,
        json!({ "data": { "closeUserSessions": 2 } })
    );
    assert_eq!(everywhere, json!({ "data": { "closeUserSessions": 1 } }));
    assert_eq!(nobody, json!({ "data": { "closeUserSessions": 0 } }));
    assert_eq!(
        error_code(&malformed),
        Some("BAD_USER_INPUT"),
        "{malformed}"
    );
    assert_eq!(
        malformed["errors"][0]["extensions"]["field"],
        "exceptSessionId"
    );
    for session_id in elsewhere.iter().chain([&mine]).map(|s| &s["id"]) {
        let closed = session(&app, session_id).await;
        assert_eq!(closed["closeReason"], "REVOKED", "{closed}");
    }
    assert_eq!(session(&app, &bob["id"]).await, bob);
}

#[tokio::test]
async fn with_a_deny_limit_one_session_more_fails_with_session_limit_reached() {
    // Arrange
    let config = Config {
        max_sessions_per_user: 2,
        session_limit_policy: LimitPolicyArg::Deny,
        ..config()
    };
    let (app, _clock) = spawn(config).await;
    open(&app, "alice").await;
    open(&app, "alice").await;

    // Act
    let query = "mutation { openSession(input: {userId: \"alice\"}) { id } }";
    let (status, refused) = app.graphql_raw(query, json!({})).await;
    let other_user = open(&app, "bob").await;

    // Assert
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        error_code(&refused),
        Some("SESSION_LIMIT_REACHED"),
        "{refused}"
    );
    assert!(refused["errors"][0]["extensions"]["correlationId"].is_string());
    assert_eq!(other_user["active"], true);
    let listed = "{ sessions(filter: {userId: \"alice\"}, paging: {total: true}) { total } }";
    assert_eq!(ok(&app, listed, json!({}), "sessions").await["total"], 2);
}

#[tokio::test]
async fn with_an_evict_oldest_limit_one_session_more_closes_the_least_recently_active_one() {
    // Arrange
    let config = Config {
        max_sessions_per_user: 2,
        ..config()
    };
    let (app, clock) = spawn(config).await;
    let first = open(&app, "alice").await;
    clock.advance(TimeDelta::seconds(1));
    let second = open(&app, "alice").await;
    clock.advance(TimeDelta::seconds(1));
    assert_no_errors(&touch(&app, &first["id"]).await);

    // Act
    let third = open(&app, "alice").await;

    // Assert
    let evicted = session(&app, &second["id"]).await;
    assert_eq!(evicted["closeReason"], "EVICTED");
    assert_eq!(evicted["closeTime"], start_plus(TimeDelta::seconds(2)));
    assert_eq!(session(&app, &first["id"]).await["active"], true);
    assert_eq!(third["active"], true);
}

#[tokio::test]
async fn a_write_on_a_session_past_its_max_lifetime_fails_with_session_closed_and_records_why() {
    // Arrange: active every 50 min, so only the 2 h max lifetime can end it.
    let (app, clock) = spawn(config()).await;
    let opened = open(&app, "alice").await;
    let idle = open(&app, "alice").await;
    for _ in 0..2 {
        clock.advance(TimeDelta::minutes(50));
        assert_no_errors(&touch(&app, &opened["id"]).await);
    }
    clock.advance(TimeDelta::minutes(21));
    let store = "mutation($id: ID!) { storeSessionData(sessionId: $id, data: 2) { id } }";

    // Act
    let stored = app.graphql(store, json!({ "id": opened["id"] })).await;
    let read_before_expiry = session(&app, &idle["id"]).await;
    let expired = ok(
        &app,
        "mutation { closeExpiredSessions }",
        json!({}),
        "closeExpiredSessions",
    )
    .await;

    // Assert
    assert_eq!(error_code(&stored), Some("SESSION_CLOSED"), "{stored}");
    let closed = session(&app, &opened["id"]).await;
    assert_eq!(closed["closeReason"], "MAX_LIFETIME");
    assert_eq!(closed["closeTime"], start_plus(TimeDelta::minutes(121)));
    assert_eq!(
        (&closed["user"], &closed["data"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(read_before_expiry["active"], true, "a read changes nothing");
    assert_eq!(expired, 1);
    assert_eq!(
        session(&app, &idle["id"]).await["closeReason"],
        "IDLE_TIMEOUT"
    );
}

// ---------------------------------------------------------------------------------------------
// REST v1

/// POST `body` to `/v1/sessions/<name>`; the status and the JSON body (null when empty).
async fn command(app: &TestApp, name: &str, body: Value) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url(&format!("/v1/sessions/{name}")))
        .json(&body)
        .send()
        .await
        .expect("request sent");
    let status = response.status();
    let text = response.text().await.expect("body read");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("a JSON body")
    };
    (status, body)
}

#[tokio::test]
async fn rest_sessions_carry_close_reason_and_expires_at_in_snake_case() {
    // Arrange
    let (app, clock) = spawn(config()).await;
    let (_, opened) = command(&app, "open_session", json!({ "user_id": "u-1" })).await;
    let id = opened["id"].clone();
    clock.advance(TimeDelta::minutes(5));

    // Act
    let (_, listed) = command(
        &app,
        "get_sessions",
        json!({ "filter": { "user_id": "u-1" } }),
    )
    .await;
    let (status, closed) = command(&app, "close_session", json!({ "session_id": id })).await;
    let (_, read) = command(&app, "get_session_by_id", json!({ "session_id": id })).await;

    // Assert
    assert_eq!(opened["close_reason"], Value::Null);
    assert_eq!(opened["expires_at"], start_plus(TimeDelta::hours(1)));
    let item = &listed["data"][0];
    assert_eq!(
        (&item["close_reason"], &item["expires_at"]),
        (&Value::Null, &opened["expires_at"])
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(closed["close_reason"], "LOGOUT");
    assert_eq!(closed["expires_at"], Value::Null);
    assert_eq!(closed["close_time"], start_plus(TimeDelta::minutes(5)));
    assert_eq!(read, closed);
}

#[tokio::test]
async fn rest_open_session_over_a_deny_limit_answers_409_session_limit_reached() {
    // Arrange
    let config = Config {
        max_sessions_per_user: 1,
        session_limit_policy: LimitPolicyArg::Deny,
        ..config()
    };
    let (app, _clock) = spawn(config).await;
    let (first, _) = command(&app, "open_session", json!({ "user_id": "u-1" })).await;

    // Act
    let (status, refused) = command(&app, "open_session", json!({ "user_id": "u-1" })).await;

    // Assert
    assert_eq!(first, StatusCode::OK);
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["code"], "SESSION_LIMIT_REACHED");
    assert_eq!(refused["category"], "Conflict");
    assert_eq!(refused["status"], 409);
    assert!(refused["correlation_id"].is_string(), "{refused}");
    let (_, page) = command(
        &app,
        "get_sessions",
        json!({ "filter": { "user_id": "u-1" } }),
    )
    .await;
    assert_eq!(page["data"].as_array().map(Vec::len), Some(1));
}
