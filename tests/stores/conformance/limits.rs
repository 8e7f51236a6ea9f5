//! A user's sessions as a set (issue 9): revoking all of them but one, and the per-user limit
//! with its two policies, each also under concurrent opens.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use chrono::TimeDelta;
use sessions::controller::{ControllerOptions, SessionsController};
use sessions::error::SessionError;
use sessions::model::{CloseReason, LimitPolicy, Session, SessionCounts, SessionFilter, UserLimit};
use tokio::sync::Notify;

use super::lifecycle::assert_closed_for;
use super::{Fixture, counted, ms, new_session, of_user, take};
use crate::support::Backend;

/// Default options with at most `max` open sessions per user under `policy`.
fn limited(max: usize, policy: LimitPolicy) -> ControllerOptions {
    ControllerOptions {
        user_limit: Some(UserLimit { max, policy }),
        ..ControllerOptions::default()
    }
}

/// A controller over `f`'s store and clock with no per-user limit, as an instance started
/// before the limit was configured would be.
fn unlimited(f: &Fixture) -> SessionsController {
    SessionsController::with_clock(
        f.store.clone(),
        ControllerOptions {
            user_limit: None,
            ..f.controller.options().clone()
        },
        f.clock.clone(),
    )
}

/// The open sessions of `user_id`.
fn open_of(user_id: &str) -> SessionFilter {
    SessionFilter {
        active: Some(true),
        ..of_user(user_id)
    }
}

/// Every session of `user_id` (up to 1000), as stored.
async fn sessions_of(f: &Fixture, user_id: &str) -> Vec<Session> {
    f.list(&of_user(user_id), take(1000)).await.data
}

// ---------------------------------------------------------------------------------------------
// Revoking a user's sessions

pub async fn closing_a_users_sessions_revokes_every_open_one_but_the_exception_and_counts_them(
    backend: &Backend,
) {
    let f = Fixture::new(backend).await;
    let kept = f.open("alice").await;
    let others = [f.open("alice").await, f.open("alice").await];
    let logged_out = f.open("alice").await;
    let logged_out = f.controller.close(&logged_out.id).await.expect("closes");
    let bob = f.open("bob").await;
    f.advance(ms(10));

    let closed = f
        .controller
        .close_user_sessions("alice", Some(kept.id))
        .await
        .expect("revokes");

    assert_eq!(closed, 2);
    for other in &others {
        assert_closed_for(&f.session(other.id).await, CloseReason::Revoked, f.now());
    }
    assert_eq!(f.session(kept.id).await, kept);
    assert_eq!(
        f.session(logged_out.id).await,
        logged_out,
        "first reason kept"
    );
    assert_eq!(f.session(bob.id).await, bob);
}

pub async fn closing_a_users_sessions_without_an_exception_closes_them_all_and_an_unknown_user_none(
    backend: &Backend,
) {
    let f = Fixture::new(backend).await;
    let alice = [f.open("alice").await, f.open("alice").await];
    let bob = f.open("bob").await;
    f.advance(ms(10));

    let closed = f
        .controller
        .close_user_sessions("alice", None)
        .await
        .expect("revokes");
    let again = f
        .controller
        .close_user_sessions("alice", None)
        .await
        .expect("revokes");
    let unknown = f
        .controller
        .close_user_sessions("nobody", None)
        .await
        .expect("revokes");

    assert_eq!((closed, again, unknown), (2, 0, 0));
    for session in &alice {
        assert_closed_for(&f.session(session.id).await, CloseReason::Revoked, f.now());
    }
    assert_eq!(f.session(bob.id).await, bob);
    assert_eq!(
        f.counts().await,
        SessionCounts {
            active: 1,
            total: 3
        }
    );
}

pub async fn revoking_while_the_user_opens_sessions_misses_none_opened_before_it(
    backend: &Backend,
) {
    let f = Fixture::new(backend).await;
    let revoke_started = Arc::new(AtomicBool::new(false));
    let returned = Arc::new(AtomicUsize::new(0));
    let some_returned = Arc::new(Notify::new());

    // Each open notes whether it returned before the revoke started; it reads the flag
    // after its open returned, so "false" proves the order.
    let opens: Vec<_> = (0..50)
        .map(|_| {
            let controller = f.controller.clone();
            let (started, returned, notify) = (
                revoke_started.clone(),
                returned.clone(),
                some_returned.clone(),
            );
            tokio::spawn(async move {
                let session = controller.open(new_session("alice")).await;
                let before = !started.load(Ordering::SeqCst);
                if returned.fetch_add(1, Ordering::SeqCst) + 1 == 10 {
                    notify.notify_one();
                }
                (session, before)
            })
        })
        .collect();
    some_returned.notified().await;
    revoke_started.store(true, Ordering::SeqCst);
    let closed = f
        .controller
        .close_user_sessions("alice", None)
        .await
        .expect("revokes");
    let opened = futures::future::join_all(opens).await;

    let mut opened_before = 0;
    for result in opened {
        let (session, before) = result.expect("task finishes");
        let stored = f.session(session.expect("opens").id).await;
        if before {
            opened_before += 1;
            assert_eq!(
                stored.close_reason,
                Some(CloseReason::Revoked),
                "{stored:?}"
            );
        } else {
            // Opened after the revoke, or during it and closed by it: never anything else.
            assert!(
                stored.active || stored.close_reason == Some(CloseReason::Revoked),
                "{stored:?}"
            );
        }
    }
    assert!(opened_before >= 10, "{opened_before} opened before");
    let revoked = sessions_of(&f, "alice")
        .await
        .iter()
        .filter(|s| s.close_reason == Some(CloseReason::Revoked))
        .count();
    assert_eq!(closed, revoked as u64, "the count is what it closed");
}

