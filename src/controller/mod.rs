//! `SessionsController`: the business rules (ids, times, limits, expiry) that every API shares.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::{Clock, SystemClock};
use crate::error::{InputField, SessionError};
use crate::model::{
    NewSession, Page, PageRequest, Session, SessionChange, SessionCounts, SessionFilter, SessionId,
    truncate_to_millis,
};
use crate::store::SessionStore;

/// Longest accepted user id, in characters.
pub const MAX_USER_ID_CHARS: usize = 256;
/// Longest accepted user name, address or client, in characters.
pub const MAX_TEXT_CHARS: usize = 1024;
/// Page size when the caller gives none.
pub const DEFAULT_TAKE: usize = 100;
/// Largest page; larger requests are clamped to it.
pub const MAX_TAKE: usize = 1000;

/// Tunable rules of the controller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerOptions {
    /// An open session idle for longer than this is closed by [`SessionsController::close_expired`].
    pub expire_timeout: Duration,
    /// How often the background task closes expired sessions.
    pub cleanup_interval: Duration,
    /// Largest accepted `user` or `data` JSON, in bytes when serialized.
    pub max_payload: usize,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        Self {
            expire_timeout: Duration::from_secs(24 * 60 * 60),
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
        }
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

    /// Open a new active session.
    ///
    /// # Errors
    /// `InvalidInput` when a field breaks its limit; `Store` when the store fails.
    #[tracing::instrument(skip_all, err(Debug), fields(user_id = %new.user_id))]
    pub async fn open(&self, new: NewSession) -> Result<Session, SessionError> {
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
        let session = Session::open(SessionId::random(), new, self.now());
        self.store.insert(&session).await?;
        tracing::info!(session_id = %session.id, "session opened");
        Ok(session)
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

    async fn update_open(
        &self,
        id: &SessionId,
        change: SessionChange,
    ) -> Result<Session, SessionError> {
        if let Some(session) = self.store.update_open(id, change, self.now()).await? {
            return Ok(session);
        }
        // The conditional update did nothing: tell "unknown" from "closed".
        match self.store.get(id).await? {
            Some(_) => Err(SessionError::Closed(*id)),
            None => Err(SessionError::NotFound(*id)),
        }
    }

    /// Close a session; closing a closed session returns it unchanged.
    ///
    /// # Errors
    /// `NotFound` when it is unknown; `Store` when the store fails.
    #[tracing::instrument(skip(self), err(Debug), fields(session_id = %id))]
    pub async fn close(&self, id: &SessionId) -> Result<Session, SessionError> {
        self.store
            .close(id, self.now())
            .await?
            .ok_or(SessionError::NotFound(*id))
    }

    /// Close every open session idle for longer than the expire timeout; returns how many.
    ///
    /// # Errors
    /// `Store` when the store fails.
    #[tracing::instrument(skip(self), err(Debug))]
    pub async fn close_expired(&self) -> Result<u64, SessionError> {
        let now = self.now();
        let timeout = TimeDelta::from_std(self.options.expire_timeout).unwrap_or(TimeDelta::MAX);
        let cutoff = now
            .checked_sub_signed(timeout)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let closed = self.store.close_expired(cutoff, now).await?;
        if closed > 0 {
            tracing::info!(closed, "expired sessions closed");
        }
        Ok(closed)
    }

    /// Remove a session; returns it, or `None` when it was unknown.
    ///
    /// # Errors
    /// `Store` when the store fails.
    #[tracing::instrument(skip(self), err(Debug), fields(session_id = %id))]
    pub async fn delete(&self, id: &SessionId) -> Result<Option<Session>, SessionError> {
        Ok(self.store.delete(id).await?)
    }

    /// How many sessions are stored and how many are open.
    ///
    /// # Errors
    /// `Store` when the store fails.
    pub async fn counts(&self) -> Result<SessionCounts, SessionError> {
        Ok(self.store.counts().await?)
    }

    /// Start the background task that runs [`Self::close_expired`] every cleanup interval.
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
                        // Failures are logged by `close_expired`; the next tick tries again.
                        let _ = controller.close_expired().await;
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
