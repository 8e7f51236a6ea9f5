#![cfg(feature = "client")]
//! `SessionsClient` against a real server on a free port: every method, the errors a caller
//! matches on, correlation ids and extra headers, and the original client fixture's flows.
//!
//! What the real server cannot show (headers as received, a 5xx, a stalled connection) is
//! checked against a small stand-in server or a raw listener instead.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, TimeDelta, Utc};
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use serde_json::{Value, json};
use sessions::clock::{Clock, ManualClock, SystemClock};
use sessions::config::Config;
use sessions::{ClientError, Paging, Session, SessionFilter, SessionId, SessionsClient};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// Upper bound for anything this file waits for.
const PATIENCE: Duration = Duration::from_secs(10);

/// Where the manual clock of the time-dependent tests starts.
const START: &str = "2026-11-25T17:18:31.110Z";

// ---------------------------------------------------------------------------------------------
// Helpers

/// A client of `app`, built the way the README shows.
fn client_of(app: &TestApp) -> SessionsClient {
    SessionsClient::new(&format!("http://{}", app.addr)).expect("valid base URL")
}

fn time(text: &str) -> DateTime<Utc> {
    text.parse().expect("valid RFC 3339 time")
}

/// A server whose controller reads a manual clock standing at [`START`], with a client of it.
async fn spawn_on_manual_clock(config: Config) -> (TestApp, SessionsClient, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(time(START)));
    let app = spawn_app_with(config, clock.clone()).await;
    let client = client_of(&app);
    (app, client, clock)
}

/// Open a session for `user_id` with no other fields.
async fn open(client: &SessionsClient, user_id: &str) -> Session {
    client
        .open_session(user_id, None, None, None, None, None)
        .await
        .expect("session opened")
}

/// A filter on the user id and, when given, the active flag.
fn user_filter(user_id: &str, active: Option<bool>) -> SessionFilter {
    SessionFilter {
        user_id: Some(user_id.to_owned()),
        active,
        ..SessionFilter::default()
    }
}

/// Paging with every value given.
fn paging(skip: i64, take: i64, total: bool) -> Paging {
    Paging {
        skip: Some(skip),
        take: Some(take),
        total,
    }
}

/// The ids of a page, in order.
fn ids(sessions: &[Session]) -> Vec<SessionId> {
    sessions.iter().map(|s| s.id).collect()
}

/// The headers of every request a [`StandIn`] received, in order.
type Seen = Arc<Mutex<Vec<HeaderMap>>>;

/// A stand-in for the service: answers every request to `/graphql` with the same status and
/// JSON body, and keeps the request headers.
struct StandIn {
    addr: SocketAddr,
    seen: Seen,
}

impl StandIn {
    async fn start(status: StatusCode, body: Value) -> Self {
        let seen = Seen::default();
        let kept = seen.clone();
        let answer = move |headers: HeaderMap| {
            kept.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(headers);
            let body = body.clone();
            async move { (status, Json(body)) }
        };
        let app = axum::Router::new().route("/graphql", axum::routing::post(answer));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bound");
        let addr = listener.local_addr().expect("local address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, seen }
    }

    fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The value of `name` in each request received so far.
    fn header_values(&self, name: &str) -> Vec<Option<String>> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|headers| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            })
            .collect()
    }
}

/// A GraphQL answer with one error carrying `code`.
fn graphql_error(code: &str, message: &str) -> Value {
    json!({
        "data": null,
        "errors": [{ "message": message, "extensions": { "code": code } }],
    })
}

// ---------------------------------------------------------------------------------------------
// Happy paths, one method each

