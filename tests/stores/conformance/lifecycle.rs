//! The session lifecycle on each store (issue 9): max lifetime and idle expiry with their
//! reasons, `expiresAt`, lazy expiry on writes, touch, close reasons, and retention.
//!
//! Per-user limits and revoking a user's sessions, concurrency included, are in `limits`.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use sessions::controller::{ControllerOptions, PURGE_BATCH};
use sessions::error::{InputField, SessionError};
use sessions::model::{CloseReason, NewSession, Session, SessionCounts, SessionId};

use super::{Fixture, ms, new_session, of_user, start};
use crate::support::Backend;

/// `n` seconds.
fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

/// Options with this idle (expire) timeout and max lifetime, in seconds.
fn lifetimes(idle: u64, max_lifetime: Option<u64>) -> ControllerOptions {
    ControllerOptions {
        expire_timeout: Duration::from_secs(idle),
        max_lifetime: max_lifetime.map(Duration::from_secs),
        ..ControllerOptions::default()
    }
}

/// A session for `user_id` with a cached user and data, so closing visibly drops them.
fn with_json(user_id: &str) -> NewSession {
    NewSession {
        user_name: Some("Alice".into()),
        address: Some("192.0.2.1".into()),
        client: Some("lifecycle-test".into()),
        user: Some(json!({"name": "Alice"})),
        data: Some(json!({"cart": [1]})),
        ..new_session(user_id)
    }
}

/// Fail unless `session` is closed at `at` for `reason`, with its user and data dropped.
#[track_caller]
pub fn assert_closed_for(session: &Session, reason: CloseReason, at: DateTime<Utc>) {
    assert_eq!(
        (
            session.active,
            session.close_reason,
            session.close_time,
            session.request_time
        ),
        (false, Some(reason), Some(at), at),
        "{session:?}"
    );
    assert_eq!(
        (&session.user, &session.data),
        (&None, &None),
        "{session:?}"
    );
}