// ---------------------------------------------------------------------------------------------
// The per-user limit

pub async fn at_the_limit_evict_oldest_closes_the_least_recently_active_session_as_evicted(
    backend: &Backend,
) {
    let f = Fixture::with_options(backend, limited(3, LimitPolicy::EvictOldest)).await;
    let first = f.open("alice").await;
    f.advance(ms(1));
    let second = f.open("alice").await;
    f.advance(ms(1));
    let third = f.open("alice").await;
    let bob = f.open("bob").await;
    f.advance(ms(1));
    f.controller.touch(&first.id).await.expect("touches");
    f.advance(ms(1));

    let fourth = f.open("alice").await;

    assert_closed_for(&f.session(second.id).await, CloseReason::Evicted, f.now());
    let mut open = f.ids(&open_of("alice")).await;
    open.sort();
    let mut expected = vec![first.id, third.id, fourth.id];
    expected.sort();
    assert_eq!(open, expected);
    assert_eq!(f.session(bob.id).await, bob, "other users are not counted");
}

pub async fn sessions_equally_old_are_evicted_in_id_order(backend: &Backend) {
    let f = Fixture::with_options(backend, limited(3, LimitPolicy::EvictOldest)).await;
    // The clock stands still: every session has the same last activity.
    let mut tied = Vec::new();
    for _ in 0..3 {
        tied.push(f.open("alice").await);
    }
    tied.sort_by_key(|s| s.id.to_string());
    f.advance(ms(1));

    f.open("alice").await;
    f.open("alice").await;

    for evicted in &tied[..2] {
        assert_closed_for(&f.session(evicted.id).await, CloseReason::Evicted, f.now());
    }
    assert!(f.session(tied[2].id).await.active, "{tied:?}");
    assert_eq!(
        f.list(&open_of("alice"), counted(0, 0)).await.total,
        Some(3)
    );
}

pub async fn over_the_limit_evict_oldest_closes_as_many_as_it_takes(backend: &Backend) {
    let f = Fixture::with_options(backend, limited(2, LimitPolicy::EvictOldest)).await;
    let before_the_limit = unlimited(&f);
    let mut old = Vec::new();
    for _ in 0..4 {
        old.push(
            before_the_limit
                .open(new_session("alice"))
                .await
                .expect("opens"),
        );
        f.advance(ms(1));
    }

    let newest = f.open("alice").await;

    for evicted in &old[..3] {
        assert_closed_for(&f.session(evicted.id).await, CloseReason::Evicted, f.now());
    }
    let mut open = f.ids(&open_of("alice")).await;
    open.sort();
    let mut expected = vec![old[3].id, newest.id];
    expected.sort();
    assert_eq!(open, expected);
}

pub async fn at_the_limit_deny_refuses_with_limit_reached_and_opens_nothing(backend: &Backend) {
    let f = Fixture::with_options(backend, limited(2, LimitPolicy::Deny)).await;
    let first = f.open("alice").await;
    let second = f.open("alice").await;
    f.advance(ms(1));

    let refused = f.controller.open(new_session("alice")).await;
    let bob = f.controller.open(new_session("bob")).await;

    assert!(
        matches!(&refused, Err(SessionError::LimitReached(user)) if user == "alice"),
        "{refused:?}"
    );
    assert!(bob.is_ok(), "{bob:?}");
    assert_eq!(f.session(first.id).await, first);
    assert_eq!(f.session(second.id).await, second);
    assert_eq!(
        f.counts().await,
        SessionCounts {
            active: 3,
            total: 3
        }
    );
    f.controller.close(&first.id).await.expect("closes");
    let room = f.controller.open(new_session("alice")).await;
    assert!(room.is_ok(), "a closed session makes room: {room:?}");
}