#[tokio::test]
async fn get_sessions_filters_pages_and_counts_the_total() {
    // Arrange: a closed session of `pager`, then three open ones a minute apart, and one of
    // someone else.
    let (_app, client, clock) = spawn_on_manual_clock(Config::for_tests()).await;
    let closed = open(&client, "pager").await;
    let closed = client.close_session(&closed.id).await.expect("closed");
    let mut pager = Vec::new();
    for _ in 0..3 {
        clock.advance(TimeDelta::minutes(1));
        pager.push(open(&client, "pager").await);
    }
    open(&client, "someone else").await;
    let [oldest, middle, newest] = [&pager[0], &pager[1], &pager[2]];

    // Act
    let second = client
        .get_sessions(user_filter("pager", None), paging(1, 1, true))
        .await
        .expect("listed");
    let open_first_two = client
        .get_sessions(user_filter("pager", Some(true)), paging(0, 2, true))
        .await
        .expect("listed");
    let only_closed = client
        .get_sessions(user_filter("pager", Some(false)), paging(0, 10, false))
        .await
        .expect("listed");
    let everything = client
        .get_sessions(SessionFilter::default(), Paging::default())
        .await
        .expect("listed");

    // Assert: most recent activity first.
    assert_eq!(second.total, Some(4));
    assert_eq!(ids(&second.data), [middle.id]);
    assert_eq!(second.data[0], *middle, "a listed session has every field");
    assert_eq!(open_first_two.total, Some(3));
    assert_eq!(ids(&open_first_two.data), [newest.id, middle.id]);
    assert_eq!(only_closed.total, None, "the total was not asked for");
    assert_eq!(only_closed.data, [closed]);
    assert_eq!(everything.data.len(), 5);
    assert!(ids(&everything.data).contains(&oldest.id));
}

#[tokio::test]
async fn get_sessions_with_a_filter_on_one_id_returns_only_that_session() {
    // Arrange
    let app = spawn_app().await;
    let client = client_of(&app);
    let wanted = open(&client, "u").await;
    open(&client, "u").await;
    let filter = SessionFilter {
        id: Some(wanted.id),
        ..SessionFilter::default()
    };

    // Act
    let page = client
        .get_sessions(filter, paging(0, 10, true))
        .await
        .expect("listed");

    // Assert
    assert_eq!(page.total, Some(1));
    assert_eq!(page.data, [wanted]);
}

#[tokio::test]
async fn get_session_by_id_returns_the_session_or_none_for_an_unknown_id() {
    // Arrange
    let app = spawn_app().await;
    let client = client_of(&app);
    let opened = open(&client, "finder").await;

    // Act
    let found = client.get_session_by_id(&opened.id).await.expect("read");
    let unknown = client
        .get_session_by_id(&SessionId::random())
        .await
        .expect("read");

    // Assert
    assert_eq!(found, Some(opened));
    assert_eq!(unknown, None);
}

#[tokio::test]
async fn open_session_round_trips_all_six_arguments_including_nested_json() {
    // Arrange
    let (_app, client, clock) = spawn_on_manual_clock(Config::for_tests()).await;
    let user = json!({
        "id": "42",
        "name": "Ada Lovelace",
        "roles": ["admin", "author"],
        "profile": { "lang": "en", "tz": null, "quota": { "used": 1.5, "max": 10 } },
    });
    let data = json!([{ "cart": [1, 2, { "sku": "x-1", "qty": 3 }] }, "ünïcödé ✓", true, null]);

    // Act
    let opened = client
        .open_session(
            "42",
            Some("Ada"),
            Some("10.0.0.7"),
            Some("firefox/130"),
            Some(user.clone()),
            Some(data.clone()),
        )
        .await
        .expect("session opened");

    // Assert
    assert_eq!(opened.user_id, "42");
    assert_eq!(opened.user_name.as_deref(), Some("Ada"));
    assert_eq!(opened.address.as_deref(), Some("10.0.0.7"));
    assert_eq!(opened.client.as_deref(), Some("firefox/130"));
    assert_eq!(opened.user, Some(user));
    assert_eq!(opened.data, Some(data));
    assert!(opened.active);
    assert_eq!(
        (opened.open_time, opened.request_time),
        (clock.now(), clock.now())
    );
    assert_eq!(opened.close_time, None);
    let stored = client.get_session_by_id(&opened.id).await.expect("read");
    assert_eq!(stored, Some(opened), "the server kept what it returned");
}

#[tokio::test]
async fn open_session_with_only_a_user_id_leaves_the_other_fields_empty() {
    // Arrange
    let app = spawn_app().await;
    let client = client_of(&app);

    // Act
    let opened = client
        .open_session("bare", None, None, None, None, Some(Value::Null))
        .await
        .expect("session opened");

    // Assert
    assert_eq!(opened.user_id, "bare");
    assert_eq!(
        (&opened.user_name, &opened.address, &opened.client),
        (&None, &None, &None)
    );
    assert_eq!((&opened.user, &opened.data), (&None, &None));
}

