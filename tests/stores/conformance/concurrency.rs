//! Many requests at once: no lost update, no half-applied change, each session closed once.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;
use sessions::controller::{ControllerOptions, Paging, SessionsController};
use sessions::error::SessionError;
use sessions::model::{SessionCounts, SessionId};

use super::{Fixture, all, counted, ms, new_session, of_user};
use crate::support::Backend;

pub async fn concurrent_opens_give_distinct_readable_sessions(backend: &Backend) {
    let f = Fixture::new(backend).await;

    let opens = (0..500).map(|i| {
        let controller = f.controller.clone();
        tokio::spawn(async move {
            controller
                .open(new_session(&format!("user{}", i % 7)))
                .await
        })
    });
    let results = futures::future::join_all(opens).await;

    let opened: Vec<_> = results
        .into_iter()
        .map(|r| r.expect("task finishes").expect("opens"))
        .collect();
    let ids: HashSet<SessionId> = opened.iter().map(|s| s.id).collect();
    assert_eq!(ids.len(), 500);
    for session in &opened {
        assert_eq!(&f.session(session.id).await, session);
    }
    assert_eq!(
        f.counts().await,
        SessionCounts {
            active: 500,
            total: 500
        }
    );
    assert_eq!(f.list(&all(), counted(0, 0)).await.total, Some(500));
    let mut per_user = 0;
    for user in 0..7 {
        let filter = of_user(&format!("user{user}"));
        per_user += f.list(&filter, counted(0, 0)).await.total.unwrap_or(0);
    }
    assert_eq!(per_user, 500);
}

pub async fn concurrent_data_stores_on_one_session_leave_it_consistent(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let target = f.open("alice").await;
    let bystander = f.open("alice").await;

    let writes = (0..200).map(|i| {
        let (controller, clock, id) = (f.controller.clone(), f.clock.clone(), target.id);
        tokio::spawn(async move {
            clock.advance(ms(1));
            let written = controller.store_data(&id, Some(json!({"n": i}))).await;
            (i, written)
        })
    });
    let results = futures::future::join_all(writes).await;

    let mut latest = target.request_time;
    for result in results {
        let (i, written) = result.expect("task finishes");
        let written = written.expect("store succeeds");
        assert_eq!(written.data, Some(json!({"n": i})));
        latest = latest.max(written.request_time);
    }
    let stored = f.session(target.id).await;
    let n = stored.data.as_ref().and_then(|d| d["n"].as_i64());
    assert!(
        n.is_some_and(|n| (0..200).contains(&n)),
        "{:?}",
        stored.data
    );
    assert_eq!(stored.request_time, latest);
    let listed = f.list(&of_user("alice"), Paging::default()).await.data;
    assert_eq!(listed, vec![stored, f.session(bystander.id).await]);
}

pub async fn no_data_store_lands_after_a_concurrent_close(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let session = f.open("alice").await;

    let stores = (0..100).map(|i| {
        let (controller, clock, id) = (f.controller.clone(), f.clock.clone(), session.id);
        tokio::spawn(async move {
            clock.advance(ms(1));
            controller.store_data(&id, Some(json!(i))).await
        })
    });
    let closer = {
        let (controller, id) = (f.controller.clone(), session.id);
        tokio::spawn(async move { controller.close(&id).await })
    };
    let results = futures::future::join_all(stores).await;
    let closed = closer.await.expect("task finishes").expect("closes");

    for result in results {
        match result.expect("task finishes") {
            Ok(stored) => assert!(stored.active),
            Err(SessionError::Closed(id)) => assert_eq!(id, session.id),
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    let stored = f.session(session.id).await;
    assert_eq!(stored, closed);
    assert_eq!((stored.active, stored.data), (false, None));
}

pub async fn two_instances_closing_expired_sessions_at_once_close_each_once(backend: &Backend) {
    let options = ControllerOptions {
        expire_timeout: Duration::from_secs(1),
        ..ControllerOptions::default()
    };
    let f = Fixture::with_options(backend, options.clone()).await;
    // A second store over the same data, as another instance of the service would have.
    let other = SessionsController::with_clock(backend.open().await, options, f.clock.clone());
    let mut opened = Vec::new();
    for i in 0..200 {
        opened.push(f.open(&format!("user{}", i % 5)).await);
    }
    f.advance(ms(2_000));
    let fresh = f.open("user0").await;

    let (first, second) = tokio::join!(f.controller.close_expired(), other.close_expired());

    let (first, second) = (first.expect("expires"), second.expect("expires"));
    assert_eq!(first + second, 200, "closed {first} + {second}");
    for session in &opened {
        let closed = f.session(session.id).await;
        assert!(!closed.active);
        assert_eq!(closed.close_time, Some(f.now()));
    }
    assert!(f.session(fresh.id).await.active);
    assert_eq!(
        f.counts().await,
        SessionCounts {
            active: 1,
            total: 201
        }
    );
}
