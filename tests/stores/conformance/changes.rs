//! Changing sessions: store data, update user, close, delete, and the counts that follow.

use serde_json::json;
use sessions::error::SessionError;
use sessions::model::{CloseReason, NewSession, SessionCounts, SessionId};

use super::{Fixture, all, ms, new_session, of_user, start};
use crate::support::Backend;

#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(result: Result<T, SessionError>, expected: SessionId) {
    match result {
        Err(SessionError::NotFound(id)) => assert_eq!(id, expected),
        other => panic!("expected not found {expected}, got {other:?}"),
    }
}

#[track_caller]
fn assert_closed<T: std::fmt::Debug>(result: Result<T, SessionError>, expected: SessionId) {
    match result {
        Err(SessionError::Closed(id)) => assert_eq!(id, expected),
        other => panic!("expected closed {expected}, got {other:?}"),
    }
}

fn with_json(user_id: &str) -> NewSession {
    NewSession {
        user: Some(json!({"name": "Alice"})),
        data: Some(json!({"cart": [1]})),
        ..new_session(user_id)
    }
}

pub async fn storing_data_and_updating_the_user_set_them_and_mark_activity_now(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let opened = f.open_with(with_json("alice")).await;
    f.advance(ms(10));

    let stored = f
        .controller
        .store_data(&opened.id, Some(json!({"cart": [1, 2]})))
        .await
        .expect("stores");
    f.advance(ms(5));
    let updated = f
        .controller
        .update_user(&opened.id, Some(json!({"name": "Alice L."})))
        .await
        .expect("updates");
    f.advance(ms(5));
    let cleared = f
        .controller
        .store_data(&opened.id, None)
        .await
        .expect("clears");

    assert_eq!(stored.data, Some(json!({"cart": [1, 2]})));
    assert_eq!(stored.user, opened.user);
    assert_eq!(stored.request_time, start() + ms(10));
    assert_eq!(updated.user, Some(json!({"name": "Alice L."})));
    assert_eq!(updated.data, stored.data);
    assert_eq!(updated.request_time, start() + ms(15));
    assert_eq!(cleared.data, None);
    assert_eq!(cleared.request_time, start() + ms(20));
    assert_eq!(cleared.open_time, opened.open_time);
    assert!(cleared.active);
    assert_eq!(f.session(opened.id).await, cleared);
}

pub async fn changing_an_unknown_session_is_not_found(backend: &Backend) {
    let f = Fixture::new(backend).await;
    f.open("alice").await;
    let unknown = SessionId::random();

    assert_not_found(
        f.controller.store_data(&unknown, Some(json!(1))).await,
        unknown,
    );
    assert_not_found(
        f.controller.update_user(&unknown, Some(json!(1))).await,
        unknown,
    );
    assert_eq!(f.counts().await.total, 1);
}

pub async fn changing_a_closed_session_is_refused_and_changes_nothing(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let opened = f.open_with(with_json("alice")).await;
    let closed = f.controller.close(&opened.id).await.expect("closes");
    f.advance(ms(10));

    assert_closed(
        f.controller.store_data(&opened.id, Some(json!(2))).await,
        opened.id,
    );
    assert_closed(
        f.controller.update_user(&opened.id, Some(json!(2))).await,
        opened.id,
    );
    assert_eq!(f.session(opened.id).await, closed);
}

pub async fn a_write_stamped_before_the_last_activity_does_not_move_it_backwards(
    backend: &Backend,
) {
    let f = Fixture::new(backend).await;
    let opened = f.open("alice").await;
    let other = f.open("alice").await;
    f.advance(ms(100));
    f.controller
        .store_data(&opened.id, Some(json!(1)))
        .await
        .expect("stores");

    // A request that read the clock earlier reaches the store later.
    f.clock.set(start() + ms(50));
    let late = f
        .controller
        .store_data(&opened.id, Some(json!(2)))
        .await
        .expect("stores");
    let closed = f.controller.close(&opened.id).await.expect("closes");

    assert_eq!(late.data, Some(json!(2)));
    assert_eq!(late.request_time, start() + ms(100));
    assert_eq!(closed.request_time, start() + ms(100));
    assert_eq!(closed.close_time, Some(start() + ms(100)));
    assert_eq!(f.ids(&of_user("alice")).await, {
        // Still the most recent: its activity did not move back to +50 ms.
        let mut ids = vec![opened.id];
        ids.push(other.id);
        ids
    });
}