#[tokio::test]
async fn store_session_data_replaces_the_data_and_marks_the_session_active_now() {
    // Arrange
    let (_app, client, clock) = spawn_on_manual_clock(Config::for_tests()).await;
    let opened = client
        .open_session(
            "s",
            None,
            None,
            None,
            Some(json!("kept")),
            Some(json!("old")),
        )
        .await
        .expect("session opened");
    clock.advance(TimeDelta::seconds(5));
    let data = json!({ "step": 2, "items": [{ "id": 1 }] });

    // Act
    let stored = client
        .store_session_data(&opened.id, Some(data.clone()))
        .await
        .expect("data stored");
    let cleared = client
        .store_session_data(&opened.id, None)
        .await
        .expect("data cleared");

    // Assert
    assert_eq!(stored.data, Some(data));
    assert_eq!(stored.user, Some(json!("kept")), "only the data changes");
    assert_eq!(
        stored.request_time,
        opened.request_time + TimeDelta::seconds(5)
    );
    assert_eq!(stored.open_time, opened.open_time);
    assert_eq!(cleared.data, None);
    let read = client.get_session_by_id(&opened.id).await.expect("read");
    assert_eq!(read, Some(cleared));
}

#[tokio::test]
async fn update_session_user_replaces_the_user_and_marks_the_session_active_now() {
    // Arrange
    let (_app, client, clock) = spawn_on_manual_clock(Config::for_tests()).await;
    let opened = client
        .open_session(
            "u",
            None,
            None,
            None,
            Some(json!("old")),
            Some(json!("kept")),
        )
        .await
        .expect("session opened");
    clock.advance(TimeDelta::seconds(7));
    let user = json!({ "id": "u", "groups": ["a", "b"], "settings": { "dark": true } });

    // Act
    let updated = client
        .update_session_user(&opened.id, Some(user.clone()))
        .await
        .expect("user updated");

    // Assert
    assert_eq!(updated.user, Some(user));
    assert_eq!(updated.data, Some(json!("kept")), "only the user changes");
    assert_eq!(
        updated.request_time,
        opened.request_time + TimeDelta::seconds(7)
    );
    let read = client.get_session_by_id(&opened.id).await.expect("read");
    assert_eq!(read, Some(updated));
}

#[tokio::test]
async fn close_session_closes_it_and_closing_again_returns_it_unchanged() {
    // Arrange
    let (_app, client, clock) = spawn_on_manual_clock(Config::for_tests()).await;
    let opened = client
        .open_session("c", None, None, None, Some(json!("u")), Some(json!("d")))
        .await
        .expect("session opened");
    clock.advance(TimeDelta::minutes(1));
    let closed_at = clock.now();

    // Act
    let closed = client.close_session(&opened.id).await.expect("closed");
    clock.advance(TimeDelta::minutes(1));
    let again = client
        .close_session(&opened.id)
        .await
        .expect("closed again");

    // Assert
    assert!(!closed.active);
    assert_eq!(closed.close_time, Some(closed_at));
    assert_eq!(closed.request_time, closed_at);
    assert_eq!((&closed.user, &closed.data), (&None, &None));
    assert_eq!(again, closed, "closing a closed session changes nothing");
}

#[tokio::test]
async fn close_expired_sessions_closes_the_idle_ones_and_returns_how_many() {
    // Arrange: expiry after 1 h; `busy` is active half way through.
    let mut config = Config::for_tests();
    config.expire_timeout = Duration::from_secs(60 * 60);
    let (_app, client, clock) = spawn_on_manual_clock(config).await;
    let idle = [open(&client, "ada").await, open(&client, "bob").await];
    let busy = open(&client, "carol").await;
    clock.advance(TimeDelta::minutes(30));
    client
        .store_session_data(&busy.id, Some(json!("still here")))
        .await
        .expect("data stored");
    clock.advance(TimeDelta::minutes(31));

    // Act
    let closed = client.close_expired_sessions().await.expect("expired");
    let closed_again = client.close_expired_sessions().await.expect("expired");

    // Assert
    assert_eq!(closed, 2);
    assert_eq!(closed_again, 0, "nothing is left to expire");
    for session in &idle {
        let read = client.get_session_by_id(&session.id).await.expect("read");
        let read = read.expect("still stored");
        assert!(!read.active, "{read:?}");
        assert_eq!(read.close_time, Some(clock.now()));
    }
    let busy = client.get_session_by_id(&busy.id).await.expect("read");
    assert!(busy.expect("still stored").active);
}

