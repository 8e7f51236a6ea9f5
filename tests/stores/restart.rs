//! SQLite keeps every acknowledged change through a SIGKILL: restart on the same file and
//! everything the clients were told is there, field for field.

use futures::future::join_all;
use serde_json::{Value, json};

use crate::server::{FIELDS, Server, open_full};
use crate::support::Backend;

/// Change session number `n` through `server` in one of five ways; what the server answered
/// it now is (null once deleted).
async fn change(server: &Server, n: usize, session: &Value) -> Value {
    let id = &session["id"];
    let (query, variables, field) = match n % 5 {
        0 => (
            "mutation($id: ID!, $d: JSON) { storeSessionData(sessionId: $id, data: $d) { FIELDS } }",
            json!({"id": id, "d": {"step": n, "items": [1, 2, 3], "deep": {"x": null}}}),
            "storeSessionData",
        ),
        1 => (
            "mutation($id: ID!, $u: JSON) { updateSessionUser(sessionId: $id, user: $u) { FIELDS } }",
            json!({"id": id, "u": ["a", 1.5, true, null, {"n": n}]}),
            "updateSessionUser",
        ),
        2 => (
            "mutation($id: ID!) { closeSession(sessionId: $id) { FIELDS } }",
            json!({"id": id}),
            "closeSession",
        ),
        3 => (
            "mutation($id: ID!) { deleteSession(sessionId: $id) { id } }",
            json!({"id": id}),
            "deleteSession",
        ),
        _ => return session.clone(),
    };
    let answer = server
        .ok(&query.replace("FIELDS", FIELDS), variables, field)
        .await;
    if field == "deleteSession" {
        assert_eq!(answer["id"], *id);
        return Value::Null;
    }
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_change_survives_a_sigkill_and_a_restart_on_sqlite() {
    // Arrange: a file in folders that do not exist yet.
    let backend = Backend::sqlite();
    let file = backend.sqlite_file().expect("a SQLite backend");
    let server = Server::start(&backend.url(), &[]);
    assert!(file.exists(), "{} was not created", file.display());

    // Act: concurrent opens, then concurrent changes; SIGKILL as soon as all are answered.
    let opened = join_all((0..40).map(|n| open_full(&server, format!("user{}", n % 4), n))).await;
    let expected = join_all(
        opened
            .iter()
            .enumerate()
            .map(|(n, s)| change(&server, n, s)),
    )
    .await;
    server.kill();
    let server = Server::start(&backend.url(), &[]);

    // Assert: every session reads back exactly as last acknowledged.
    for (session, want) in opened.iter().zip(&expected) {
        let got = server.session(&session["id"]).await;
        assert_eq!(&got, want, "session {} after the restart", session["id"]);
    }
    let kept: Vec<&Value> = expected.iter().filter(|s| !s.is_null()).collect();
    let active = kept.iter().filter(|s| s["active"] == true).count();
    let (status, body) = server.get("/status").await;
    let status_body: Value = serde_json::from_str(&body).expect("status is JSON");
    assert_eq!(status, 200, "{body}");
    assert_eq!(status_body["store"]["kind"], "sqlite");
    assert_eq!(
        status_body["sessions"],
        json!({"active": active, "total": kept.len()})
    );
    let listed = server
        .ok(
            &format!(
                "{{ sessions(filter: {{userId: \"user1\"}}, paging: {{total: true}}) \
                   {{ total data {{ {FIELDS} }} }} }}"
            ),
            json!({}),
            "sessions",
        )
        .await;
    let users_sessions = kept.iter().filter(|s| s["userId"] == "user1").count();
    assert_eq!(listed["total"], json!(users_sessions));
    for session in listed["data"].as_array().expect("a list") {
        assert!(
            kept.contains(&session),
            "listed {session} was not acknowledged"
        );
    }
}