/// Fail unless `result` is `SessionError::Closed` for `expected`.
#[track_caller]
fn assert_closed_error<T: std::fmt::Debug>(result: Result<T, SessionError>, expected: SessionId) {
    match result {
        Err(SessionError::Closed(id)) => assert_eq!(id, expected),
        other => panic!("expected closed {expected}, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Max lifetime, idle timeout and expiresAt

pub async fn close_expired_closes_sessions_past_the_max_lifetime_and_idle_ones_and_counts_both(
    backend: &Backend,
) {
    // Idle timeout 60 s, max lifetime 100 s.
    let f = Fixture::with_options(backend, lifetimes(60, Some(100))).await;
    let old = f.open_with(with_json("alice")).await;
    f.advance(secs(50));
    let idle = f.open_with(with_json("bob")).await;
    f.controller.touch(&old.id).await.expect("touches");
    f.advance(secs(45));
    f.controller.touch(&old.id).await.expect("touches");
    f.advance(secs(16));
    let fresh = f.open("carol").await;
    // Now (111 s): `old` is 111 s old but was active 16 s ago; `idle` has been idle 61 s.

    let closed = f.controller.close_expired().await.expect("expires");
    let again = f.controller.close_expired().await.expect("expires");

    assert_eq!((closed, again), (2, 0));
    let now = f.now();
    assert_closed_for(&f.session(old.id).await, CloseReason::MaxLifetime, now);
    assert_closed_for(&f.session(idle.id).await, CloseReason::IdleTimeout, now);
    assert_eq!(f.session(fresh.id).await, fresh);
}

pub async fn a_session_open_exactly_the_max_lifetime_is_not_yet_expired(backend: &Backend) {
    let f = Fixture::with_options(backend, lifetimes(60, Some(100))).await;
    let session = f.open("alice").await;
    for _ in 0..2 {
        f.advance(secs(50));
        f.controller.touch(&session.id).await.expect("touches");
    }
    // Opened 100 s ago, active just now.

    let at_the_bound = f.controller.close_expired().await.expect("expires");
    f.advance(ms(1));
    let just_past = f.controller.close_expired().await.expect("expires");

    assert_eq!((at_the_bound, just_past), (0, 1));
    let closed = f.session(session.id).await;
    assert_closed_for(&closed, CloseReason::MaxLifetime, f.now());
}

pub async fn a_session_past_both_bounds_is_closed_for_the_one_it_passed_first(backend: &Backend) {
    // Idle timeout 60 s, max lifetime 100 s. Each session: (opened at, last active at), and
    // which of its bounds (idle end, lifetime end) came first.
    let f = Fixture::with_options(backend, lifetimes(60, Some(100))).await;
    let idle_first = f.open("alice").await; // (0, 0): idle at 60, lifetime at 100
    let lifetime_first = f.open("alice").await; // (0, 100): idle at 160, lifetime at 100
    f.advance(secs(20));
    let lifetime_soon = f.open("alice").await; // (20, 70): idle at 130, lifetime at 120
    f.advance(secs(20));
    let tie = f.open("alice").await; // (40, 80): both at 140; a tie counts as lifetime
    f.advance(secs(10));
    f.controller.touch(&lifetime_first.id).await.expect("touch");
    f.advance(secs(20));
    f.controller.touch(&lifetime_soon.id).await.expect("touch");
    f.advance(secs(10));
    f.controller.touch(&tie.id).await.expect("touch");
    f.advance(secs(20));
    f.controller.touch(&lifetime_first.id).await.expect("touch");
    let expires = |s: &Session| f.controller.expires_at(s);
    let at = |s: i64| Some(start() + secs(s));
    assert_eq!(expires(&f.session(idle_first.id).await), at(60));
    assert_eq!(expires(&f.session(lifetime_first.id).await), at(100));
    assert_eq!(expires(&f.session(lifetime_soon.id).await), at(120));
    assert_eq!(expires(&f.session(tie.id).await), at(140));
    f.advance(secs(100));
    // Now (200 s) every one of them is past both of its bounds.

    let closed = f.controller.close_expired().await.expect("expires");

    assert_eq!(closed, 4);
    let now = f.now();
    let expected = [
        (idle_first, CloseReason::IdleTimeout),
        (lifetime_first, CloseReason::MaxLifetime),
        (lifetime_soon, CloseReason::MaxLifetime),
        (tie, CloseReason::MaxLifetime),
    ];
    for (session, reason) in expected {
        assert_closed_for(&f.session(session.id).await, reason, now);
    }
}

pub async fn expires_at_is_the_earlier_of_idle_end_and_lifetime_end_and_none_once_closed(
    backend: &Backend,
) {
    let f = Fixture::with_options(backend, lifetimes(60, Some(100))).await;
    let unlimited = Fixture::with_options(backend, lifetimes(60, None)).await;
    let session = f.open("alice").await;
    let opened = f.controller.expires_at(&session);
    f.advance(secs(50));
    let touched = f.controller.touch(&session.id).await.expect("touches");

    let moved = f.controller.expires_at(&touched);
    let without_max = unlimited.controller.expires_at(&touched);
    let closed = f.controller.close(&session.id).await.expect("closes");

    assert_eq!(opened, Some(start() + secs(60)));
    assert_eq!(moved, Some(start() + secs(100)), "the lifetime ends first");
    assert_eq!(without_max, Some(start() + secs(110)));
    assert_eq!(f.controller.expires_at(&closed), None);
    assert_eq!(f.controller.expires_at(&f.session(session.id).await), None);
}

// ---------------------------------------------------------------------------------------------
// Lazy expiry

/// The lazy close after a refused write is conditional: a session that a concurrent write
/// renewed in between stays open with what that write stored.
pub async fn closing_a_session_if_expired_leaves_one_renewed_meanwhile_open(backend: &Backend) {
    let f = Fixture::with_options(backend, lifetimes(60, None)).await;
    let session = f.open_with(with_json("alice")).await;
    f.advance(secs(61));
    let now = f.now();
    let expired_now = sessions::model::Cutoffs {
        idle: now - secs(60),
        lifetime: None,
    };
    let earlier = sessions::model::Cutoffs {
        idle: now - secs(62),
        lifetime: None,
    };
    // A write stamped before the session expired renews it.
    let change = sessions::model::SessionChange::Data(Some(json!("kept")));
    let renewed = f.store.update_open(&session.id, change, now, earlier).await;
    assert!(renewed.expect("updates").is_some());

    let closed = f
        .store
        .close_if_expired(&session.id, now, expired_now)
        .await;

    assert!(!closed.expect("answers"), "renewed, so not expired");
    let stored = f.session(session.id).await;
    assert!(stored.active);
    assert_eq!(
        stored.data,
        Some(json!("kept")),
        "the renewing write is kept"
    );
    let other = f.open_with(with_json("bob")).await;
    f.advance(secs(61));
    let later = sessions::model::Cutoffs {
        idle: f.now() - secs(60),
        lifetime: None,
    };
    let closed = f.store.close_if_expired(&other.id, f.now(), later).await;
    assert!(closed.expect("answers"));
    assert_eq!(
        f.session(other.id).await.close_reason,
        Some(CloseReason::IdleTimeout)
    );
}

pub async fn a_write_on_a_session_past_its_expiry_closes_it_with_its_reason_and_answers_closed(
    backend: &Backend,
) {
    // Idle timeout 60 s, max lifetime 100 s.
    let f = Fixture::with_options(backend, lifetimes(60, Some(100))).await;
    let idle_store = f.open_with(with_json("alice")).await;
    let idle_touch = f.open_with(with_json("alice")).await;
    let old_update = f.open_with(with_json("alice")).await;
    let edge = f.open_with(with_json("alice")).await;
    for _ in 0..2 {
        f.advance(secs(45));
        f.controller.touch(&old_update.id).await.expect("touches");
    }
    f.advance(secs(11));
    // Now (101 s): `idle_*` idle for 101 s, `old_update` past its lifetime (active 11 s ago).
    let before = f.session(idle_store.id).await;

    let stored = f
        .controller
        .store_data(&idle_store.id, Some(json!(2)))
        .await;
    let touched = f.controller.touch(&idle_touch.id).await;
    let updated = f
        .controller
        .update_user(&old_update.id, Some(json!(2)))
        .await;

    assert!(before.active, "reads return what is stored: {before:?}");
    assert_eq!(before.data, Some(json!({"cart": [1]})));
    assert_closed_error(stored, idle_store.id);
    assert_closed_error(touched, idle_touch.id);
    assert_closed_error(updated, old_update.id);
    let now = f.now();
    let idle_store = f.session(idle_store.id).await;
    assert_closed_for(&idle_store, CloseReason::IdleTimeout, now);
    assert_closed_for(
        &f.session(idle_touch.id).await,
        CloseReason::IdleTimeout,
        now,
    );
    assert_closed_for(
        &f.session(old_update.id).await,
        CloseReason::MaxLifetime,
        now,
    );
    // A write refused as closed changes nothing more, and is refused again.
    assert_closed_error(
        f.controller
            .store_data(&idle_store.id, Some(json!(3)))
            .await,
        idle_store.id,
    );
    assert_eq!(f.session(idle_store.id).await, idle_store);
    // Untouched, `edge` is as stored: still open, though past its expiry.
    let edge_now = f.session(edge.id).await;
    assert_eq!(edge_now, edge);
    let listed = f.ids(&of_user("alice")).await;
    assert!(listed.contains(&edge.id));
    assert_eq!(f.counts().await.active, 1);
}

pub async fn a_write_at_exactly_the_expiry_time_still_lands(backend: &Backend) {
    let f = Fixture::with_options(backend, lifetimes(60, Some(100))).await;
    let idle = f.open("alice").await;
    let old = f.open("alice").await;
    f.advance(secs(50));
    f.controller.touch(&old.id).await.expect("touches");
    f.advance(secs(10));
    // Now (60 s): `idle` is at its idle end.
    let stored = f
        .controller
        .store_data(&idle.id, Some(json!(1)))
        .await
        .expect("stores at the idle end");
    f.advance(secs(40));
    // Now (100 s): `old` is at its lifetime end.

    let updated = f
        .controller
        .update_user(&old.id, Some(json!(1)))
        .await
        .expect("updates at the lifetime end");

    assert_eq!(stored.request_time, start() + secs(60));
    assert_eq!(updated.request_time, start() + secs(100));
    assert!(updated.active);
}

// ---------------------------------------------------------------------------------------------
// Touch

pub async fn touching_moves_request_time_and_expires_at_and_changes_nothing_else(
    backend: &Backend,
) {
    let f = Fixture::with_options(backend, lifetimes(60, None)).await;
    let opened = f.open_with(with_json("alice")).await;
    let other = f.open("alice").await;
    f.advance(secs(10));

    let touched = f.controller.touch(&opened.id).await.expect("touches");

    let expected = Session {
        request_time: start() + secs(10),
        ..opened.clone()
    };
    assert_eq!(touched, expected);
    assert_eq!(f.session(opened.id).await, expected);
    assert_eq!(
        f.controller.expires_at(&touched),
        Some(start() + secs(70)),
        "expiresAt moves with the touch"
    );
    assert_eq!(f.ids(&of_user("alice")).await, vec![opened.id, other.id]);
    assert_eq!(f.session(other.id).await, other);
}

pub async fn a_touch_younger_than_the_touch_interval_writes_nothing(backend: &Backend) {
    let options = ControllerOptions {
        touch_interval: Duration::from_secs(30),
        ..lifetimes(60, None)
    };
    let f = Fixture::with_options(backend, options).await;
    let opened = f.open_with(with_json("alice")).await;

    f.advance(secs(10));
    let soon = f.controller.touch(&opened.id).await.expect("touches");
    let stored_after_soon = f.session(opened.id).await;
    f.advance(secs(20) - ms(1));
    let just_inside = f.controller.touch(&opened.id).await.expect("touches");
    f.advance(ms(1));
    let at_the_interval = f.controller.touch(&opened.id).await.expect("touches");
    f.advance(secs(45));
    let later = f.controller.touch(&opened.id).await.expect("touches");

    assert_eq!(soon, opened, "answered with the session as it is");
    assert_eq!(stored_after_soon, opened, "no write");
    assert_eq!(just_inside.request_time, opened.request_time);
    assert_eq!(at_the_interval.request_time, start() + secs(30));
    assert_eq!(later.request_time, start() + secs(75));
    assert_eq!(f.session(opened.id).await, later);
    assert_eq!(
        Session {
            request_time: opened.request_time,
            ..later
        },
        opened,
        "nothing but the activity changed"
    );
}

pub async fn a_touch_within_the_interval_of_a_session_past_its_expiry_still_closes_it(
    backend: &Backend,
) {
    // An interval longer than the idle timeout: expiry wins over the interval.
    let options = ControllerOptions {
        touch_interval: Duration::from_secs(120),
        ..lifetimes(60, None)
    };
    let f = Fixture::with_options(backend, options).await;
    let opened = f.open_with(with_json("alice")).await;
    f.advance(secs(61));

    let touched = f.controller.touch(&opened.id).await;

    assert_closed_error(touched, opened.id);
    let now = f.now();
    assert_closed_for(&f.session(opened.id).await, CloseReason::IdleTimeout, now);
}

pub async fn touching_an_unknown_session_is_not_found_and_a_closed_one_is_closed(
    backend: &Backend,
) {
    for interval in [Duration::ZERO, Duration::from_secs(30)] {
        let options = ControllerOptions {
            touch_interval: interval,
            ..ControllerOptions::default()
        };
        let f = Fixture::with_options(backend, options).await;
        let closed = f.open("alice").await;
        let closed = f.controller.close(&closed.id).await.expect("closes");
        let unknown = SessionId::random();
        f.advance(secs(1));

        let on_unknown = f.controller.touch(&unknown).await;
        let on_closed = f.controller.touch(&closed.id).await;

        assert!(
            matches!(on_unknown, Err(SessionError::NotFound(id)) if id == unknown),
            "interval {interval:?}: {on_unknown:?}"
        );
        assert_closed_error(on_closed, closed.id);
        assert_eq!(f.session(closed.id).await, closed);
    }
}

// ---------------------------------------------------------------------------------------------
// Close reasons

pub async fn closing_records_logout_or_revoked_and_closing_again_keeps_the_first_reason(
    backend: &Backend,
) {
    let f = Fixture::new(backend).await;
    let logout = f.open_with(with_json("alice")).await;
    let revoked = f.open_with(with_json("alice")).await;
    f.advance(ms(10));

    let logged_out = f.controller.close(&logout.id).await.expect("closes");
    let revoked = f
        .controller
        .close_for(&revoked.id, CloseReason::Revoked)
        .await
        .expect("closes");
    f.advance(ms(10));
    let logout_again = f
        .controller
        .close_for(&logout.id, CloseReason::Revoked)
        .await
        .expect("closes again");
    let revoked_again = f.controller.close(&revoked.id).await.expect("closes again");

    let closed_at = start() + ms(10);
    assert_closed_for(&logged_out, CloseReason::Logout, closed_at);
    assert_closed_for(&revoked, CloseReason::Revoked, closed_at);
    assert_eq!(logout_again, logged_out);
    assert_eq!(revoked_again, revoked);
    assert_eq!(f.session(logout.id).await, logged_out);
    assert_eq!(f.session(revoked.id).await, revoked);
}

pub async fn closing_for_a_reason_of_the_services_own_is_refused_naming_the_reason(
    backend: &Backend,
) {
    let f = Fixture::new(backend).await;
    let open = f.open("alice").await;
    let closed = f.open("alice").await;
    let closed = f.controller.close(&closed.id).await.expect("closes");
    f.advance(ms(10));

    for reason in [
        CloseReason::IdleTimeout,
        CloseReason::MaxLifetime,
        CloseReason::Evicted,
    ] {
        for id in [open.id, closed.id, SessionId::random()] {
            let result = f.controller.close_for(&id, reason).await;
            assert!(
                matches!(
                    result,
                    Err(SessionError::InvalidInput {
                        field: InputField::Reason,
                        ..
                    })
                ),
                "{reason}: {result:?}"
            );
        }
    }

    assert_eq!(f.session(open.id).await, open);
    assert_eq!(f.session(closed.id).await, closed);
}

pub async fn a_session_closed_by_expiry_keeps_its_reason_when_closed_again(backend: &Backend) {
    let f = Fixture::with_options(backend, lifetimes(60, None)).await;
    let session = f.open("alice").await;
    f.advance(secs(61));
    assert_eq!(f.controller.close_expired().await.expect("expires"), 1);
    let expired = f.session(session.id).await;
    f.advance(secs(1));

    let closed = f
        .controller
        .close_for(&session.id, CloseReason::Revoked)
        .await
        .expect("closes");

    assert_eq!(closed, expired);
    assert_eq!(closed.close_reason, Some(CloseReason::IdleTimeout));
}

// ---------------------------------------------------------------------------------------------
// Retention

/// Store a session of `user_id` opened and closed (as `LOGOUT`) at `closed_at`.
async fn store_closed(f: &Fixture, user_id: &str, closed_at: DateTime<Utc>) -> Session {
    let mut session = Session::open(SessionId::random(), new_session(user_id), closed_at);
    session.close(closed_at, CloseReason::Logout);
    f.store.insert(&session).await.expect("inserts");
    session
}

pub async fn purging_deletes_only_sessions_closed_longer_ago_than_the_retention(backend: &Backend) {
    let options = ControllerOptions {
        retention: Some(Duration::from_secs(60 * 60)),
        ..ControllerOptions::default()
    };
    let f = Fixture::with_options(backend, options).await;
    // More than two purge batches of sessions closed at the start, inserted a hundred at a
    // time (each is a write of its own on the durable stores).
    let old_count = PURGE_BATCH * 2 + 5;
    for chunk in 0..old_count.div_ceil(100) {
        let n = (old_count - chunk * 100).min(100);
        let users: Vec<String> = (0..n).map(|i| format!("user{}", i % 7)).collect();
        let inserts = users.iter().map(|user| store_closed(&f, user, start()));
        futures::future::join_all(inserts).await;
    }
    let boundary = store_closed(&f, "alice", start() + ms(1)).await;
    let recent = store_closed(&f, "alice", start() + secs(30 * 60)).await;
    let open = f.open("alice").await;
    // Now the old ones closed 1 h + 1 ms ago, `boundary` exactly the retention ago.
    f.clock.set(start() + secs(60 * 60) + ms(1));

    let purged = f.controller.purge_closed().await.expect("purges");
    let again = f.controller.purge_closed().await.expect("purges");

    assert_eq!((purged, again), (old_count as u64, 0));
    assert_eq!(
        f.counts().await,
        SessionCounts {
            active: 1,
            total: 3
        }
    );
    assert_eq!(f.session(boundary.id).await, boundary);
    assert_eq!(f.session(recent.id).await, recent);
    assert_eq!(f.session(open.id).await, open);
    f.advance(ms(1));
    assert_eq!(f.controller.purge_closed().await.expect("purges"), 1);
    assert_eq!(f.controller.get(&boundary.id).await.expect("gets"), None);
}

pub async fn one_purge_step_deletes_at_most_its_batch_oldest_first(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let mut closed = Vec::new();
    for n in 0..5 {
        closed.push(store_closed(&f, "alice", start() + ms(n * 10)).await);
    }
    let cutoff = start() + secs(1);

    let first = f.store.purge_closed(cutoff, 3).await.expect("purges");
    let left = f.ids(&of_user("alice")).await;
    let second = f.store.purge_closed(cutoff, 3).await.expect("purges");

    assert_eq!(first, 3);
    assert_eq!(
        left,
        vec![closed[4].id, closed[3].id],
        "the oldest went first"
    );
    assert_eq!(second, 2, "fewer than asked: none are left");
    assert_eq!(f.counts().await.total, 0);
}

pub async fn with_retention_off_purging_keeps_every_closed_session(backend: &Backend) {
    let options = ControllerOptions {
        retention: None,
        ..ControllerOptions::default()
    };
    let f = Fixture::with_options(backend, options).await;
    let closed = store_closed(&f, "alice", start()).await;
    f.advance(TimeDelta::days(365 * 10));

    let purged = f.controller.purge_closed().await.expect("purges");

    assert_eq!(purged, 0);
    assert_eq!(f.session(closed.id).await, closed);
}