#[tokio::test]
async fn delete_session_by_id_returns_the_session_then_none() {
    // Arrange
    let app = spawn_app().await;
    let client = client_of(&app);
    let opened = client
        .open_session("d", Some("Dee"), None, None, None, Some(json!({ "x": 1 })))
        .await
        .expect("session opened");

    // Act
    let deleted = client
        .delete_session_by_id(&opened.id)
        .await
        .expect("deleted");
    let deleted_again = client
        .delete_session_by_id(&opened.id)
        .await
        .expect("deleted");

    // Assert
    assert_eq!(deleted, Some(opened.clone()));
    assert_eq!(deleted_again, None);
    let read = client.get_session_by_id(&opened.id).await.expect("read");
    assert_eq!(read, None);
}

// ---------------------------------------------------------------------------------------------
// Errors from the real server

#[tokio::test]
async fn changing_an_unknown_session_fails_with_not_found() {
    // Arrange
    let app = spawn_app().await;
    let client = client_of(&app);
    let unknown = SessionId::random();

    // Act
    let results = [
        client.store_session_data(&unknown, Some(json!(1))).await,
        client.update_session_user(&unknown, Some(json!(1))).await,
        client.close_session(&unknown).await,
    ];

    // Assert
    for result in results {
        assert!(
            matches!(result, Err(ClientError::NotFound { .. })),
            "expected NotFound, got {result:?}"
        );
    }
}

#[tokio::test]
async fn changing_a_closed_session_fails_with_session_closed() {
    // Arrange
    let app = spawn_app().await;
    let client = client_of(&app);
    let session = open(&client, "closed").await;
    client.close_session(&session.id).await.expect("closed");

    // Act
    let results = [
        client.store_session_data(&session.id, Some(json!(1))).await,
        client
            .update_session_user(&session.id, Some(json!(1)))
            .await,
    ];

    // Assert
    for result in results {
        assert!(
            matches!(result, Err(ClientError::SessionClosed { .. })),
            "expected SessionClosed, got {result:?}"
        );
    }
}

#[tokio::test]
async fn a_blank_user_id_fails_with_bad_input_naming_the_user_id() {
    // Arrange
    let app = spawn_app().await;
    let client = client_of(&app);

    // Act
    let result = client
        .open_session("   ", Some("nobody"), None, None, None, None)
        .await;

    // Assert
    let Err(ClientError::BadInput { message, .. }) = result else {
        panic!("expected BadInput, got {result:?}");
    };
    assert!(message.contains("userId"), "message: {message}");
    assert!(message.contains("must not be empty"), "message: {message}");
}

#[tokio::test]
async fn negative_paging_fails_with_bad_input_naming_the_field() {
    // Arrange
    let app = spawn_app().await;
    let client = client_of(&app);

    // Act
    let take = client
        .get_sessions(SessionFilter::default(), paging(0, -1, false))
        .await;
    let skip = client
        .get_sessions(SessionFilter::default(), paging(-5, 10, false))
        .await;

    // Assert
    let Err(ClientError::BadInput { message, .. }) = take else {
        panic!("expected BadInput, got {take:?}");
    };
    assert!(message.contains("paging.take"), "message: {message}");
    let Err(ClientError::BadInput { message, .. }) = skip else {
        panic!("expected BadInput, got {skip:?}");
    };
    assert!(message.contains("paging.skip"), "message: {message}");
}

#[tokio::test]
async fn data_over_the_payload_limit_fails_with_bad_input_naming_the_data() {
    // Arrange
    let mut config = Config::for_tests();
    config.max_payload = 64;
    let app = spawn_app_with(config, Arc::new(SystemClock)).await;
    let client = client_of(&app);
    let session = open(&client, "big").await;

    // Act
    let result = client
        .store_session_data(&session.id, Some(json!("x".repeat(100))))
        .await;

    // Assert
    let Err(ClientError::BadInput { message, .. }) = result else {
        panic!("expected BadInput, got {result:?}");
    };
    assert!(message.contains("data"), "message: {message}");
    assert!(message.contains("64"), "message names the limit: {message}");
}

// ---------------------------------------------------------------------------------------------
// Unavailable

