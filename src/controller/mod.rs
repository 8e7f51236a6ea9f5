//! `SessionsController`: the business rules (ids, times, limits, expiry) that every API shares.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

mod events;

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
use events::Publisher;

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

    /// Open a new active session.
    ///
    /// # Errors
    /// `InvalidInput` when a field breaks its limit; `Store` when the store fails.
    pub async fn open(&self, new: NewSession) -> Result<Session, SessionError> {
        Ok(self.open_with_token(new).await?.0)
    }

    /// Open a new active session with a fresh session token; returns the session and the
    /// token, which is shown only now (the store keeps its SHA-256 alone).
    ///
    /// # Errors
    /// `InvalidInput` when a field breaks its limit; `LimitReached`; `Store`.
    #[tracing::instrument(skip_all, err(Debug), fields(user_id = %new.user_id))]
    pub async fn open_with_token(
        &self,
        new: NewSession,
    ) -> Result<(Session, String), SessionError> {
        let user_id = new.user_id.trim();
        if user_id.is_empty() {
            return Err(SessionError::invalid(
                InputField::UserId,
                "must not be empty",
            ));
        }
        check_text(InputField::UserId, Some(&new.user_id), MAX_USER_ID_CHARS)?;
        check_text(
            InputField::UserName,
            new.user_name.as_deref(),
            MAX_TEXT_CHARS,
        )?;
        check_text(InputField::Address, new.address.as_deref(), MAX_TEXT_CHARS)?;
        check_text(InputField::Client, new.client.as_deref(), MAX_TEXT_CHARS)?;
        self.check_payload(InputField::User, new.user.as_ref())?;
        self.check_payload(InputField::Data, new.data.as_ref())?;
        let new = NewSession {
            user: new.user.filter(|v| !v.is_null()),
            data: new.data.filter(|v| !v.is_null()),
            ..new
        };
        let now = self.now();
        let token = secret::new_token();
        let session = Session {
            token_hash: Some(TokenHash::of(&token)),
            ..Session::open(SessionId::random(), new, now)
        };
        let order = self.events.lock(&session.id).await;
        match self.options.user_limit {
            None => self.store.insert(&session).await?,
            Some(limit) => {
                let admission = self
                    .store
                    .insert_limited(&session, limit, self.cutoffs(now))
                    .await?;
                match admission {
                    Admission::Denied { expired } => {
                        drop(order);
                        self.events.closed(&expired, now).await;
                        return Err(SessionError::LimitReached(session.user_id));
                    }
                    Admission::Opened { evicted, expired } => {
                        self.events
                            .session(SessionEventKind::Opened, &session, now)
                            .await;
                        drop(order);
                        metrics::sessions_closed(&expired);
                        self.events.closed(&expired, now).await;
                        let evicted: Vec<Closed> = evicted
                            .into_iter()
                            .map(|id| Closed {
                                id,
                                user_id: session.user_id.clone(),
                                reason: CloseReason::Evicted,
                            })
                            .collect();
                        for closed in &evicted {
                            tracing::debug!(session_id = %closed.id, reason = "EVICTED", "session closed");
                        }
                        metrics::sessions_closed(&evicted);
                        self.events.closed(&evicted, now).await;
                        metrics::session_opened();
                        tracing::debug!(session_id = %session.id, "session opened");
                        return Ok((session, token));
                    }
                }
            }
        }
        self.events
            .session(SessionEventKind::Opened, &session, now)
            .await;
        metrics::session_opened();
        tracing::debug!(session_id = %session.id, "session opened");
        Ok((session, token))
    }

    /// The open session whose token is `token`, counting this as its activity (a touch,
    /// so `touch_interval` spares most writes); `None` for an unknown token or the token of
    /// a closed or expired session (closed now).
    ///
    /// # Errors
    /// `Store` when the store fails.
    pub async fn authenticate_token(&self, token: &str) -> Result<Option<Session>, SessionError> {
        let Some(session) = self.store.get_by_token(&TokenHash::of(token)).await? else {
            return Ok(None);
        };
        if !session.active {
            return Ok(None);
        }
        match self.touch(&session.id).await {
            Ok(session) => Ok(Some(session)),
            Err(SessionError::Closed(_) | SessionError::NotFound(_)) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Give an open session a new token; the old one stops working at once. Returns the
    /// session and the new token, shown only now. Counts as activity.
    ///
    /// # Errors
    /// `NotFound`, `Closed` (an expired session is closed now), `Store`.
    #[tracing::instrument(skip(self), err(Debug), fields(session_id = %id))]
    pub async fn rotate_token(&self, id: &SessionId) -> Result<(Session, String), SessionError> {
        self.update_open(id, SessionChange::Touch).await?;
        let token = secret::new_token();
        match self.store.set_token(id, &TokenHash::of(&token)).await? {
            Some(session) => {
                tracing::info!(session_id = %id, "session token rotated");
                Ok((session, token))
            }
            // Closed between the two steps.
            None => Err(SessionError::Closed(*id)),
        }
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

    /// Replace an open session's data and mark it active now.
    ///
    /// # Errors
    /// `NotFound`, `Closed`, `InvalidInput` (payload too large), `Store`.
    #[tracing::instrument(skip(self, data), err(Debug), fields(session_id = %id))]
    pub async fn store_data(
        &self,
        id: &SessionId,
        data: Option<Value>,
    ) -> Result<Session, SessionError> {
        self.check_payload(InputField::Data, data.as_ref())?;
        self.update_open(id, SessionChange::Data(data.filter(|v| !v.is_null())))
            .await
    }

    /// Replace an open session's cached user and mark it active now.
    ///
    /// # Errors
    /// `NotFound`, `Closed`, `InvalidInput` (payload too large), `Store`.
    #[tracing::instrument(skip(self, user), err(Debug), fields(session_id = %id))]
    pub async fn update_user(
        &self,
        id: &SessionId,
        user: Option<Value>,
    ) -> Result<Session, SessionError> {
        self.check_payload(InputField::User, user.as_ref())?;
        self.update_open(id, SessionChange::User(user.filter(|v| !v.is_null())))
            .await
    }

    /// Mark an open session active now without changing anything else. A touch within
    /// `touch_interval` of the last activity is answered without a write, so a client may
    /// touch on every request.
    ///
    /// # Errors
    /// `NotFound`, `Closed` (an expired session is closed by the touch), `Store`.
    #[tracing::instrument(skip(self), err(Debug), fields(session_id = %id))]
    pub async fn touch(&self, id: &SessionId) -> Result<Session, SessionError> {
        if !self.options.touch_interval.is_zero() {
            let now = self.now();
            let interval =
                TimeDelta::from_std(self.options.touch_interval).unwrap_or(TimeDelta::MAX);
            if let Some(session) = self.store.get(id).await?
                && self.cutoffs(now).reason(&session).is_none()
                && session.active
                && now - session.request_time < interval
            {
                return Ok(session);
            }
        }
        self.update_open(id, SessionChange::Touch).await
    }

    async fn update_open(
        &self,
        id: &SessionId,
        change: SessionChange,
    ) -> Result<Session, SessionError> {
        let order = self.events.lock(id).await;
        let now = self.now();
        let cutoffs = self.cutoffs(now);
        let touch = matches!(change, SessionChange::Touch);
        if let Some(session) = self.store.update_open(id, change, now, cutoffs).await? {
            if !touch {
                self.events
                    .session(SessionEventKind::Changed, &session, now)
                    .await;
            }
            return Ok(session);
        }
        // The conditional update did nothing: unknown, closed, or expired (close it now).
        let Some(session) = self.store.get(id).await? else {
            return Err(SessionError::NotFound(*id));
        };
        // Closed only if still expired, in one step: a concurrent write that renewed it keeps
        // it open with what it stored. (Such a write would have to be stamped a whole expire
        // timeout before this one, so this one is refused as closed in that case only.)
        if let Some(reason) = cutoffs.reason(&session)
            && self.store.close_if_expired(id, now, cutoffs).await?
        {
            metrics::session_closed(reason.as_str(), 1);
            tracing::debug!(session_id = %id, %reason, "session closed");
            self.events
                .closed_one(*id, &session.user_id, reason, now)
                .await;
        }
        drop(order);
        Err(SessionError::Closed(*id))
    }

    /// Close a session as signed out (`LOGOUT`); see [`Self::close_for`].
    ///
    /// # Errors
    /// `NotFound` when it is unknown; `Store` when the store fails.
    pub async fn close(&self, id: &SessionId) -> Result<Session, SessionError> {
        self.close_for(id, CloseReason::Logout).await
    }

    /// Close a session for `reason`, `LOGOUT` or `REVOKED`; the other reasons are the
    /// service's own. Closing a closed session returns it unchanged, first reason kept.
    ///
    /// # Errors
    /// `InvalidInput` for another reason; `NotFound` when it is unknown; `Store`.
    pub async fn close_for(
        &self,
        id: &SessionId,
        reason: CloseReason,
    ) -> Result<Session, SessionError> {
        self.close_by(id, reason, CLOSED_BY_ANONYMOUS).await
    }

    /// Like [`Self::close_for`], recording `by` as who closed it (`key:NAME`, `session:ID`,
    /// `anonymous`).
    ///
    /// # Errors
    /// `InvalidInput` for another reason; `NotFound` when it is unknown; `Store`.
    #[tracing::instrument(skip(self), err(Debug), fields(session_id = %id))]
    pub async fn close_by(
        &self,
        id: &SessionId,
        reason: CloseReason,
        by: &str,
    ) -> Result<Session, SessionError> {
        if !matches!(reason, CloseReason::Logout | CloseReason::Revoked) {
            return Err(SessionError::invalid(
                InputField::Reason,
                format!("must be LOGOUT or REVOKED, not {reason}"),
            ));
        }
        let _order = self.events.lock(id).await;
        let now = self.now();
        let closing = self
            .store
            .close(id, now, reason, by)
            .await?
            .ok_or(SessionError::NotFound(*id))?;
        if closing.closed_now {
            metrics::session_closed(reason.as_str(), 1);
            self.events
                .session(SessionEventKind::Closed, &closing.session, now)
                .await;
        }
        tracing::debug!(session_id = %id, %reason, by, "session closed");
        Ok(closing.session)
    }

    /// Close every open session of `user_id` except `except` ("log out everywhere else"), as
    /// `REVOKED`, in one atomic step; returns how many. An unknown user closes none.
    ///
    /// # Errors
    /// `InvalidInput` for a user id over the length limit or holding U+0000; `Store`.
    pub async fn close_user_sessions(
        &self,
        user_id: &str,
        except: Option<SessionId>,
    ) -> Result<u64, SessionError> {
        self.close_user_sessions_by(user_id, except, CLOSED_BY_ANONYMOUS)
            .await
    }

    /// Like [`Self::close_user_sessions`], recording `by` as who closed them.
    ///
    /// # Errors
    /// `InvalidInput` for a user id over the length limit or holding U+0000; `Store`.
    #[tracing::instrument(skip(self), err(Debug))]
    pub async fn close_user_sessions_by(
        &self,
        user_id: &str,
        except: Option<SessionId>,
        by: &str,
    ) -> Result<u64, SessionError> {
        check_text(InputField::UserId, Some(user_id), MAX_USER_ID_CHARS)?;
        let now = self.now();
        let closed = self.store.close_user(user_id, except, now, by).await?;
        tracing::info!(
            user_id,
            closed = closed.len(),
            by,
            "user's sessions revoked"
        );
        metrics::sessions_closed(&closed);
        self.events.closed(&closed, now).await;
        Ok(closed.len() as u64)
    }

    /// Close every open session past its expiry (idle timeout or max lifetime), each with its
    /// reason; returns how many.
    ///
    /// # Errors
    /// `Store` when the store fails.
    #[tracing::instrument(skip(self), err(Debug))]
    pub async fn close_expired(&self) -> Result<u64, SessionError> {
        let now = self.now();
        let closed = self.store.close_expired(self.cutoffs(now), now).await?;
        if !closed.is_empty() {
            tracing::info!(closed = closed.len(), "expired sessions closed");
        }
        metrics::sessions_closed(&closed);
        self.events.closed(&closed, now).await;
        Ok(closed.len() as u64)
    }

    /// Delete the sessions closed longer ago than the retention, [`PURGE_BATCH`] at a time
    /// with a yield between steps; returns how many. Does nothing when retention is off.
    ///
    /// # Errors
    /// `Store` when the store fails (what was deleted before stays deleted).
    #[tracing::instrument(skip(self), err(Debug))]
    pub async fn purge_closed(&self) -> Result<u64, SessionError> {
        let Some(retention) = self.options.retention else {
            return Ok(0);
        };
        let before = TimeDelta::from_std(retention).unwrap_or(TimeDelta::MAX);
        let cutoff = self
            .now()
            .checked_sub_signed(before)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let mut purged = 0;
        loop {
            let step = self.store.purge_closed(cutoff, PURGE_BATCH).await?;
            purged += step;
            if step < PURGE_BATCH as u64 {
                break;
            }
            tokio::task::yield_now().await;
        }
        if purged > 0 {
            tracing::info!(purged, "closed sessions past retention deleted");
        }
        Ok(purged)
    }

    /// Remove a session and publish `DELETED`; returns it, or `None` when it was unknown.
    ///
    /// # Errors
    /// `Store` when the store fails.
    #[tracing::instrument(skip(self), err(Debug), fields(session_id = %id))]
    pub async fn delete(&self, id: &SessionId) -> Result<Option<Session>, SessionError> {
        let _order = self.events.lock(id).await;
        let deleted = self.store.delete(id).await?;
        if let Some(session) = &deleted {
            let now = self.now();
            self.events
                .session(SessionEventKind::Deleted, session, now)
                .await;
            metrics::session_deleted(session.active);
        }
        Ok(deleted)
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

    /// Set the open-sessions gauge from the store's count (at start, and after each cleanup,
    /// so it also reflects what other instances sharing the store did).
    pub async fn refresh_active_gauge(&self) {
        match self.store.counts().await {
            Ok(counts) => metrics::set_active_sessions(counts.active),
            Err(error) => tracing::warn!(error = ?error, "cannot count open sessions"),
        }
    }

    /// Start the background task that runs [`Self::close_expired`] and then
    /// [`Self::purge_closed`] every cleanup interval.
    ///
    /// The first run happens one interval after the start. Stop it with
    /// [`CleanupTask::stop`]; a run in progress finishes first.
    pub fn spawn_cleanup(&self) -> CleanupTask {
        let (stop, mut stopped) = watch::channel(false);
        let controller = self.clone();
        let period = self.options.cleanup_interval;
        let handle = tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    _ = ticks.tick() => {
                        let started = std::time::Instant::now();
                        // Failures are logged by each step; the next tick tries again.
                        let closed = controller.close_expired().await.unwrap_or(0);
                        let _ = controller.purge_closed().await;
                        metrics::cleanup_run(started.elapsed(), closed);
                        controller.refresh_active_gauge().await;
                    }
                }
            }
        });
        CleanupTask { stop, handle }
    }

    fn check_payload(&self, field: InputField, value: Option<&Value>) -> Result<(), SessionError> {
        let Some(value) = value else { return Ok(()) };
        let size = serialized_len(value);
        if size > self.options.max_payload {
            return Err(SessionError::invalid(
                field,
                format!(
                    "is {size} bytes as JSON, more than the limit of {} bytes",
                    self.options.max_payload
                ),
            ));
        }
        if json_has_nul(value) {
            return Err(SessionError::invalid(field, NUL_REASON));
        }
        Ok(())
    }
}

