//! `GET /metrics`, scraped as Prometheus would, in a test binary of its own: the recorder is
//! one per process, so here no other test's requests move the counters, and each can be
//! checked to move by exactly what the test did.

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use serde_json::{Value, json};
use sessions::clock::ManualClock;
use sessions::config::Config;

use helpers::{PATIENCE, POLL, TestApp, assert_no_errors, error_code, spawn_app_with};

/// Every series, by name and sorted labels (`name{a="1",b="2"}`), with its value.
type Scrape = BTreeMap<String, f64>;

/// The key of a series in a [`Scrape`].
fn series(name: &str, labels: &[(&str, &str)]) -> String {
    let mut labels = labels.to_vec();
    labels.sort_unstable();
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    if labels.is_empty() {
        name.to_owned()
    } else {
        format!("{name}{{{}}}", labels.join(","))
    }
}

/// Parse one sample line of the text format: `name{labels} value`.
fn sample(line: &str) -> (String, f64) {
    let (key, value) = line.rsplit_once(' ').expect("a value after the series");
    let value: f64 = value
        .parse()
        .unwrap_or_else(|_| panic!("not a number in {line:?}"));
    let Some((name, labels)) = key.split_once('{') else {
        return (key.to_owned(), value);
    };
    let labels: Vec<(&str, &str)> = labels
        .trim_end_matches('}')
        .split(',')
        .map(|pair| {
            let (k, v) = pair.split_once('=').expect("label=value");
            (k, v.trim_matches('"'))
        })
        .collect();
    (series(name, &labels), value)
}

async fn scrape(app: &TestApp) -> Scrape {
    let response = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("scraped");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("text")
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.expect("body");
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(sample)
        .collect()
}

/// The value of a series, which must exist.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let key = series(name, labels);
    *scrape
        .get(&key)
        .unwrap_or_else(|| panic!("{key} is not exported"))
}

async fn mutation(app: &TestApp, query: &str, variables: Value) -> Value {
    app.graphql(query, variables).await
}

/// The series every scrape must have, even before anything happened, with zero values where
/// nothing can have happened yet.
fn assert_exported_from_the_start(first: &Scrape) {
    let zero = |name: &str, labels: &[(&str, &str)]| {
        assert_eq!(
            value(first, name, labels),
            0.0,
            "{} is not 0",
            series(name, labels)
        );
    };
    for name in [
        "sessions_opened_total",
        "sessions_deleted_total",
        "sessions_cleanup_runs_total",
    ] {
        zero(name, &[]);
    }
    zero("sessions_cleanup_closed_total", &[]);
    zero("sessions_cleanup_duration_seconds_count", &[]);
    for reason in [
        "LOGOUT",
        "IDLE_TIMEOUT",
        "MAX_LIFETIME",
        "REVOKED",
        "EVICTED",
    ] {
        zero("sessions_closed_total", &[("reason", reason)]);
    }
    zero("sessions_active", &[]);
    for kind in ["query", "mutation", "subscription"] {
        for outcome in ["ok", "error"] {
            zero(
                "sessions_graphql_operations_total",
                &[("type", kind), ("outcome", outcome)],
            );
        }
        zero(
            "sessions_graphql_operation_duration_seconds_count",
            &[("type", kind)],
        );
    }
    for operation in [
        "insert",
        "get",
        "list",
        "update_open",
        "close",
        "delete",
        "ping",
    ] {
        let labels = [("store", "memory"), ("operation", operation)];
        zero("sessions_store_operation_duration_seconds_count", &labels);
        zero("sessions_store_errors_total", &labels);
    }
    for (method, route) in [
        ("POST", "/graphql"),
        ("GET", "/ready"),
        ("POST", "/v1/sessions/{command}"),
    ] {
        zero(
            "sessions_http_requests_total",
            &[("method", method), ("route", route), ("status", "200")],
        );
        zero(
            "sessions_http_requests_total",
            &[("method", method), ("route", route), ("status", "500")],
        );
        zero(
            "sessions_http_request_duration_seconds_count",
            &[("method", method), ("route", route)],
        );
    }
    for name in ["process_resident_memory_bytes", "process_open_fds"] {
        assert!(value(first, name, &[]) > 0.0, "{name} is not measured");
    }
    value(first, "process_cpu_seconds_total", &[]);
}