#[tokio::test]
async fn a_call_fails_with_unavailable_when_nothing_listens() {
    // Arrange: a port that was free a moment ago and has no listener now.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bound");
    let addr = listener.local_addr().expect("local address");
    drop(listener);
    let client = SessionsClient::new(&format!("http://{addr}")).expect("valid base URL");

    // Act
    let result = tokio::time::timeout(PATIENCE, client.get_session_by_id(&SessionId::random()))
        .await
        .expect("the call ended in time");

    // Assert
    let Err(error @ ClientError::Unavailable { .. }) = result else {
        panic!("expected Unavailable, got {result:?}");
    };
    assert!(
        error.correlation_id().is_some_and(|id| !id.is_empty()),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_call_fails_with_unavailable_when_the_timeout_passes_without_an_answer() {
    // Arrange: a listener that accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bound");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let client = SessionsClient::builder(&format!("http://{addr}"))
        .timeout(Duration::from_millis(200))
        .build()
        .expect("valid base URL");
    let started = Instant::now();

    // Act
    let result = tokio::time::timeout(PATIENCE, client.close_expired_sessions())
        .await
        .expect("the client gave up by itself");

    // Assert
    let elapsed = started.elapsed();
    assert!(
        matches!(result, Err(ClientError::Unavailable { .. })),
        "expected Unavailable, got {result:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(200),
        "gave up after {elapsed:?}, before the timeout"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "gave up after {elapsed:?}, long after the timeout"
    );
}

// ---------------------------------------------------------------------------------------------
// How answers map to errors (stand-in server)

#[tokio::test]
async fn each_error_answer_maps_to_the_variant_a_caller_matches_on() {
    // Arrange
    let cases = [
        (
            StatusCode::OK,
            graphql_error("NOT_FOUND", "session x not found"),
            "NotFound",
        ),
        (
            StatusCode::OK,
            graphql_error("SESSION_CLOSED", "session x is closed"),
            "SessionClosed",
        ),
        (
            StatusCode::OK,
            graphql_error("BAD_USER_INPUT", "invalid userId: no"),
            "BadInput",
        ),
        (
            StatusCode::OK,
            graphql_error("STORE_UNAVAILABLE", "try later"),
            "Unavailable",
        ),
        (
            StatusCode::BAD_GATEWAY,
            json!({ "oops": true }),
            "Unavailable",
        ),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            graphql_error("NOT_FOUND", "x"),
            "Unavailable",
        ),
        (
            StatusCode::OK,
            graphql_error("RATE_LIMITED", "slow down"),
            "Server",
        ),
        (
            StatusCode::UNAUTHORIZED,
            graphql_error("UNAUTHENTICATED", "a key is required"),
            "Unauthenticated",
        ),
        (
            StatusCode::OK,
            graphql_error("FORBIDDEN", "not with this key"),
            "Forbidden",
        ),
        (
            StatusCode::OK,
            json!({ "errors": [{ "message": "no code" }] }),
            "Server",
        ),
    ];

    for (status, body, expected) in cases {
        let stand_in = StandIn::start(status, body.clone()).await;
        let client = SessionsClient::new(&stand_in.base_url()).expect("valid base URL");

        // Act
        let result = client.close_expired_sessions().await;

        // Assert
        let variant = match &result {
            Err(ClientError::NotFound { .. }) => "NotFound",
            Err(ClientError::SessionClosed { .. }) => "SessionClosed",
            Err(ClientError::BadInput { .. }) => "BadInput",
            Err(ClientError::Unavailable { .. }) => "Unavailable",
            Err(ClientError::Server { .. }) => "Server",
            Err(ClientError::Config { .. }) => "Config",
            Err(ClientError::Unauthenticated { .. }) => "Unauthenticated",
            Err(ClientError::Forbidden { .. }) => "Forbidden",
            Ok(_) => "Ok",
        };
        assert_eq!(variant, expected, "{status} {body} gave {result:?}");
    }
}

#[tokio::test]
async fn an_unknown_error_code_is_reported_as_server_with_its_code_and_message() {
    // Arrange
    let stand_in = StandIn::start(StatusCode::OK, graphql_error("RATE_LIMITED", "slow down")).await;
    let client = SessionsClient::new(&stand_in.base_url()).expect("valid base URL");

    // Act
    let result = client.close_expired_sessions().await;

    // Assert
    let Err(ClientError::Server { code, message, .. }) = result else {
        panic!("expected Server, got {result:?}");
    };
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("RATE_LIMITED", "slow down")
    );
}

