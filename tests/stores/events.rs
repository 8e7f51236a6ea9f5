//! Session events between two server processes on one PostgreSQL database (issue 11).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

use crate::server::{Server, open_full};
use crate::support::Backend;
use crate::ws::{Next, Ws};

/// Subscribe to every session event on `server` and wait until the subscription runs.
async fn watch(server: &Server) -> Ws {
    let mut ws = Ws::ready(server.addr).await;
    ws.subscribe("1", "").await;
    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(ws.json().await["type"], "pong");
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_caused_on_one_instance_reaches_a_subscriber_of_another_within_a_second() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let (a, b) = (
        Server::start(&backend.url(), &[]),
        Server::start(&backend.url(), &[]),
    );
    let mut on_b = watch(&b).await;

    let start = Instant::now();
    let opened = open_full(&a, "across".into(), 1).await;
    let event = on_b.event("1").await;
    let took = start.elapsed();

    assert_eq!(event["kind"], "OPENED");
    assert_eq!(event["sessionId"], opened["id"]);
    // B re-read the session from the shared database.
    assert_eq!(event["session"]["id"], opened["id"]);
    assert!(took < Duration::from_secs(1), "took {took:?}");
    let close = "mutation($id: ID!) { closeSession(sessionId: $id) { id } }";
    b.ok(close, json!({ "id": opened["id"] }), "closeSession")
        .await;
    let closed = on_b.event("1").await;
    assert_eq!(
        (&closed["kind"], &closed["reason"]),
        (&json!("CLOSED"), &json!("LOGOUT"))
    );
    drop((a, b));
    backend.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_event_feeds_connection_ends_subscriptions_with_events_lost_and_then_recovers() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let server = Server::start(&backend.url(), &[]);
    let mut ws = watch(&server).await;

    let mut admin = PgConnection::connect(backend.admin_url().expect("PostgreSQL"))
        .await
        .expect("admin connects");
    let pattern = format!("LISTEN %{}%", backend.schema().expect("PostgreSQL"));
    let (killed,): (i64,) = sqlx::query_as(
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE $1",
    )
    .bind(&pattern)
    .fetch_one(&mut admin)
    .await
    .expect("terminates");
    assert_eq!(killed, 1, "one listening connection");

    let lost = ws.json().await;
    assert_eq!(lost["type"], "next", "{lost}");
    assert_eq!(
        lost["payload"]["errors"][0]["extensions"]["code"],
        "EVENTS_LOST"
    );
    assert_eq!(ws.json().await["type"], "complete");

    // The feed reconnects: a new subscription hears new events again.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut heard = false;
    while !heard && Instant::now() < deadline {
        let mut again = watch(&server).await;
        let opened = open_full(&server, "after".into(), 1).await;
        loop {
            match again.next_within(Duration::from_secs(2)).await {
                Some(Next::Json(m))
                    if m["payload"]["data"]["sessionEvents"]["sessionId"] == opened["id"] =>
                {
                    heard = true;
                    break;
                }
                Some(Next::Json(_)) => continue,
                _ => break,
            }
        }
    }
    assert!(heard, "no event after the feed came back");
    let _ = admin.close().await;
    drop(server);
    backend.cleanup().await;
}

/// The latency of events across two instances: run with
/// `cargo test --test stores -- --ignored --nocapture event_latency`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a test"]
async fn event_latency_across_two_instances() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let (a, b) = (
        Server::start(&backend.url(), &[]),
        Server::start(&backend.url(), &[]),
    );
    let mut on_b = watch(&b).await;
    let mut latencies = Vec::with_capacity(1000);
    let store = "mutation($id: ID!) { storeSessionData(sessionId: $id, data: 1) { id } }";
    let opened = open_full(&a, "latency".into(), 1).await;
    on_b.event("1").await;
    for _ in 0..1000 {
        let start = Instant::now();
        let body: Value = a.graphql(store, json!({ "id": opened["id"] })).await;
        assert!(body.get("errors").is_none(), "{body}");
        on_b.event("1").await;
        latencies.push(start.elapsed());
    }
    latencies.sort();
    println!(
        "event latency A -> B over 1000 events (from the mutation's request): median {:?}, p99 {:?}, max {:?}",
        latencies[500], latencies[990], latencies[999]
    );
    drop((a, b));
    backend.cleanup().await;
}
