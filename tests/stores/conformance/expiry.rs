//! Closing expired sessions: the boundary, what closing drops, and what it counts.

use std::time::Duration;

use serde_json::json;
use sessions::controller::ControllerOptions;
use sessions::model::{NewSession, SessionFilter};

use super::{Fixture, ms, new_session, start};
use crate::support::Backend;

async fn expiring_after(backend: &Backend, timeout: Duration) -> Fixture {
    let options = ControllerOptions {
        expire_timeout: timeout,
        ..ControllerOptions::default()
    };
    Fixture::with_options(backend, options).await
}

pub async fn only_sessions_idle_for_longer_than_the_expire_timeout_are_closed(backend: &Backend) {
    let f = expiring_after(backend, Duration::from_secs(60)).await;
    let older = f.open("alice").await;
    f.advance(ms(1));
    let boundary = f.open("alice").await;
    // Now `boundary` has been idle exactly the timeout, `older` one millisecond longer.
    f.advance(ms(60_000));

    let closed = f.controller.close_expired().await.expect("expires");

    assert_eq!(closed, 1);
    let older = f.session(older.id).await;
    assert!(!older.active);
    assert_eq!(older.close_time, Some(f.now()));
    assert_eq!(older.request_time, f.now());
    assert!(f.session(boundary.id).await.active);
    f.advance(ms(1));
    assert_eq!(f.controller.close_expired().await.expect("expires"), 1);
    assert!(!f.session(boundary.id).await.active);
}

pub async fn closing_expired_sessions_drops_their_data_and_counts_only_what_it_closed(
    backend: &Backend,
) {
    let f = expiring_after(backend, Duration::from_secs(1)).await;
    let idle = f
        .open_with(NewSession {
            user: Some(json!({"name": "A"})),
            data: Some(json!([1, 2])),
            ..new_session("alice")
        })
        .await;
    let closed_before = f.open("alice").await;
    let closed_before = f.controller.close(&closed_before.id).await.expect("closes");
    f.advance(ms(5_000));
    let fresh = f.open("bob").await;

    let first = f.controller.close_expired().await.expect("expires");
    let second = f.controller.close_expired().await.expect("expires");

    assert_eq!((first, second), (1, 0));
    let idle = f.session(idle.id).await;
    assert_eq!((idle.active, idle.user, idle.data), (false, None, None));
    assert_eq!(f.session(closed_before.id).await, closed_before);
    assert!(f.session(fresh.id).await.active);
    let closed_now = SessionFilter {
        active: Some(false),
        from_time: Some(f.now()),
        ..SessionFilter::default()
    };
    assert_eq!(f.ids(&closed_now).await, vec![idle.id]);
}

pub async fn activity_postpones_expiry(backend: &Backend) {
    let f = expiring_after(backend, Duration::from_secs(10)).await;
    let busy = f.open("alice").await;
    let idle = f.open("alice").await;
    f.advance(ms(8_000));
    f.controller
        .store_data(&busy.id, Some(json!("still here")))
        .await
        .expect("stores");
    f.advance(ms(8_000));

    let closed = f.controller.close_expired().await.expect("expires");

    assert_eq!(closed, 1);
    assert!(f.session(busy.id).await.active);
    assert!(!f.session(idle.id).await.active);
    assert_eq!(
        f.session(idle.id).await.close_time,
        Some(start() + ms(16_000))
    );
}

pub async fn an_expire_timeout_longer_than_history_closes_nothing(backend: &Backend) {
    let f = expiring_after(backend, Duration::MAX).await;
    let session = f.open("alice").await;
    f.advance(chrono::TimeDelta::days(365 * 100));

    let closed = f.controller.close_expired().await.expect("expires");

    assert_eq!(closed, 0);
    assert!(f.session(session.id).await.active);
}