#[tokio::test]
async fn a_wrong_path_on_the_service_is_a_server_error_with_route_not_found() {
    // Arrange
    let app = spawn_app().await;
    let client = SessionsClient::new(&app.url("/nowhere/")).expect("valid base URL");

    // Act
    let result = client.close_expired_sessions().await;

    // Assert
    let Err(ClientError::Server { code, .. }) = result else {
        panic!("expected Server, got {result:?}");
    };
    assert_eq!(code, "ROUTE_NOT_FOUND");
}

#[tokio::test]
async fn a_plain_404_from_another_server_is_a_server_error_not_unavailable() {
    // Arrange: the stand-in has no route at /nowhere/graphql and answers axum's bare 404.
    let stand_in = StandIn::start(StatusCode::OK, json!({})).await;
    let base = format!("{}/nowhere/", stand_in.base_url());
    let client = SessionsClient::new(&base).expect("valid base URL");

    // Act
    let result = client.close_expired_sessions().await;

    // Assert: `Unavailable` means "retry later" (refused, timeout, 5xx); a 404 will not heal.
    let Err(ClientError::Server { message, .. }) = result else {
        panic!("expected Server, got {result:?}");
    };
    assert!(message.contains("404"), "message: {message}");
}

// ---------------------------------------------------------------------------------------------
// Correlation ids and headers

#[tokio::test]
async fn a_failed_call_reports_the_correlation_id_the_caller_chose() {
    // Arrange
    let app = spawn_app().await;
    let client = client_of(&app).with_correlation_id("abc-1");

    // Act
    let error = client
        .close_session(&SessionId::random())
        .await
        .expect_err("unknown session");

    // Assert
    assert!(matches!(error, ClientError::NotFound { .. }), "{error:?}");
    assert_eq!(error.correlation_id(), Some("abc-1"));
    assert!(error.to_string().contains("abc-1"), "{error}");
}

#[tokio::test]
async fn a_chosen_correlation_id_is_sent_as_the_x_correlation_id_header() {
    // Arrange
    let stand_in = StandIn::start(StatusCode::OK, graphql_error("NOT_FOUND", "gone")).await;
    let client = SessionsClient::new(&stand_in.base_url())
        .expect("valid base URL")
        .with_correlation_id("abc-1");

    // Act
    let error = client
        .close_session(&SessionId::random())
        .await
        .expect_err("the stand-in answers an error");

    // Assert
    assert_eq!(
        stand_in.header_values("x-correlation-id"),
        [Some("abc-1".to_owned())]
    );
    assert_eq!(error.correlation_id(), Some("abc-1"));
}

#[tokio::test]
async fn without_a_chosen_id_each_call_sends_a_fresh_one_and_a_failure_reports_it() {
    // Arrange
    let stand_in = StandIn::start(StatusCode::OK, graphql_error("NOT_FOUND", "gone")).await;
    let client = SessionsClient::new(&stand_in.base_url()).expect("valid base URL");

    // Act
    let first = client
        .close_session(&SessionId::random())
        .await
        .expect_err("the stand-in answers an error");
    let second = client
        .close_session(&SessionId::random())
        .await
        .expect_err("the stand-in answers an error");

    // Assert
    let sent = stand_in.header_values("x-correlation-id");
    let reported = [first.correlation_id(), second.correlation_id()];
    assert!(
        reported
            .iter()
            .all(|id| id.is_some_and(|id| !id.is_empty())),
        "{reported:?}"
    );
    assert_eq!(
        sent,
        reported.map(|id| id.map(str::to_owned)),
        "the reported ids are the ones sent"
    );
    assert_ne!(reported[0], reported[1], "each call gets its own id");
}

#[tokio::test]
async fn headers_set_on_the_builder_reach_the_server_with_every_call() {
    // Arrange
    let stand_in = StandIn::start(
        StatusCode::OK,
        json!({ "data": { "closeExpiredSessions": 3 } }),
    )
    .await;
    let client = SessionsClient::builder(&stand_in.base_url())
        .header(AUTHORIZATION, HeaderValue::from_static("Bearer t0ken"))
        .header(
            HeaderName::from_static("x-tenant"),
            HeaderValue::from_static("acme"),
        )
        .build()
        .expect("valid base URL");

    // Act
    let first = client.close_expired_sessions().await.expect("answered");
    let second = client
        .with_correlation_id("c-2")
        .close_expired_sessions()
        .await
        .expect("answered");

    // Assert
    assert_eq!((first, second), (3, 3));
    let bearer = Some("Bearer t0ken".to_owned());
    assert_eq!(
        stand_in.header_values("authorization"),
        [bearer.clone(), bearer]
    );
    let tenant = Some("acme".to_owned());
    assert_eq!(stand_in.header_values("x-tenant"), [tenant.clone(), tenant]);
}

