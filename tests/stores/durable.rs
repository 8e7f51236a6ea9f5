//! The durable stores' write path at the store itself: SQLite commits concurrent writes
//! together (group commit) and answers each only once it is committed, one failing write does
//! not fail the others in its commit, and PostgreSQL replaces connections the database ended
//! without a request seeing an error.
//!
//! Nothing here depends on timing: concurrent writes may or may not share a commit, and every
//! assertion holds either way.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::join_all;
use serde_json::json;
use sessions::model::{
    Admission, Cutoffs, LimitPolicy, NewSession, Session, SessionChange, SessionId, UserLimit,
};
use sessions::store::{SessionStore, StoreError, StoreUrl};
use sqlx::{Connection, PgConnection};

use crate::support::Backend;

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_700_000_000_000 + ms).expect("valid time")
}

fn session(user: &str, n: i64) -> Session {
    let new = NewSession {
        user_id: user.into(),
        user_name: None,
        address: None,
        client: None,
        user: None,
        data: Some(json!({ "n": n })),
    };
    Session::open(SessionId::random(), new, at(n))
}

/// Cutoffs under which nothing opened in these tests is expired.
fn nothing_expired() -> Cutoffs {
    Cutoffs {
        idle: at(-1_000_000),
        lifetime: None,
    }
}

#[tokio::test]
async fn every_write_acknowledged_under_concurrency_is_committed_on_sqlite() {
    let backend = Backend::sqlite();
    let store = backend.open().await;
    let sessions: Vec<Session> = (0..300)
        .map(|n| session(&format!("u{}", n % 7), n))
        .collect();

    // Inserts, then data updates, each wave all at once: the writer takes them in batches.
    let inserted = join_all(sessions.iter().map(|s| store.insert(s))).await;
    let updated = join_all(sessions.iter().enumerate().map(|(n, s)| {
        let change = SessionChange::Data(Some(json!({ "step": n })));
        store.update_open(&s.id, change, at(10_000), nothing_expired())
    }))
    .await;
    // A second store on the same file has connections of its own: it sees only what was
    // committed (and, with `synchronous = FULL`, synced) to the file.
    let reopened = backend.open().await;

    for ((session, inserted), (n, updated)) in sessions
        .iter()
        .zip(inserted)
        .zip(updated.into_iter().enumerate())
    {
        inserted.expect("insert acknowledged");
        let updated = updated.expect("update acknowledged").expect("open session");
        assert_eq!(updated.data, Some(json!({ "step": n })));
        let stored = reopened.get(&session.id).await.expect("get succeeds");
        assert_eq!(
            stored.as_ref(),
            Some(&updated),
            "session {n} after reopening"
        );
    }
    let counts = reopened.counts().await.expect("counts");
    assert_eq!(counts.total, 300);
}

#[tokio::test]
async fn a_failing_write_does_not_fail_the_others_committed_with_it_on_sqlite() {
    let backend = Backend::sqlite();
    let store = backend.open().await;
    let limit = UserLimit {
        max: 2,
        policy: LimitPolicy::EvictOldest,
    };
    let taken = session("dup", 0);
    store.insert(&taken).await.expect("first insert");
    let (oldest, newer) = (session("limited", 1), session("limited", 2));
    for s in [&oldest, &newer] {
        store.insert(s).await.expect("insert");
    }
    // A limited open whose insert fails (its id is taken) after it evicted `oldest`: the
    // eviction must be undone with it.
    let duplicate_admission = Session {
        id: taken.id,
        ..session("limited", 3)
    };
    let others: Vec<Session> = (10..60).map(|n| session("other", n)).collect();

    let failing_insert = store.insert(&taken);
    let failing_admission = store.insert_limited(&duplicate_admission, limit, nothing_expired());
    let (failed, refused, inserted) = tokio::join!(
        failing_insert,
        failing_admission,
        join_all(others.iter().map(|s| store.insert(s)))
    );

    assert!(
        matches!(failed, Err(StoreError::Duplicate(id)) if id == taken.id),
        "{failed:?}"
    );
    assert!(
        matches!(refused, Err(StoreError::Duplicate(id)) if id == taken.id),
        "{refused:?}"
    );
    for (session, result) in others.iter().zip(inserted) {
        result.expect("the other writes succeed");
        let stored = store.get(&session.id).await.expect("get");
        assert_eq!(stored.as_ref(), Some(session));
    }
    let oldest_now = store.get(&oldest.id).await.expect("get").expect("kept");
    assert!(
        oldest_now.active,
        "the failed admission's eviction was undone"
    );
    let stored_taken = store.get(&taken.id).await.expect("get").expect("kept");
    assert_eq!(stored_taken, taken, "the duplicate changed nothing");
    // And the store still admits: the limit evicts `oldest` now.
    let admitted = store
        .insert_limited(&session("limited", 4), limit, nothing_expired())
        .await
        .expect("admits");
    assert!(
        matches!(&admitted, Admission::Opened { evicted, .. } if evicted == &vec![oldest.id]),
        "{admitted:?}"
    );
}

