#![cfg(feature = "client")]
//! `SessionsClient`'s lifecycle operations (issue 9) against a real server: close reasons,
//! `touch_session`, `close_user_sessions`, and the per-user limit's error.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use sessions::clock::{Clock, ManualClock};
use sessions::config::{Config, LimitPolicyArg};
use sessions::model::CloseReason;
use sessions::{ClientError, Session, SessionId, SessionsClient};

use crate::helpers::{TestApp, spawn_app_with};

/// Where the manual clock starts.
const START: &str = "2026-11-25T17:18:31.110Z";

/// A server on a manual clock standing at [`START`] with `config`, and a client of it.
async fn spawn(config: Config) -> (TestApp, SessionsClient, Arc<ManualClock>) {
    let start: DateTime<Utc> = START.parse().expect("valid time");
    let clock = Arc::new(ManualClock::new(start));
    let app = spawn_app_with(config, clock.clone()).await;
    let client = SessionsClient::new(&format!("http://{}", app.addr)).expect("valid base URL");
    (app, client, clock)
}

/// Open a session for `user_id` with no other fields.
async fn open(client: &SessionsClient, user_id: &str) -> Session {
    client
        .open_session(user_id, None, None, None, None, None)
        .await
        .expect("session opened")
}

/// The session, which must exist.
async fn read(client: &SessionsClient, id: &SessionId) -> Session {
    let found = client.get_session_by_id(id).await.expect("read");
    found.expect("session exists")
}

#[tokio::test]
async fn close_session_records_logout_and_close_session_for_revoked_records_revoked() {
    // Arrange
    let (_app, client, _clock) = spawn(Config::for_tests()).await;
    let logout = open(&client, "ada").await;
    let revoked = open(&client, "ada").await;

    // Act
    let logged_out = client.close_session(&logout.id).await.expect("closed");
    let revoked = client
        .close_session_for(&revoked.id, CloseReason::Revoked)
        .await
        .expect("closed");
    let again = client
        .close_session_for(&logout.id, CloseReason::Revoked)
        .await
        .expect("closed again");

    // Assert
    assert_eq!(logout.close_reason, None);
    assert_eq!(logged_out.close_reason, Some(CloseReason::Logout));
    assert_eq!(revoked.close_reason, Some(CloseReason::Revoked));
    assert_eq!(again, logged_out, "the first reason stays");
    assert_eq!(read(&client, &revoked.id).await, revoked);
}

#[tokio::test]
async fn close_session_for_a_reason_of_the_services_own_fails_with_bad_input() {
    // Arrange
    let (_app, client, _clock) = spawn(Config::for_tests()).await;
    let session = open(&client, "ada").await;

    // Act
    let result = client
        .close_session_for(&session.id, CloseReason::Evicted)
        .await;

    // Assert
    let Err(ClientError::BadInput { message, .. }) = result else {
        panic!("expected BadInput, got {result:?}");
    };
    assert!(message.contains("reason"), "message: {message}");
    assert_eq!(read(&client, &session.id).await, session);
}

#[tokio::test]
async fn touch_session_marks_activity_now_and_fails_on_unknown_or_closed_sessions() {
    // Arrange
    let (_app, client, clock) = spawn(Config::for_tests()).await;
    let session = open(&client, "ada").await;
    let closed = open(&client, "ada").await;
    client.close_session(&closed.id).await.expect("closed");
    clock.advance(TimeDelta::seconds(7));

    // Act
    let touched = client.touch_session(&session.id).await.expect("touched");
    let unknown = client.touch_session(&SessionId::random()).await;
    let on_closed = client.touch_session(&closed.id).await;

    // Assert
    let expected = Session {
        request_time: clock.now(),
        ..session
    };
    assert_eq!(touched, expected);
    assert!(
        matches!(unknown, Err(ClientError::NotFound { .. })),
        "{unknown:?}"
    );
    assert!(
        matches!(on_closed, Err(ClientError::SessionClosed { .. })),
        "{on_closed:?}"
    );
}

#[tokio::test]
async fn close_user_sessions_closes_the_others_or_all_and_returns_how_many() {
    // Arrange
    let (_app, client, _clock) = spawn(Config::for_tests()).await;
    let mine = open(&client, "ada").await;
    let others = [open(&client, "ada").await, open(&client, "ada").await];
    let bob = open(&client, "bob").await;

    // Act
    let everywhere_else = client
        .close_user_sessions("ada", Some(&mine.id))
        .await
        .expect("closed");
    let kept = read(&client, &mine.id).await;
    let everywhere = client
        .close_user_sessions("ada", None)
        .await
        .expect("closed");

    // Assert
    assert_eq!((everywhere_else, everywhere), (2, 1));
    assert!(kept.active);
    for session in others.iter().chain([&mine]) {
        let closed = read(&client, &session.id).await;
        assert_eq!(
            closed.close_reason,
            Some(CloseReason::Revoked),
            "{closed:?}"
        );
    }
    assert_eq!(read(&client, &bob.id).await, bob);
}

#[tokio::test]
async fn opening_over_a_deny_limit_fails_with_the_session_limit_reached_code() {
    // Arrange
    let config = Config {
        expire_timeout: Duration::from_secs(60),
        max_sessions_per_user: 1,
        session_limit_policy: LimitPolicyArg::Deny,
        ..Config::for_tests()
    };
    let (_app, client, _clock) = spawn(config).await;
    open(&client, "ada").await;

    // Act
    let result = client
        .open_session("ada", None, None, None, None, None)
        .await;

    // Assert
    assert!(
        matches!(&result, Err(ClientError::Server { code, .. }) if code == "SESSION_LIMIT_REACHED"),
        "{result:?}"
    );
}

#[tokio::test]
async fn sessions_closed_by_expiry_or_eviction_read_back_with_their_reason() {
    // Arrange: idle after a minute; at most two sessions each, the oldest evicted.
    let config = Config {
        expire_timeout: Duration::from_secs(60),
        max_sessions_per_user: 2,
        ..Config::for_tests()
    };
    let (_app, client, clock) = spawn(config).await;
    let idle = open(&client, "bob").await;
    let evicted = open(&client, "ada").await;
    clock.advance(TimeDelta::seconds(1));
    open(&client, "ada").await;
    open(&client, "ada").await;
    clock.advance(TimeDelta::seconds(61));

    // Act
    let expired = client.close_expired_sessions().await.expect("expired");

    // Assert
    assert_eq!(expired, 3, "bob's and ada's two open sessions");
    let idle = read(&client, &idle.id).await;
    assert_eq!(idle.close_reason, Some(CloseReason::IdleTimeout));
    let evicted = read(&client, &evicted.id).await;
    assert_eq!(evicted.close_reason, Some(CloseReason::Evicted));
}