// ---------------------------------------------------------------------------------------------
// Configuration

#[test]
fn an_invalid_base_url_is_a_config_error() {
    for base in ["not a url", "localhost:8080", "ftp://127.0.0.1/", ""] {
        // Act
        let result = SessionsClient::new(base);

        // Assert
        let Err(error) = result else {
            panic!("{base:?} was accepted");
        };
        assert!(
            matches!(error, ClientError::Config { .. }),
            "{base:?}: {error:?}"
        );
        assert_eq!(error.correlation_id(), None, "nothing was sent");
    }
}

#[test]
fn the_endpoint_is_graphql_at_the_root_of_a_base_url_with_or_without_a_slash() {
    for base in ["http://127.0.0.1:8080", "http://127.0.0.1:8080/"] {
        // Act
        let client = SessionsClient::new(base).expect("valid base URL");

        // Assert
        assert_eq!(client.endpoint(), "http://127.0.0.1:8080/graphql", "{base}");
    }
}

#[test]
fn the_endpoint_keeps_the_path_of_a_base_url_with_or_without_a_slash() {
    for base in [
        "http://127.0.0.1:8080/sessions",
        "http://127.0.0.1:8080/sessions/",
    ] {
        // Act
        let client = SessionsClient::new(base).expect("valid base URL");

        // Assert
        assert_eq!(
            client.endpoint(),
            "http://127.0.0.1:8080/sessions/graphql",
            "base {base}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The original client fixture's flows

#[tokio::test]
async fn the_fixture_crud_flow_opens_stores_updates_reads_and_lists_a_session() {
    // Arrange
    let app = spawn_app().await;
    let client = client_of(&app);

    // Act
    let opened = client
        .open_session(
            "1",
            Some("User 1"),
            Some("localhost"),
            Some("test"),
            None,
            Some(json!("abc")),
        )
        .await
        .expect("session opened");
    let stored = client
        .store_session_data(&opened.id, Some(json!("xyz")))
        .await
        .expect("data stored");
    let updated = client
        .update_session_user(&opened.id, Some(json!("xyz")))
        .await
        .expect("user updated");
    let read = client.get_session_by_id(&opened.id).await.expect("read");
    let active = client
        .get_sessions(user_filter("1", Some(true)), paging(0, 100, true))
        .await
        .expect("listed");

    // Assert
    assert_eq!(opened.user_id, "1");
    assert_eq!(opened.user_name.as_deref(), Some("User 1"));
    assert_eq!(opened.data, Some(json!("abc")));
    assert_eq!(opened.user, None);
    assert_eq!(stored.data, Some(json!("xyz")));
    assert_eq!(updated.user, Some(json!("xyz")));
    let read = read.expect("the session is there");
    assert!(read.active);
    assert_eq!(read.address.as_deref(), Some("localhost"));
    assert_eq!(read.client.as_deref(), Some("test"));
    assert_eq!(read.data, Some(json!("xyz")));
    assert_eq!(read.user, Some(json!("xyz")));
    assert_eq!(active.total, Some(1));
    assert_eq!(ids(&active.data), [opened.id]);
}

#[tokio::test]
async fn the_fixture_close_flow_leaves_no_active_session_for_the_user() {
    // Arrange
    let app = spawn_app().await;
    let client = client_of(&app);
    open(&client, "1").await;
    let opened = client
        .open_session(
            "2",
            Some("User 2"),
            Some("localhost"),
            Some("test"),
            None,
            None,
        )
        .await
        .expect("session opened");
    let before = client
        .get_sessions(user_filter("2", Some(true)), paging(0, 100, true))
        .await
        .expect("listed");

    // Act
    let closed = client.close_session(&opened.id).await.expect("closed");
    let active = client
        .get_sessions(user_filter("2", Some(true)), paging(0, 100, true))
        .await
        .expect("listed");

    // Assert
    assert_eq!(before.total, Some(1));
    assert!(!closed.active);
    assert_eq!(active.total, Some(0));
    assert!(active.data.is_empty(), "{:?}", active.data);
    let others = client
        .get_sessions(user_filter("1", Some(true)), paging(0, 100, true))
        .await
        .expect("listed");
    assert_eq!(others.total, Some(1), "another user's session stays open");
}