#[tokio::test]
async fn closing_many_expired_sessions_on_sqlite_closes_each_once_across_steps() {
    let backend = Backend::sqlite();
    let store = backend.open().await;
    // More than one expiry step (1 000 sessions), loaded in one go.
    let sessions: Vec<Session> = (0..2_345)
        .map(|n| session(&format!("u{}", n % 50), n))
        .collect();
    for chunk in sessions.chunks(500) {
        for result in join_all(chunk.iter().map(|s| store.insert(s))).await {
            result.expect("insert");
        }
    }
    let keep = session("fresh", 1_000_000);
    store.insert(&keep).await.expect("insert");
    let cutoffs = Cutoffs {
        idle: at(500_000),
        lifetime: None,
    };

    let closed = store
        .close_expired(cutoffs, at(1_000_001))
        .await
        .expect("closes");

    let mut ids: Vec<SessionId> = closed.iter().map(|c| c.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        sessions.len(),
        "each expired session closed once"
    );
    assert_eq!(closed.len(), sessions.len());
    let counts = store.counts().await.expect("counts");
    assert_eq!((counts.active, counts.total), (1, 2_346));
}

/// End every connection `application_name` has to the test database; how many it ended.
pub async fn terminate(backend: &Backend, application_name: &str) -> usize {
    let mut admin = PgConnection::connect(backend.admin_url().expect("postgres"))
        .await
        .expect("admin connects");
    let terminated: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
    )
    .bind(application_name)
    .fetch_all(&mut admin)
    .await
    .expect("terminates");
    let _ = admin.close().await;
    assert!(terminated.iter().all(|(done,)| *done), "{terminated:?}");
    terminated.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_the_database_ended_are_replaced_without_a_failed_request_on_postgres() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let name = format!("sessions-{}", uuid::Uuid::new_v4().simple());
    let url = format!("{}&application_name={name}", backend.url().expose());
    let store: Arc<dyn SessionStore> = sessions::store::open(&StoreUrl::new(url))
        .await
        .expect("opens");
    let sessions: Vec<Session> = (0..8).map(|n| session("pg", n)).collect();
    // Concurrent requests open several connections, all idle afterwards.
    for result in join_all(sessions.iter().map(|s| store.insert(s))).await {
        result.expect("insert");
    }

    let ended = terminate(&backend, &name).await;
    let reads = join_all(sessions.iter().map(|s| store.get(&s.id))).await;
    let ended_again = terminate(&backend, &name).await;
    let writes = join_all(sessions.iter().map(|s| {
        let change = SessionChange::Data(Some(json!("after")));
        store.update_open(&s.id, change, at(100), nothing_expired())
    }))
    .await;

    assert!(ended > 1, "the store held {ended} connection(s)");
    assert!(ended_again > 0);
    for (session, read) in sessions.iter().zip(reads) {
        assert_eq!(read.expect("read succeeds").as_ref(), Some(session));
    }
    for write in writes {
        let updated = write.expect("write succeeds").expect("open session");
        assert_eq!(updated.data, Some(json!("after")));
    }
    drop(store);
    backend.cleanup().await;
}

#[tokio::test]
async fn after_postgres_ends_the_connections_a_ping_and_a_close_succeed_at_once() {
    // An outage (the database away for a while) is covered over HTTP in `outage.rs`.
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let name = format!("sessions-{}", uuid::Uuid::new_v4().simple());
    let url = format!("{}&application_name={name}", backend.url().expose());
    let store = sessions::store::open(&StoreUrl::new(url))
        .await
        .expect("opens");
    let s = session("pg", 1);
    store.insert(&s).await.expect("insert");

    terminate(&backend, &name).await;
    let pinged = store.ping().await;
    terminate(&backend, &name).await;
    let later = s.request_time + TimeDelta::seconds(1);
    let closed = store
        .close(&s.id, later, sessions::model::CloseReason::Logout, "test")
        .await;

    pinged.expect("ping succeeds on a new connection");
    let closing = closed.expect("close succeeds").expect("known session");
    assert!(closing.closed_now);
    drop(store);
    backend.cleanup().await;
}
