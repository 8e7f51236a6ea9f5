//! Session tokens and `closed_by` on every store: lookup by token (after a restart on the
//! durable stores), rotation, and who closed a session.

use sessions::SessionsController;
use sessions::model::CloseReason;

use chrono::TimeDelta;

use super::{Fixture, new_session};
use crate::support::Backend;

pub async fn a_token_finds_its_session_and_still_does_after_a_restart(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let (opened, token) = f
        .controller
        .open_with_token(new_session("alice"))
        .await
        .expect("opens");

    let found = f
        .controller
        .authenticate_token(&token)
        .await
        .expect("looks up");
    let unknown = f
        .controller
        .authenticate_token("st_not-a-token")
        .await
        .expect("looks up");

    assert_eq!(found.map(|s| s.id), Some(opened.id));
    assert_eq!(unknown, None);
    let durable = backend.sqlite_file().is_some() || backend.admin_url().is_some();
    if durable {
        // A second store on the same database: what a restarted service opens.
        let reopened = SessionsController::with_clock(
            backend.open().await,
            f.controller.options().clone(),
            f.clock.clone(),
        );
        let again = reopened.authenticate_token(&token).await.expect("looks up");
        assert_eq!(
            again.map(|s| s.id),
            Some(opened.id),
            "found after a restart"
        );
    }
}

pub async fn rotating_a_token_replaces_it_at_once(backend: &Backend) {
    let f = Fixture::new(backend).await;
    let (opened, old) = f
        .controller
        .open_with_token(new_session("alice"))
        .await
        .expect("opens");

    let (rotated, new) = f
        .controller
        .rotate_token(&opened.id)
        .await
        .expect("rotates");

    assert_ne!(new, old);
    assert_ne!(rotated.token_hash, opened.token_hash);
    assert_eq!(
        f.controller
            .authenticate_token(&old)
            .await
            .expect("looks up"),
        None
    );
    let found = f
        .controller
        .authenticate_token(&new)
        .await
        .expect("looks up");
    assert_eq!(found.map(|s| s.id), Some(opened.id));
}

pub async fn a_closed_or_expired_sessions_token_finds_nothing_and_closed_by_says_who(
    backend: &Backend,
) {
    let f = Fixture::new(backend).await;
    let (by_key, key_token) = f
        .controller
        .open_with_token(new_session("alice"))
        .await
        .expect("opens");
    let (revoked, _) = f
        .controller
        .open_with_token(new_session("bob"))
        .await
        .expect("opens");
    let (idle, idle_token) = f
        .controller
        .open_with_token(new_session("carol"))
        .await
        .expect("opens");

    let closed = f
        .controller
        .close_by(&by_key.id, CloseReason::Logout, "key:billing")
        .await
        .expect("closes");
    f.controller
        .close_user_sessions_by("bob", None, "session:x")
        .await
        .expect("revokes");
    f.advance(TimeDelta::seconds(24 * 3600 + 1));
    let expired = f
        .controller
        .authenticate_token(&idle_token)
        .await
        .expect("looks up");

    assert_eq!(closed.closed_by.as_deref(), Some("key:billing"));
    assert_eq!(
        f.session(by_key.id).await.closed_by.as_deref(),
        Some("key:billing")
    );
    assert_eq!(
        f.session(revoked.id).await.closed_by.as_deref(),
        Some("session:x")
    );
    assert_eq!(
        f.controller
            .authenticate_token(&key_token)
            .await
            .expect("looks up"),
        None
    );
    assert_eq!(expired, None, "an expired session's token finds nothing");
    let idle = f.session(idle.id).await;
    assert_eq!(
        idle.close_reason,
        Some(CloseReason::IdleTimeout),
        "closed lazily"
    );
    assert_eq!(idle.closed_by.as_deref(), Some("system"));
}
