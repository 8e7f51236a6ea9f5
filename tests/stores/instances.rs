//! Two server processes on one PostgreSQL database behave as one service.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::join_all;
use serde_json::{Value, json};

use crate::server::{FIELDS, Server, open_full};
use crate::support::Backend;

const CLOSE: &str = "mutation($id: ID!) { closeSession(sessionId: $id) { FIELDS } }";
const STORE: &str =
    "mutation($id: ID!, $d: JSON) { storeSessionData(sessionId: $id, data: $d) { FIELDS } }";
const EXPIRE: &str = "mutation { closeExpiredSessions }";

fn time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("not a time: {value}"))
}

/// The `/status` counts of `server`.
async fn counts(server: &Server) -> Value {
    let (status, body) = server.get("/status").await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).expect("JSON status");
    assert_eq!(body["store"]["kind"], "postgres");
    body["sessions"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_opened_through_one_instance_is_read_listed_changed_and_closed_through_another() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let (a, b) = (
        Server::start(&backend.url(), &[]),
        Server::start(&backend.url(), &[]),
    );

    let opened = open_full(&a, "shared-user".into(), 1).await;
    let id = opened["id"].clone();
    let read_by_b = b.session(&id).await;
    let listed_by_b = b
        .ok(
            &format!(
                "{{ sessions(filter: {{userId: \"shared-user\"}}, paging: {{total: true}}) \
                   {{ total data {{ {FIELDS} }} }} }}"
            ),
            json!({}),
            "sessions",
        )
        .await;
    let stored_by_b = b
        .ok(
            &STORE.replace("FIELDS", FIELDS),
            json!({"id": id, "d": {"via": "b"}}),
            "storeSessionData",
        )
        .await;
    let read_by_a = a.session(&id).await;
    let closed_by_b = b
        .ok(
            &CLOSE.replace("FIELDS", FIELDS),
            json!({"id": id}),
            "closeSession",
        )
        .await;
    let refused_by_a = a
        .graphql(
            &STORE.replace("FIELDS", FIELDS),
            json!({"id": id, "d": {"via": "a"}}),
        )
        .await;

    assert_eq!(read_by_b, opened);
    assert_eq!(listed_by_b, json!({"total": 1, "data": [opened]}));
    assert_eq!(stored_by_b["data"], json!({"via": "b"}));
    assert_eq!(read_by_a, stored_by_b);
    assert_eq!(closed_by_b["active"], false);
    assert_eq!(a.session(&id).await, closed_by_b);
    assert_eq!(
        refused_by_a["errors"][0]["extensions"]["code"], "SESSION_CLOSED",
        "{refused_by_a}"
    );
    assert_eq!(counts(&a).await, json!({"active": 0, "total": 1}));
    assert_eq!(counts(&b).await, json!({"active": 0, "total": 1}));
    drop((a, b));
    backend.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_closing_expired_sessions_at_the_same_moment_close_each_once() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    // Sessions expire after a second; the background cleanup stays out of the way.
    let args = ["--expire-timeout", "1s", "--cleanup-interval", "1h"];
    let (a, b) = (
        Server::start(&backend.url(), &args),
        Server::start(&backend.url(), &args),
    );
    let opened = join_all((0..100).map(|n| {
        let server = if n % 2 == 0 { &a } else { &b };
        open_full(server, format!("user{}", n % 7), n)
    }))
    .await;

    // Wait until the newest session is more than a second old, by the sessions' own times.
    let newest = opened.iter().map(|s| time(&s["requestTime"])).max();
    let expired_at = newest.expect("sessions") + Duration::from_millis(1_100);
    let wait = (expired_at - Utc::now()).to_std().unwrap_or_default();
    assert!(
        wait <= Duration::from_secs(30),
        "sessions are from the future"
    );
    tokio::time::sleep(wait).await;
    let (from_a, from_b) = tokio::join!(a.graphql(EXPIRE, json!({})), b.graphql(EXPIRE, json!({})));

    let closed_by_a = from_a["data"]["closeExpiredSessions"].as_u64();
    let closed_by_b = from_b["data"]["closeExpiredSessions"].as_u64();
    let (closed_by_a, closed_by_b) = (
        closed_by_a.unwrap_or_else(|| panic!("{from_a}")),
        closed_by_b.unwrap_or_else(|| panic!("{from_b}")),
    );
    assert_eq!(
        closed_by_a + closed_by_b,
        100,
        "{closed_by_a} + {closed_by_b}"
    );
    for session in &opened {
        let now = a.session(&session["id"]).await;
        assert_eq!(now["active"], false, "{now}");
        assert_eq!(now["closeTime"], now["requestTime"]);
        assert_eq!(
            (now["user"].clone(), now["data"].clone()),
            (Value::Null, Value::Null)
        );
    }
    assert_eq!(counts(&b).await, json!({"active": 0, "total": 100}));
    drop((a, b));
    backend.cleanup().await;
}

