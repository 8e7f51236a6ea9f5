//! The `SessionStore` trait every storage backend implements, and its error.
//!
//! The trait is shaped for SQL from the start: every method is async and fallible, and each
//! mutation is one atomic step (a conditional update, not read-modify-write in the caller), so
//! concurrent requests never lose an update.
//!
//! Backends: [`MemoryStore`] (the default), [`SqliteStore`] (one machine, survives restarts)
//! and [`PostgresStore`] (shared by several instances). [`open`] picks one from a [`StoreUrl`].

mod instrumented;
mod memory;
mod postgres;
pub(crate) mod sql;
mod sqlite;
mod url;

pub use instrumented::InstrumentedStore;
pub use memory::MemoryStore;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use url::{StoreKind, StoreUrl, open};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::model::{
    Admission, CloseReason, Closed, Cutoffs, Page, PageRequest, Session, SessionChange,
    SessionCounts, SessionFilter, SessionId, TokenHash, UserLimit,
};

/// A backend that keeps sessions.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// A short name of the backend, e.g. `memory`, for status reports.
    fn kind(&self) -> &'static str;

    /// Add a new session.
    async fn insert(&self, session: &Session) -> Result<(), StoreError>;

    /// Add a new session unless its user is at `limit`, atomically with respect to every
    /// other open or close of that user, on every instance sharing the store. First the
    /// user's open sessions that are expired at `cutoffs` are closed with their reason
    /// (at `session.open_time`, reported in the [`Admission`]); then, at the limit, the oldest by `request_time` (ties by
    /// id) are closed as `EVICTED` or, under [`LimitPolicy::Deny`](crate::model::LimitPolicy),
    /// nothing is stored.
    async fn insert_limited(
        &self,
        session: &Session,
        limit: UserLimit,
        cutoffs: Cutoffs,
    ) -> Result<Admission, StoreError>;

    /// The session with this id, if any.
    async fn get(&self, id: &SessionId) -> Result<Option<Session>, StoreError>;

    /// Sessions matching `filter`, ordered by `request_time` descending then id ascending.
    async fn list(
        &self,
        filter: &SessionFilter,
        page: &PageRequest,
    ) -> Result<Page<Session>, StoreError>;

    /// Apply `change` and set `request_time = now`, only if the session exists, is open, and
    /// is not expired at `cutoffs`. Returns the updated session, or `None` otherwise.
    async fn update_open(
        &self,
        id: &SessionId,
        change: SessionChange,
        now: DateTime<Utc>,
        cutoffs: Cutoffs,
    ) -> Result<Option<Session>, StoreError>;

    /// Close the session at `now` for `reason`, recording `by` as who closed it (see
    /// [`Session::close_by`]) unless it already is closed. Returns the session as it now
    /// stands and whether this call closed it, or `None` when it is unknown.
    async fn close(
        &self,
        id: &SessionId,
        now: DateTime<Utc>,
        reason: CloseReason,
        by: &str,
    ) -> Result<Option<Closing>, StoreError>;

    /// Close the session at `now` only if it is open and expired at `cutoffs`, with its reason
    /// (see [`Cutoffs::reason`]), in one atomic step: a write that renewed it meanwhile keeps
    /// it open. Returns whether it closed it.
    async fn close_if_expired(
        &self,
        id: &SessionId,
        now: DateTime<Utc>,
        cutoffs: Cutoffs,
    ) -> Result<bool, StoreError>;

    /// Close, at `now`, every open session expired at `cutoffs`, each with its reason (see
    /// [`Cutoffs::reason`]). Returns the sessions it closed (their events need them).
    async fn close_expired(
        &self,
        cutoffs: Cutoffs,
        now: DateTime<Utc>,
    ) -> Result<Vec<Closed>, StoreError>;

    /// Close, at `now` and as `REVOKED` by `by`, every open session of `user_id` but `except`,
    /// in one atomic step. Returns the sessions it closed.
    async fn close_user(
        &self,
        user_id: &str,
        except: Option<SessionId>,
        now: DateTime<Utc>,
        by: &str,
    ) -> Result<Vec<Closed>, StoreError>;

    /// The session whose token has this hash, if any (open or closed).
    async fn get_by_token(&self, hash: &TokenHash) -> Result<Option<Session>, StoreError>;

    /// Replace an open session's token hash. Returns the updated session, or `None` when it
    /// is unknown or closed.
    async fn set_token(
        &self,
        id: &SessionId,
        hash: &TokenHash,
    ) -> Result<Option<Session>, StoreError>;

    /// Delete up to `max` closed sessions whose `close_time` is before `closed_before`, oldest
    /// first, in one short step. Returns how many were deleted; fewer than `max` means none
    /// are left.
    async fn purge_closed(
        &self,
        closed_before: DateTime<Utc>,
        max: usize,
    ) -> Result<u64, StoreError>;

    /// Remove the session; returns it, or `None` when it was unknown.
    async fn delete(&self, id: &SessionId) -> Result<Option<Session>, StoreError>;

    /// How many sessions are stored, and how many of them are open.
    async fn counts(&self) -> Result<SessionCounts, StoreError>;

    /// The cheapest round trip to the backend (`SELECT 1`; nothing for memory), for readiness
    /// checks: it touches no table.
    async fn ping(&self) -> Result<(), StoreError>;
}

impl std::fmt::Debug for dyn SessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionStore({})", self.kind())
    }
}

/// What [`SessionStore::close`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct Closing {
    /// The session as it now stands: closed.
    pub session: Session,
    /// True when this call closed it; false when it was closed already.
    pub closed_now: bool,
}

/// A failure of the storage backend itself (never of the caller's input).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A session with this id already exists.
    #[error("session {0} already exists")]
    Duplicate(SessionId),
    /// The backend cannot be reached right now.
    #[error("session store unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The backend failed in another way.
    #[error("session store failure")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The store cannot be opened as configured (unknown scheme, malformed URL).
    #[error("{0}")]
    Config(String),
}
