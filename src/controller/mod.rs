//! `SessionsController`: the business rules (ids, times, limits, expiry) that every API shares.
//!
//! The type, its options and its reads live here; its operations are grouped by kind in the
//! submodules: `open` (opening, with the per-user limit and the token), `tokens`,
//! `change` (data, user, touch, lazy expiry), `close` (closing, expiry, retention,
//! deletion), `cleanup` (the background task), `input` (shared input rules) and
//! `events` (publishing in store order). The submodules share this module's imports
//! (`use super::*`).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

mod change;
mod cleanup;
mod close;
mod events;
mod input;
mod open;
mod tokens;

use crate::auth::secret;
use crate::clock::{Clock, SystemClock};
use crate::error::{InputField, SessionError};
use crate::events::{EventBus, SessionEventKind};
use crate::metrics;
use crate::model::{
    Admission, CLOSED_BY_ANONYMOUS, CloseReason, Closed, Cutoffs, NewSession, Page, PageRequest,
    Session, SessionChange, SessionCounts, SessionFilter, SessionId, TokenHash, UserLimit,
    truncate_to_millis,
};
use crate::store::SessionStore;
pub use cleanup::CleanupTask;
use events::Publisher;
use input::{check_text, page_request};

/// Longest accepted user id, in characters.
pub const MAX_USER_ID_CHARS: usize = 256;
/// Longest accepted user name, address or client, in characters.
pub const MAX_TEXT_CHARS: usize = 1024;
/// Page size when the caller gives none.
pub const DEFAULT_TAKE: usize = 100;
/// Largest page; larger requests are clamped to it.
pub const MAX_TAKE: usize = 1000;

/// Closed sessions deleted per step of the retention purge: small enough that no step holds
/// a lock or a transaction for long.
pub const PURGE_BATCH: usize = 256;

/// Sessions an expiry sweep counts and publishes before it yields the worker thread.
const AFTER_CLOSE_SLICE: usize = 1024;

/// Tunable rules of the controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerOptions {
    /// An open session idle for longer than this is closed by [`SessionsController::close_expired`].
    pub expire_timeout: Duration,
    /// An open session older than this is closed, however active; `None` for no limit.
    pub max_lifetime: Option<Duration>,
    /// A touch within this time of the last activity is answered without a write.
    pub touch_interval: Duration,
    /// How many open sessions one user may hold, and what one more does; `None` for no limit.
    pub user_limit: Option<UserLimit>,
    /// Closed sessions are deleted this long after they closed; `None` keeps them forever.
    pub retention: Option<Duration>,
    /// How often the background task closes expired sessions and purges old closed ones.
    pub cleanup_interval: Duration,
    /// Largest accepted `user` or `data` JSON, in bytes when serialized.
    pub max_payload: usize,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        Self {
            expire_timeout: Duration::from_secs(24 * 60 * 60),
            max_lifetime: None,
            touch_interval: Duration::ZERO,
            user_limit: None,
            retention: Some(Duration::from_secs(30 * 24 * 60 * 60)),
            cleanup_interval: Duration::from_secs(15 * 60),
            max_payload: 64 * 1024,
        }
    }
}

/// Paging as a caller asks for it, before validation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Paging {
    /// Matches to skip; default 0; negative is an error.
    pub skip: Option<i64>,
    /// Matches to return; default [`DEFAULT_TAKE`], clamped to [`MAX_TAKE`]; negative is an error.
    pub take: Option<i64>,
    /// Whether to count all matches.
    pub total: bool,
}

/// The business layer: validates input, stamps times, and drives a [`SessionStore`].
///
/// A cheap `Clone` handle; every clone shares the same store and clock.
///
/// ```
/// use std::sync::Arc;
/// use sessions::{ControllerOptions, MemoryStore, NewSession, SessionError, SessionsController};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), SessionError> {
/// let controller = SessionsController::new(Arc::new(MemoryStore::new()), ControllerOptions::default());
/// let session = controller.open(NewSession { user_id: "1".into(), ..NewSession::default() }).await?;
/// controller.close(&session.id).await?;
/// let closed_again = controller.store_data(&session.id, None).await;
/// assert!(matches!(closed_again, Err(SessionError::Closed(_))));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct SessionsController {
    store: Arc<dyn SessionStore>,
    clock: Arc<dyn Clock>,
    options: ControllerOptions,
    events: Publisher,
}

impl SessionsController {
    /// A controller over `store`, reading time from the system clock.
    pub fn new(store: Arc<dyn SessionStore>, options: ControllerOptions) -> Self {
        Self::with_clock(store, options, Arc::new(SystemClock))
    }

    /// A controller reading time from `clock`; tests pass a [`crate::clock::ManualClock`].
    pub fn with_clock(
        store: Arc<dyn SessionStore>,
        options: ControllerOptions,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            clock,
            options,
            events: Publisher::default(),
        }
    }

    /// This controller publishing its session events on `bus` (an in-process
    /// [`LocalBus`](crate::events::LocalBus) by default).
    pub fn with_events(self, bus: Arc<dyn EventBus>) -> Self {
        Self {
            events: Publisher::new(bus),
            ..self
        }
    }

    /// The bus this controller publishes session events on; subscribe to it here.
    pub fn events(&self) -> &Arc<dyn EventBus> {
        &self.events.bus
    }

    /// The options this controller runs with.
    pub fn options(&self) -> &ControllerOptions {
        &self.options
    }

    /// The store behind this controller.
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.store
    }

    fn now(&self) -> DateTime<Utc> {
        truncate_to_millis(self.clock.now())
    }

    /// The expiry bounds at `now`.
    fn cutoffs(&self, now: DateTime<Utc>) -> Cutoffs {
        let before = |by: Duration| {
            let by = TimeDelta::from_std(by).unwrap_or(TimeDelta::MAX);
            now.checked_sub_signed(by)
                .unwrap_or(DateTime::<Utc>::MIN_UTC)
        };
        Cutoffs {
            idle: before(self.options.expire_timeout),
            lifetime: self.options.max_lifetime.map(before),
        }
    }

    /// When `session` expires under this controller's rules: the earlier of its last
    /// activity plus the expire timeout and its open time plus the max lifetime; `None` once
    /// closed.
    pub fn expires_at(&self, session: &Session) -> Option<DateTime<Utc>> {
        let delta = |d: Duration| TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX);
        session.expires_at(
            delta(self.options.expire_timeout),
            self.options.max_lifetime.map(delta),
        )
    }

    /// The session with this id, or `None` when it is unknown.
    ///
    /// # Errors
    /// `Store` when the store fails.
    pub async fn get(&self, id: &SessionId) -> Result<Option<Session>, SessionError> {
        Ok(self.store.get(id).await?)
    }

    /// One page of the sessions matching `filter`, most recent activity first.
    ///
    /// # Errors
    /// `InvalidInput` for negative paging values; `Store` when the store fails.
    pub async fn list(
        &self,
        filter: &SessionFilter,
        paging: Paging,
    ) -> Result<Page<Session>, SessionError> {
        let page = page_request(paging)?;
        Ok(self.store.list(filter, &page).await?)
    }

    /// How many sessions are stored and how many are open.
    ///
    /// # Errors
    /// `Store` when the store fails.
    pub async fn counts(&self) -> Result<SessionCounts, SessionError> {
        Ok(self.store.counts().await?)
    }

    /// Check that the store answers, with its cheapest round trip (for readiness probes).
    ///
    /// # Errors
    /// `Store` when the store fails.
    pub async fn ping(&self) -> Result<(), SessionError> {
        Ok(self.store.ping().await?)
    }
}

#[cfg(test)]
mod tests;