/// The running background cleanup; see [`SessionsController::spawn_cleanup`].
#[derive(Debug)]
pub struct CleanupTask {
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

impl CleanupTask {
    /// Ask the task to stop and wait until it has.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.handle.await {
            tracing::error!(%error, "cleanup task failed");
        }
    }
}

// Durable stores cannot keep U+0000 in text (PostgreSQL's text refuses it), so no store
// accepts it: every backend behaves the same, and the client hears why. Documents too: the
// `json` columns would take an escaped U+0000, but PostgreSQL's `jsonb` and its JSON-to-text
// functions refuse it, so such a document could not be queried or converted there.
const NUL_REASON: &str = "must not contain the NUL character (U+0000)";

fn check_text(field: InputField, value: Option<&str>, max: usize) -> Result<(), SessionError> {
    match value {
        Some(text) if text.chars().count() > max => Err(SessionError::invalid(
            field,
            format!("must be at most {max} characters"),
        )),
        Some(text) if text.contains('\0') => Err(SessionError::invalid(field, NUL_REASON)),
        _ => Ok(()),
    }
}

/// How many bytes `value` takes as compact JSON, counted without building the text.
fn serialized_len(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing a `Value` to a sink that never fails cannot fail.
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX,
    }
}

/// True when a string or an object key anywhere in `value` holds U+0000.
fn json_has_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(json_has_nul),
        Value::Object(fields) => fields
            .iter()
            .any(|(key, item)| key.contains('\0') || json_has_nul(item)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

fn page_request(paging: Paging) -> Result<PageRequest, SessionError> {
    let count = |field, value: Option<i64>, default: usize| match value {
        None => Ok(default),
        Some(n) if n < 0 => Err(SessionError::invalid(field, "must not be negative")),
        Some(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
    };
    Ok(PageRequest {
        skip: count(InputField::Skip, paging.skip, 0)?,
        take: count(InputField::Take, paging.take, DEFAULT_TAKE)?.min(MAX_TAKE),
        total: paging.total,
    })
}

#[cfg(test)]
mod tests;