pub async fn expired_sessions_of_the_user_are_closed_with_their_reason_before_counting(
    backend: &Backend,
) {
    for policy in [LimitPolicy::EvictOldest, LimitPolicy::Deny] {
        let options = ControllerOptions {
            expire_timeout: Duration::from_secs(60),
            max_lifetime: Some(Duration::from_secs(100)),
            ..limited(2, policy)
        };
        let f = Fixture::with_options(backend, options).await;
        let user = format!("{policy:?}");
        let idle = f.open(&user).await;
        let old = f.open(&user).await;
        for _ in 0..2 {
            f.advance(TimeDelta::seconds(50));
            f.controller.touch(&old.id).await.expect("touches");
        }
        f.advance(ms(1));
        // Now `idle` is past its idle end and `old` past its lifetime: neither counts.

        let first = f.controller.open(new_session(&user)).await;
        let second = f.controller.open(new_session(&user)).await;

        let now = f.now();
        assert!(
            first.is_ok() && second.is_ok(),
            "{policy:?}: {first:?} {second:?}"
        );
        assert_closed_for(&f.session(idle.id).await, CloseReason::IdleTimeout, now);
        assert_closed_for(&f.session(old.id).await, CloseReason::MaxLifetime, now);
        assert_eq!(f.list(&open_of(&user), counted(0, 0)).await.total, Some(2));
    }
}

pub async fn a_denied_open_still_closes_the_users_expired_sessions(backend: &Backend) {
    let options = ControllerOptions {
        expire_timeout: Duration::from_secs(60),
        ..limited(2, LimitPolicy::Deny)
    };
    let f = Fixture::with_options(backend, options).await;
    // Three open sessions, opened before the limit was set; one of them will expire.
    let before_the_limit = unlimited(&f);
    let idle = before_the_limit
        .open(new_session("alice"))
        .await
        .expect("opens");
    f.advance(TimeDelta::seconds(30));
    let busy = [
        before_the_limit
            .open(new_session("alice"))
            .await
            .expect("opens"),
        before_the_limit
            .open(new_session("alice"))
            .await
            .expect("opens"),
    ];
    f.advance(TimeDelta::seconds(31));

    let refused = f.controller.open(new_session("alice")).await;

    assert!(
        matches!(refused, Err(SessionError::LimitReached(_))),
        "{refused:?}"
    );
    assert_closed_for(&f.session(idle.id).await, CloseReason::IdleTimeout, f.now());
    for session in &busy {
        assert_eq!(&f.session(session.id).await, session);
    }
}

// ---------------------------------------------------------------------------------------------
// The limit under concurrency

/// Open `n` sessions for `user_id` at once through `f`'s controller.
async fn open_at_once(f: &Fixture, user_id: &str, n: usize) -> Vec<Result<Session, SessionError>> {
    let opens = (0..n).map(|_| {
        let controller = f.controller.clone();
        let user_id = user_id.to_owned();
        tokio::spawn(async move { controller.open(new_session(&user_id)).await })
    });
    futures::future::join_all(opens)
        .await
        .into_iter()
        .map(|r| r.expect("task finishes"))
        .collect()
}

pub async fn fifty_concurrent_opens_with_evict_oldest_leave_exactly_three_open(backend: &Backend) {
    let f = Fixture::with_options(backend, limited(3, LimitPolicy::EvictOldest)).await;

    let results = open_at_once(&f, "alice", 50).await;

    let opened: Vec<Session> = results
        .into_iter()
        .map(|r| r.expect("every open succeeds"))
        .collect();
    let ids: HashSet<_> = opened.iter().map(|s| s.id).collect();
    assert_eq!(ids.len(), 50);
    let stored = sessions_of(&f, "alice").await;
    assert_eq!(stored.len(), 50);
    let open = stored.iter().filter(|s| s.active).count();
    let evicted = stored
        .iter()
        .filter(|s| s.close_reason == Some(CloseReason::Evicted))
        .count();
    assert_eq!((open, evicted), (3, 47));
    assert_eq!(
        f.counts().await,
        SessionCounts {
            active: 3,
            total: 50
        }
    );
}

pub async fn fifty_concurrent_opens_with_deny_let_exactly_three_succeed(backend: &Backend) {
    let f = Fixture::with_options(backend, limited(3, LimitPolicy::Deny)).await;

    let results = open_at_once(&f, "alice", 50).await;

    let mut opened = Vec::new();
    let mut refused = 0;
    for result in results {
        match result {
            Ok(session) => opened.push(session.id),
            Err(SessionError::LimitReached(user)) if user == "alice" => refused += 1,
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!((opened.len(), refused), (3, 47));
    let mut open = f.ids(&open_of("alice")).await;
    open.sort();
    opened.sort();
    assert_eq!(open, opened);
    assert_eq!(
        f.counts().await,
        SessionCounts {
            active: 3,
            total: 3
        }
    );
}
