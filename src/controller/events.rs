//! How the controller publishes session events in the order their store changes happened.
//!
//! Each single-session change holds its session's lock from before the store change until its
//! event is published; a bulk close (cleanup, "log out everywhere", eviction) takes each
//! closed session's lock before publishing its `CLOSED`. So a change that reached the store
//! first is published first, whichever path made it. Locks are striped: sessions sharing a
//! stripe wait for each other briefly, which is harmless.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{Mutex, MutexGuard};

use crate::events::{EventBus, LocalBus, SessionEvent, SessionEventKind};
use crate::model::{CloseReason, Closed, Session, SessionId};

/// Lock stripes; enough that unrelated sessions rarely share one.
const STRIPES: usize = 256;

/// The event bus plus the per-session publishing order. A cheap `Clone` handle.
#[derive(Clone, Debug)]
pub(super) struct Publisher {
    pub(super) bus: Arc<dyn EventBus>,
    // tokio's lock: it is held across the store's `.await` and the publish.
    stripes: Arc<[Mutex<()>]>,
}

impl Default for Publisher {
    fn default() -> Self {
        Self::new(Arc::new(LocalBus::default()))
    }
}

impl Publisher {
    pub(super) fn new(bus: Arc<dyn EventBus>) -> Self {
        let stripes = (0..STRIPES).map(|_| Mutex::new(())).collect();
        Self { bus, stripes }
    }

    /// The lock ordering `id`'s events; hold it across the store change and the publish.
    pub(super) async fn lock(&self, id: &SessionId) -> MutexGuard<'_, ()> {
        // Random (v4) ids: their low bits spread evenly.
        let stripe = (id.as_uuid().as_u128() % self.stripes.len() as u128) as usize;
        self.stripes[stripe].lock().await
    }

    /// Publish an event of `session` (the caller holds its lock).
    pub(super) async fn session(
        &self,
        kind: SessionEventKind,
        session: &Session,
        at: DateTime<Utc>,
    ) {
        let event = SessionEvent {
            kind,
            session_id: session.id,
            user_id: session.user_id.clone(),
            at,
            reason: session
                .close_reason
                .filter(|_| kind == SessionEventKind::Closed),
        };
        self.bus.publish(event).await;
    }

    /// Publish `CLOSED` for sessions a bulk step closed, each under its lock.
    pub(super) async fn closed(&self, closed: &[Closed], at: DateTime<Utc>) {
        for item in closed {
            let _order = self.lock(&item.id).await;
            self.closed_one(item.id, &item.user_id, item.reason, at)
                .await;
        }
    }

    /// Publish `CLOSED` for one session (the caller holds its lock).
    pub(super) async fn closed_one(
        &self,
        id: SessionId,
        user_id: &str,
        reason: CloseReason,
        at: DateTime<Utc>,
    ) {
        let event = SessionEvent {
            kind: SessionEventKind::Closed,
            session_id: id,
            user_id: user_id.to_owned(),
            at,
            reason: Some(reason),
        };
        self.bus.publish(event).await;
    }
}