pub async fn closing_makes_a_session_inactive_now_and_drops_user_and_data(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let opened = f.open_with(with_json("alice")).await;
    f.advance(ms(7));

    let closed = f.controller.close(&opened.id).await.expect("closes");

    assert!(!closed.active);
    assert_eq!(closed.close_time, Some(start() + ms(7)));
    assert_eq!(closed.request_time, start() + ms(7));
    assert_eq!((closed.user.clone(), closed.data.clone()), (None, None));
    assert_eq!(
        (closed.open_time, &closed.user_id),
        (opened.open_time, &opened.user_id)
    );
    assert_eq!(f.session(opened.id).await, closed);
}

pub async fn closing_a_closed_session_returns_it_unchanged(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let opened = f.open_with(with_json("alice")).await;
    let closed = f.controller.close(&opened.id).await.expect("closes");
    f.advance(ms(30));

    let again = f.controller.close(&opened.id).await.expect("closes again");

    assert_eq!(again, closed);
    assert_eq!(f.session(opened.id).await, closed);
}

pub async fn the_store_tells_the_close_that_closed_a_session_from_later_ones(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let opened = f.open("alice").await;

    // The same instant twice: only the store can tell which call closed it.
    let first = f
        .store
        .close(&opened.id, f.now(), CloseReason::Logout, "alice")
        .await;
    let second = f
        .store
        .close(&opened.id, f.now(), CloseReason::Revoked, "admin")
        .await;
    let unknown = f
        .store
        .close(&SessionId::random(), f.now(), CloseReason::Logout, "alice")
        .await;

    let first = first.expect("closes").expect("known");
    let second = second.expect("closes").expect("known");
    assert!(first.closed_now);
    assert!(!second.closed_now);
    assert_eq!(second.session, first.session);
    assert!(!first.session.active);
    assert!(unknown.expect("answers").is_none());
}

pub async fn closing_an_unknown_session_is_not_found(backend: &Backend) {
    let f = Fixture::new(backend).await;
    f.open("alice").await;
    let unknown = SessionId::random();

    assert_not_found(f.controller.close(&unknown).await, unknown);
}

pub async fn deleting_returns_the_session_and_forgets_it_everywhere(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let doomed = f.open_with(with_json("alice")).await;
    let kept = f.open("alice").await;

    let deleted = f.controller.delete(&doomed.id).await.expect("deletes");
    let again = f.controller.delete(&doomed.id).await.expect("deletes");

    assert_eq!(deleted, Some(doomed.clone()));
    assert_eq!(again, None);
    assert_eq!(f.controller.get(&doomed.id).await.expect("gets"), None);
    assert_eq!(f.ids(&of_user("alice")).await, vec![kept.id]);
    assert_eq!(f.ids(&all()).await, vec![kept.id]);
    assert_not_found(f.controller.close(&doomed.id).await, doomed.id);
    assert_eq!(
        f.counts().await,
        SessionCounts {
            active: 1,
            total: 1
        }
    );
}

pub async fn counts_follow_open_close_expiry_and_delete(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let counts = |active, total| SessionCounts { active, total };
    assert_eq!(f.counts().await, counts(0, 0));
    let a = f.open("alice").await;
    let b = f.open("bob").await;
    f.open("carol").await;
    assert_eq!(f.counts().await, counts(3, 3));

    f.controller.close(&a.id).await.expect("closes");
    assert_eq!(f.counts().await, counts(2, 3));
    f.controller.delete(&a.id).await.expect("deletes");
    assert_eq!(f.counts().await, counts(2, 2));
    f.controller.delete(&b.id).await.expect("deletes");
    assert_eq!(f.counts().await, counts(1, 1));
    f.advance(chrono::TimeDelta::days(2));
    assert_eq!(f.controller.close_expired().await.expect("expires"), 1);
    assert_eq!(f.counts().await, counts(0, 1));
}