#[tokio::test]
async fn every_series_starts_at_zero_and_moves_by_exactly_the_operations_run() {
    // Arrange: a manual clock, so that only the test decides when sessions expire; the
    // cleanup looks every 100 ms.
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let mut config = Config::for_tests();
    config.cleanup_interval = Duration::from_millis(100);
    config.expire_timeout = Duration::from_secs(3600);
    let app = spawn_app_with(config, clock.clone()).await;
    let before = scrape(&app).await;
    assert_exported_from_the_start(&before);

    // Act: three opens (two GraphQL, one REST), a read, a close, a repeated close, a delete,
    // a close of an unknown session, a document that does not parse, one that does not
    // validate, and a request for a route that does not exist.
    let first = app.open_session("metrics-1").await;
    let second = app.open_session("metrics-1").await;
    let read = app
        .graphql(
            "query($id: ID!) { session(id: $id) { id } }",
            json!({ "id": first["id"] }),
        )
        .await;
    assert_no_errors(&read);
    let close = "mutation($id: ID!) { closeSession(sessionId: $id) { active } }";
    assert_no_errors(&mutation(&app, close, json!({ "id": first["id"] })).await);
    assert_no_errors(&mutation(&app, close, json!({ "id": first["id"] })).await);
    let delete = "mutation($id: ID!) { deleteSession(sessionId: $id) { id } }";
    assert_no_errors(&mutation(&app, delete, json!({ "id": second["id"] })).await);
    let unknown = mutation(
        &app,
        close,
        json!({ "id": "0123456789abcdef0123456789abcdef" }),
    )
    .await;
    assert_eq!(error_code(&unknown), Some("NOT_FOUND"), "{unknown}");
    let unparsable = app.graphql("{ session(", json!({})).await;
    assert_eq!(
        error_code(&unparsable),
        Some("GRAPHQL_PARSE_FAILED"),
        "{unparsable}"
    );
    let invalid = app.graphql("{ nope }", json!({})).await;
    assert_eq!(
        error_code(&invalid),
        Some("GRAPHQL_VALIDATION_FAILED"),
        "{invalid}"
    );
    let rest = app
        .client
        .post(app.url("/v1/sessions/open_session"))
        .json(&json!({ "user_id": "metrics-2" }))
        .send()
        .await
        .expect("answered");
    assert_eq!(rest.status(), 200);
    let missing = app
        .client
        .get(app.url("/no/such/route/42"))
        .send()
        .await
        .expect("answered");
    assert_eq!(missing.status(), 404);
    let after = scrape(&app).await;

    // Assert: each series moved by exactly what the test did.
    let moved = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    assert_eq!(moved("sessions_opened_total", &[]), 3.0);
    assert_eq!(moved("sessions_closed_total", &[("reason", "LOGOUT")]), 1.0);
    assert_eq!(moved("sessions_deleted_total", &[]), 1.0);
    assert_eq!(value(&after, "sessions_active", &[]), 1.0);
    let operations = |kind, outcome| {
        moved(
            "sessions_graphql_operations_total",
            &[("type", kind), ("outcome", outcome)],
        )
    };
    assert_eq!(operations("mutation", "ok"), 5.0);
    assert_eq!(operations("mutation", "error"), 1.0);
    assert_eq!(operations("query", "ok"), 1.0);
    assert_eq!(operations("query", "error"), 1.0);
    assert_eq!(operations("unknown", "error"), 1.0);
    assert_eq!(
        moved(
            "sessions_graphql_operation_duration_seconds_count",
            &[("type", "mutation")]
        ),
        6.0
    );
    let requests = |method, route, status| {
        moved(
            "sessions_http_requests_total",
            &[("method", method), ("route", route), ("status", status)],
        )
    };
    assert_eq!(requests("POST", "/graphql", "200"), 9.0);
    assert_eq!(requests("POST", "/v1/sessions/{command}", "200"), 1.0);
    assert_eq!(requests("GET", "unmatched", "404"), 1.0);
    assert_eq!(
        requests("GET", "/metrics", "200"),
        1.0,
        "the first scrape; the second counts once answered"
    );
    assert!(
        after
            .keys()
            .all(|key| !key.contains("open_session") && !key.contains("/no/such")),
        "a raw path became a label"
    );
    let durations = |method, route| {
        moved(
            "sessions_http_request_duration_seconds_count",
            &[("method", method), ("route", route)],
        )
    };
    assert_eq!(durations("POST", "/graphql"), 9.0);
    let store = |operation| {
        moved(
            "sessions_store_operation_duration_seconds_count",
            &[("store", "memory"), ("operation", operation)],
        )
    };
    assert_eq!(store("insert"), 3.0);
    assert_eq!(store("get"), 1.0);
    assert_eq!(store("close"), 3.0);
    assert_eq!(store("delete"), 1.0);
    assert_eq!(
        moved(
            "sessions_store_errors_total",
            &[("store", "memory"), ("operation", "insert")]
        ),
        0.0
    );

    // Act: two hours on, the cleanup closes the one session still open.
    clock.advance(TimeDelta::hours(2));
    let deadline = Instant::now() + PATIENCE;
    let cleaned = loop {
        let now = scrape(&app).await;
        if value(&now, "sessions_cleanup_closed_total", &[]) > 0.0 || Instant::now() > deadline {
            break now;
        }
        tokio::time::sleep(POLL).await;
    };

    // Assert
    let moved = |name: &str, labels: &[(&str, &str)]| {
        value(&cleaned, name, labels) - value(&after, name, labels)
    };
    assert_eq!(moved("sessions_cleanup_closed_total", &[]), 1.0);
    assert_eq!(
        moved("sessions_closed_total", &[("reason", "IDLE_TIMEOUT")]),
        1.0
    );
    assert_eq!(value(&cleaned, "sessions_active", &[]), 0.0);
    assert!(value(&cleaned, "sessions_cleanup_runs_total", &[]) >= 1.0);
    assert!(value(&cleaned, "sessions_cleanup_duration_seconds_count", &[]) >= 1.0);
}