const OPEN_SHARED: &str = "mutation { openSession(input: {userId: \"shared-user\"}) { id } }";

/// Open 50 sessions for one user at once, alternating between `a` and `b`; the answers.
async fn open_fifty_at_once(a: &Server, b: &Server) -> Vec<Value> {
    join_all((0..50).map(|n| {
        let server = if n % 2 == 0 { a } else { b };
        server.graphql(OPEN_SHARED, json!({}))
    }))
    .await
}

/// The shared user's sessions as `server` lists them: how many, and each one's close reason.
async fn shared_user_sessions(server: &Server) -> (u64, Vec<Value>) {
    let query = "{ sessions(filter: {userId: \"shared-user\"}, paging: {total: true}) \
                 { total data { active closeReason } } }";
    let page = server.ok(query, json!({}), "sessions").await;
    let total = page["total"].as_u64().unwrap_or_else(|| panic!("{page}"));
    let reasons = page["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{page}"))
        .iter()
        .map(|s| s["closeReason"].clone())
        .collect();
    (total, reasons)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_opens_for_one_user_over_two_instances_leave_exactly_the_limit_open() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let args = ["--max-sessions-per-user", "3"];
    let (a, b) = (
        Server::start(&backend.url(), &args),
        Server::start(&backend.url(), &args),
    );

    let answers = open_fifty_at_once(&a, &b).await;

    for answer in &answers {
        assert!(
            answer.get("errors").is_none(),
            "every open succeeds: {answer}"
        );
    }
    let (total, reasons) = shared_user_sessions(&b).await;
    assert_eq!(total, 50);
    let evicted = reasons.iter().filter(|r| *r == "EVICTED").count();
    let open = reasons.iter().filter(|r| r.is_null()).count();
    assert_eq!((open, evicted), (3, 47), "{reasons:?}");
    assert_eq!(counts(&a).await, json!({"active": 3, "total": 50}));
    drop((a, b));
    backend.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_opens_for_one_user_over_two_instances_under_deny_let_exactly_the_limit_succeed()
 {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let args = [
        "--max-sessions-per-user",
        "3",
        "--session-limit-policy",
        "deny",
    ];
    let (a, b) = (
        Server::start(&backend.url(), &args),
        Server::start(&backend.url(), &args),
    );

    let answers = open_fifty_at_once(&a, &b).await;

    let codes: Vec<&str> = answers
        .iter()
        .filter_map(|answer| answer["errors"][0]["extensions"]["code"].as_str())
        .collect();
    assert_eq!(codes.len(), 47, "{answers:?}");
    assert!(
        codes.iter().all(|c| *c == "SESSION_LIMIT_REACHED"),
        "{codes:?}"
    );
    let (total, reasons) = shared_user_sessions(&a).await;
    assert_eq!(total, 3);
    assert!(reasons.iter().all(Value::is_null), "{reasons:?}");
    assert_eq!(counts(&b).await, json!({"active": 3, "total": 3}));
    drop((a, b));
    backend.cleanup().await;
}
