//! `SqliteStore`: sessions in one SQLite file, for a single machine; they survive restarts.
//!
//! Writes are committed in groups: one writer task owns the only connection that writes, takes
//! every write waiting for it (up to [`MAX_BATCH`]), runs them in one transaction and answers
//! them all after its one commit, so one disk sync serves every write that was waiting.

use std::path::Path;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use serde_json::Value;
use sqlx::error::ErrorKind;
use sqlx::query::Query;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteConnection, SqliteExecutor, SqliteJournalMode,
    SqliteRow, SqliteSynchronous,
};
use sqlx::types::Json;
use sqlx::{Connection, Row, Sqlite};
use tokio::sync::{mpsc, oneshot};

use super::sql::{self, Connections, Listing, Param, Statements, insert_error, store_error};
use super::{Closing, SessionStore, StoreError};
use crate::model::{
    Admission, CLOSED_BY_SYSTEM, CloseReason, Closed, Cutoffs, Page, PageRequest, Session,
    SessionChange, SessionCounts, SessionFilter, SessionId, TokenHash, UserLimit,
};

static SQL: LazyLock<Statements> = LazyLock::new(|| Statements::new("MAX"));

/// How long a statement waits for a lock held by another process (a backup, a second
/// instance started by mistake) before it fails as unavailable.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a read waits for a connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections that read beside the writer.
const READERS: usize = 4;
/// Most writes committed together. Under 64 concurrent clients a batch holds up to 64; the
/// bound keeps one commit (and the answers waiting for it) short when thousands wait.
const MAX_BATCH: usize = 128;
/// Writes that may wait for the writer before callers wait to hand theirs over.
const QUEUE: usize = 1024;
/// How much of the file readers map into memory: reads of cached pages then cost no system
/// call. Pages past it are read as usual.
const MMAP_BYTES: &str = "268435456";

/// Keeps sessions in a SQLite database file, in WAL mode.
///
/// Every write goes to one writer task (see `Writer`): SQLite admits one writer at a time,
/// and queueing writes here serves them in order instead of failing them with `SQLITE_BUSY`.
/// Reads use connections of their own; in WAL mode they see the last commit and never block
/// the writer.
#[derive(Clone)]
pub struct SqliteStore {
    writer: Writer,
    readers: Arc<Connections<SqliteConnection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

impl SqliteStore {
    /// Open (creating the file and its folder when missing) the database at `path` and bring
    /// its schema up to date.
    ///
    /// # Errors
    /// When the folder or file cannot be created or opened, or a migration fails.
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(folder).await.map_err(|e| {
                let message = format!("cannot create folder {}: {e}", folder.display());
                StoreError::Unavailable(message.into())
            })?;
        }
        // Durability: in WAL mode a commit is in the WAL file before the statement returns, so
        // a killed process loses nothing; `synchronous = FULL` also syncs the WAL at every
        // commit, so a power loss or OS crash loses nothing acknowledged either.
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT);
        // The writer's connection stays open for the life of the store: it keeps the WAL
        // index in place, and reopening would cost a checkpoint each time.
        let mut writer = SqliteConnection::connect_with(&options)
            .await
            .map_err(store_error)?;
        sqlx::migrate!("migrations/sqlite")
            .run(&mut writer)
            .await
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        let readers = Connections::new(
            options.pragma("mmap_size", MMAP_BYTES),
            READERS,
            ACQUIRE_TIMEOUT,
        );
        Ok(Self {
            writer: Writer::start(writer),
            readers: Arc::new(readers),
        })
    }
}

/// A write as the writer runs it: the write itself, inside the batch's transaction, which
/// leaves what to do once the batch is committed (or not).
type Job = Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Ran> + Send>;

/// Why a whole batch failed, given to every write in it.
type BatchError = Arc<dyn std::error::Error + Send + Sync>;

/// Answers a write's caller once its batch is done: `None` when the batch committed.
type Answer = Box<dyn FnOnce(Option<&BatchError>) + Send>;

/// A write that ran, waiting for its batch's commit.
struct Ran {
    /// Set when the write failed in a way that ends the transaction (see [`ends_batch`]).
    ends_batch: Option<String>,
    /// Answers the caller: with the write's own result, or with the batch's failure.
    answer: Answer,
}

/// The handle to the writer task: group commit.
///
/// The task owns the only connection that writes. It takes every write waiting (up to
/// [`MAX_BATCH`]), runs them one after another inside one `BEGIN IMMEDIATE … COMMIT`, and
/// answers them only once `COMMIT` has returned: with `synchronous = FULL` that is one WAL
/// sync for the whole batch, and an answered write is on disk.
///
/// A write that fails does not fail the others: SQLite undoes a failed statement on its own
/// (a constraint violation, say) and the transaction goes on; writes of several statements
/// run in a savepoint of their own (`Connection::begin` inside the batch). Only a failure
/// that may end the transaction itself (an I/O error, a full disk) ends the batch: it is
/// rolled back, the writes before it are answered with that failure and the writes after it
/// go into the next batch.
#[derive(Clone)]
struct Writer {
    inbox: mpsc::Sender<Job>,
}

impl Writer {
    /// Start the writer task over `connection`. It stops, closing the connection, when the
    /// last handle is dropped.
    fn start(connection: SqliteConnection) -> Self {
        let (inbox, jobs) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(connection, jobs));
        Self { inbox }
    }

    /// Run `write` in the next batch; its own result once the batch is committed.
    ///
    /// # Errors
    /// `Unavailable` when the batch failed as a whole (its transaction could not begin or
    /// commit), or the writer has stopped.
    async fn run<T: Send + 'static>(
        &self,
        write: impl for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T, sqlx::Error>>
        + Send
        + 'static,
    ) -> Result<Result<T, sqlx::Error>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |connection| {
            Box::pin(async move {
                let result = write(connection).await;
                let ends_batch = match &result {
                    Err(error) if ends_batch(error) => Some(error.to_string()),
                    _ => None,
                };
                let own_failure = ends_batch.is_some();
                let answer: Answer = Box::new(move |batch: Option<&BatchError>| {
                    let answer = match batch {
                        Some(error) if !own_failure => {
                            Err(StoreError::Unavailable(Box::new(error.clone())))
                        }
                        _ => Ok(result),
                    };
                    // The caller may have given up waiting (a request timeout): the write
                    // stands all the same.
                    let _ = reply.send(answer);
                });
                Ran { ends_batch, answer }
            })
        });
        let stopped = || StoreError::Unavailable("the SQLite writer has stopped".into());
        self.inbox.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| {
            StoreError::Unavailable("the write was not run: its transaction could not begin".into())
        })?
    }
}

/// Whether a write's failure may have ended the batch's transaction. SQLite undoes only the
/// failed statement for constraint violations, and values that cannot be decoded fail after
/// the statement ran; anything else (I/O, a full disk, a lost worker) ends the batch, to be
/// safe.
fn ends_batch(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(database) => database.kind() == ErrorKind::Other,
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}

/// The writer task: batches until every [`Writer`] handle is gone.
async fn write_batches(mut connection: SqliteConnection, mut inbox: mpsc::Receiver<Job>) {
    let mut jobs = std::collections::VecDeque::with_capacity(MAX_BATCH);
    loop {
        if jobs.is_empty() {
            let mut taken = Vec::with_capacity(MAX_BATCH);
            if inbox.recv_many(&mut taken, MAX_BATCH).await == 0 {
                break;
            }
            jobs.extend(taken);
        }
        commit_batch(&mut connection, &mut jobs).await;
        // Let the answered requests (and everything else on this thread) run before the
        // next batch.
        tokio::task::yield_now().await;
    }
    let _ = connection.close().await;
}

/// Run the jobs in one transaction and answer them. Jobs after one that ended the
/// transaction stay in `jobs`, for the next batch.
async fn commit_batch(
    connection: &mut SqliteConnection,
    jobs: &mut std::collections::VecDeque<Job>,
) {
    let mut ran = Vec::with_capacity(jobs.len());
    let failure: Option<BatchError> = match connection.begin_with("BEGIN IMMEDIATE").await {
        Err(error) => {
            // Nothing ran: the callers learn that theirs did not (dropping a job drops its
            // reply channel).
            tracing::warn!(%error, "cannot begin a SQLite write transaction");
            jobs.clear();
            return;
        }
        Ok(mut tx) => {
            let mut ended = None;
            while let Some(job) = jobs.pop_front() {
                let done = job(&mut tx).await;
                ran.push(done.answer);
                if let Some(reason) = done.ends_batch {
                    ended = Some(reason);
                    break;
                }
            }
            match ended {
                Some(reason) => {
                    let _ = tx.rollback().await;
                    let message = format!("an earlier write in the same commit failed: {reason}");
                    Some(Arc::from(Box::<dyn std::error::Error + Send + Sync>::from(
                        message,
                    )))
                }
                None => tx
                    .commit()
                    .await
                    .err()
                    .map(|error| Arc::new(error) as BatchError),
            }
        }
    };
    for answer in ran {
        answer(failure.as_ref());
    }
}

/// Times are stored as INTEGER milliseconds since the Unix epoch (UTC): exact at the precision
/// sessions keep, compact, and they sort and compare as numbers, where SQLite's text times
/// only sort right when every value has the same width and offset.
fn millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

fn time(millis: i64) -> Result<DateTime<Utc>, sqlx::Error> {
    DateTime::from_timestamp_millis(millis)
        .ok_or_else(|| sqlx::Error::Decode(format!("time {millis} ms is out of range").into()))
}

fn session(row: &SqliteRow) -> Result<Session, sqlx::Error> {
    let id: &str = row.try_get("id")?;
    let json = |column| -> Result<Option<Value>, sqlx::Error> {
        Ok(row.try_get::<Option<Json<Value>>, _>(column)?.map(|j| j.0))
    };
    Ok(Session {
        id: id.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        user_id: row.try_get("user_id")?,
        user_name: row.try_get("user_name")?,
        active: row.try_get("active")?,
        open_time: time(row.try_get("open_time")?)?,
        request_time: time(row.try_get("request_time")?)?,
        close_time: row
            .try_get::<Option<i64>, _>("close_time")?
            .map(time)
            .transpose()?,
        address: row.try_get("address")?,
        client: row.try_get("client")?,
        user: json("user")?,
        data: json("data")?,
        close_reason: sql::close_reason(row.try_get("close_reason")?)?,
        closed_by: row.try_get("closed_by")?,
        token_hash: sql::token_hash(row.try_get("token_hash")?)?,
    })
}

/// A lifetime cutoff as bound: without a max lifetime, a time no session is opened before.
fn lifetime(cutoffs: Cutoffs) -> i64 {
    cutoffs.lifetime.map_or(i64::MIN, millis)
}

type SqliteQuery<'q> = Query<'q, Sqlite, SqliteArguments<'q>>;

/// The insert of `session`, bound and ready to run.
fn insert_row(session: &Session) -> SqliteQuery<'_> {
    sqlx::query(&SQL.insert)
        .bind(session.id.to_string())
        .bind(&session.user_id)
        .bind(&session.user_name)
        .bind(session.active)
        .bind(millis(session.open_time))
        .bind(millis(session.request_time))
        .bind(session.close_time.map(millis))
        .bind(&session.address)
        .bind(&session.client)
        .bind(session.user.as_ref().map(Json))
        .bind(session.data.as_ref().map(Json))
        .bind(session.close_reason.map(CloseReason::as_str))
        .bind(&session.closed_by)
        .bind(session.token_hash.map(|hash| hash.to_string()))
}

fn bind_params<'q>(mut query: SqliteQuery<'q>, params: &'q [Param]) -> SqliteQuery<'q> {
    for param in params {
        query = match param {
            Param::Text(text) => query.bind(text.as_str()),
            Param::Bool(flag) => query.bind(*flag),
            Param::Time(time) => query.bind(millis(*time)),
        };
    }
    query
}

/// The rows of `listing`'s page.
async fn page_rows<'c>(
    executor: impl SqliteExecutor<'c>,
    listing: &Listing,
) -> Result<Vec<SqliteRow>, sqlx::Error> {
    bind_params(sqlx::query(&listing.page), &listing.params)
        .bind(listing.limit)
        .bind(listing.offset)
        .fetch_all(executor)
        .await
}

/// How many sessions match `listing`'s filter.
async fn count_rows<'c>(
    executor: impl SqliteExecutor<'c>,
    listing: &Listing,
) -> Result<u64, sqlx::Error> {
    let row = bind_params(sqlx::query(&listing.count), &listing.params)
        .fetch_one(executor)
        .await?;
    let count: i64 = row.try_get(0)?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Limited open, in the writer's transaction: close the user's expired sessions, evict the
/// oldest open ones over `limit`, insert. In a savepoint, so that a failure (a duplicate id)
/// undoes its earlier statements and none of the batch's other writes.
async fn admit(
    connection: &mut SqliteConnection,
    session: &Session,
    limit: UserLimit,
    cutoffs: Cutoffs,
) -> Result<(Vec<sql::ClosedRow>, Option<Vec<String>>), sqlx::Error> {
    let now = millis(session.open_time);
    let mut tx = connection.begin().await?;
    let expired: Vec<sql::ClosedRow> = sqlx::query_as(&SQL.close_user_expired)
        .bind(&session.user_id)
        .bind(millis(cutoffs.idle))
        .bind(lifetime(cutoffs))
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
    let open: Vec<(String,)> = sqlx::query_as(&SQL.user_open)
        .bind(&session.user_id)
        .fetch_all(&mut *tx)
        .await?;
    let Some(excess) = sql::to_evict(open.len(), limit) else {
        // Nothing is stored, but the expired sessions closed above stay closed, as on every
        // store.
        tx.commit().await?;
        return Ok((expired, None));
    };
    let mut evicted = Vec::with_capacity(excess);
    for (id,) in open.into_iter().take(excess) {
        sqlx::query(&SQL.close)
            .bind(&id)
            .bind(now)
            .bind(CloseReason::Evicted.as_str())
            .bind(CLOSED_BY_SYSTEM)
            .execute(&mut *tx)
            .await?;
        evicted.push(id);
    }
    insert_row(session).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok((expired, Some(evicted)))
}

/// One step of closing expired sessions: up to `max` of them, in a savepoint (two statements).
async fn close_expired_step(
    connection: &mut SqliteConnection,
    cutoffs: Cutoffs,
    now: DateTime<Utc>,
    max: i64,
) -> Result<Vec<sql::ClosedRow>, sqlx::Error> {
    let mut tx = connection.begin().await?;
    let mut closed: Vec<sql::ClosedRow> = Vec::new();
    if cutoffs.lifetime.is_some() {
        let rows: Vec<sql::ClosedRow> = sqlx::query_as(&SQL.close_old_some)
            .bind(millis(cutoffs.idle))
            .bind(lifetime(cutoffs))
            .bind(millis(now))
            .bind(max)
            .fetch_all(&mut *tx)
            .await?;
        closed.extend(rows);
    }
    let rows: Vec<sql::ClosedRow> = sqlx::query_as(&SQL.close_idle_some)
        .bind(millis(cutoffs.idle))
        .bind(millis(now))
        .bind(max)
        .fetch_all(&mut *tx)
        .await?;
    closed.extend(rows);
    tx.commit().await?;
    Ok(closed)
}

/// Sessions closed by one expiry step: each step is one write in a batch, so that other
/// writes are committed between steps instead of waiting for a million closes.
const EXPIRY_STEP: usize = 1_000;

/// The session in `row`, if any.
fn session_in(row: Option<SqliteRow>) -> Result<Option<Session>, sqlx::Error> {
    row.as_ref().map(session).transpose()
}

#[async_trait]
impl SessionStore for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    async fn insert(&self, session: &Session) -> Result<(), StoreError> {
        let row = session.clone();
        self.writer
            .run(move |connection| {
                Box::pin(async move { insert_row(&row).execute(connection).await.map(drop) })
            })
            .await?
            .map_err(|e| insert_error(e, session.id))
    }

    async fn insert_limited(
        &self,
        session: &Session,
        limit: UserLimit,
        cutoffs: Cutoffs,
    ) -> Result<Admission, StoreError> {
        let row = session.clone();
        let (expired, evicted) = self
            .writer
            .run(move |connection| {
                Box::pin(async move { admit(connection, &row, limit, cutoffs).await })
            })
            .await?
            .map_err(|e| insert_error(e, session.id))?;
        sql::admission(expired, evicted)
    }

    async fn get(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let mut lease = self.readers.lease().await.map_err(store_error)?;
        let row = sqlx::query(&SQL.get)
            .bind(id.to_string())
            .fetch_optional(lease.connection())
            .await;
        row.and_then(session_in).map_err(store_error)
    }

    async fn list(
        &self,
        filter: &SessionFilter,
        page: &PageRequest,
    ) -> Result<Page<Session>, StoreError> {
        let listing = sql::listing(filter, page);
        let mut lease = self.readers.lease().await.map_err(store_error)?;
        let connection = lease.connection();
        let (rows, total) = if page.total {
            // One read transaction: the page and its total come from the same snapshot.
            let mut tx = connection.begin().await.map_err(store_error)?;
            let rows = page_rows(&mut *tx, &listing).await.map_err(store_error)?;
            let total = count_rows(&mut *tx, &listing).await.map_err(store_error)?;
            tx.commit().await.map_err(store_error)?;
            (rows, Some(total))
        } else {
            let rows = page_rows(connection, &listing).await.map_err(store_error)?;
            (rows, None)
        };
        let data = rows.iter().map(session).collect::<Result<_, _>>();
        Ok(Page {
            total,
            data: data.map_err(store_error)?,
        })
    }

    async fn update_open(
        &self,
        id: &SessionId,
        change: SessionChange,
        now: DateTime<Utc>,
        cutoffs: Cutoffs,
    ) -> Result<Option<Session>, StoreError> {
        let id = id.to_string();
        self.writer
            .run(move |connection| {
                Box::pin(async move {
                    let query = match change {
                        SessionChange::Data(data) => {
                            sqlx::query(&SQL.update_data).bind(id).bind(data.map(Json))
                        }
                        SessionChange::User(user) => {
                            sqlx::query(&SQL.update_user).bind(id).bind(user.map(Json))
                        }
                        SessionChange::Touch => sqlx::query(&SQL.touch).bind(id),
                    };
                    let row = query
                        .bind(millis(now))
                        .bind(millis(cutoffs.idle))
                        .bind(lifetime(cutoffs))
                        .fetch_optional(connection)
                        .await?;
                    session_in(row)
                })
            })
            .await?
            .map_err(store_error)
    }

    async fn close(
        &self,
        id: &SessionId,
        now: DateTime<Utc>,
        reason: CloseReason,
        by: &str,
    ) -> Result<Option<Closing>, StoreError> {
        let (key, by) = (id.to_string(), by.to_owned());
        let closed = self
            .writer
            .run(move |connection| {
                Box::pin(async move {
                    let row = sqlx::query(&SQL.close)
                        .bind(key)
                        .bind(millis(now))
                        .bind(reason.as_str())
                        .bind(by)
                        .fetch_optional(connection)
                        .await?;
                    session_in(row)
                })
            })
            .await?
            .map_err(store_error)?;
        match closed {
            Some(session) => Ok(Some(Closing {
                session,
                closed_now: true,
            })),
            // Unknown, or closed already (a closed session never reopens): as it stands.
            None => Ok(self.get(id).await?.map(|session| Closing {
                session,
                closed_now: false,
            })),
        }
    }

    async fn close_if_expired(
        &self,
        id: &SessionId,
        now: DateTime<Utc>,
        cutoffs: Cutoffs,
    ) -> Result<bool, StoreError> {
        let id = id.to_string();
        self.writer
            .run(move |connection| {
                Box::pin(async move {
                    let done = sqlx::query(&SQL.close_if_expired)
                        .bind(id)
                        .bind(millis(cutoffs.idle))
                        .bind(lifetime(cutoffs))
                        .bind(millis(now))
                        .execute(connection)
                        .await?;
                    Ok(done.rows_affected() > 0)
                })
            })
            .await?
            .map_err(store_error)
    }

    async fn close_expired(
        &self,
        cutoffs: Cutoffs,
        now: DateTime<Utc>,
    ) -> Result<Vec<Closed>, StoreError> {
        // A step at a time: each step is one write among the others, so a million expired
        // sessions delay other writes by one step, not by the whole cleanup.
        let max = i64::try_from(EXPIRY_STEP).unwrap_or(i64::MAX);
        let mut closed = Vec::new();
        loop {
            let step = self
                .writer
                .run(move |connection| {
                    Box::pin(async move { close_expired_step(connection, cutoffs, now, max).await })
                })
                .await?
                .map_err(store_error)?;
            let done = step.len() < EXPIRY_STEP;
            closed.extend(sql::closed(step)?);
            if done {
                return Ok(closed);
            }
        }
    }

    async fn close_user(
        &self,
        user_id: &str,
        except: Option<SessionId>,
        now: DateTime<Utc>,
        by: &str,
    ) -> Result<Vec<Closed>, StoreError> {
        let (user_id, by) = (user_id.to_owned(), by.to_owned());
        let except = except.map(|id| id.to_string()).unwrap_or_default();
        let rows = self
            .writer
            .run(move |connection| {
                Box::pin(async move {
                    sqlx::query_as(&SQL.close_user)
                        .bind(user_id)
                        .bind(except)
                        .bind(millis(now))
                        .bind(by)
                        .fetch_all(connection)
                        .await
                })
            })
            .await?
            .map_err(store_error)?;
        sql::closed(rows)
    }

    async fn get_by_token(&self, hash: &TokenHash) -> Result<Option<Session>, StoreError> {
        let mut lease = self.readers.lease().await.map_err(store_error)?;
        let row = sqlx::query(&SQL.get_by_token)
            .bind(hash.to_string())
            .fetch_optional(lease.connection())
            .await;
        row.and_then(session_in).map_err(store_error)
    }

    async fn set_token(
        &self,
        id: &SessionId,
        hash: &TokenHash,
    ) -> Result<Option<Session>, StoreError> {
        let (id, hash) = (id.to_string(), hash.to_string());
        self.writer
            .run(move |connection| {
                Box::pin(async move {
                    let row = sqlx::query(&SQL.set_token)
                        .bind(id)
                        .bind(hash)
                        .fetch_optional(connection)
                        .await?;
                    session_in(row)
                })
            })
            .await?
            .map_err(store_error)
    }

    async fn purge_closed(
        &self,
        closed_before: DateTime<Utc>,
        max: usize,
    ) -> Result<u64, StoreError> {
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        self.writer
            .run(move |connection| {
                Box::pin(async move {
                    let done = sqlx::query(&SQL.purge)
                        .bind(millis(closed_before))
                        .bind(max)
                        .execute(connection)
                        .await?;
                    Ok(done.rows_affected())
                })
            })
            .await?
            .map_err(store_error)
    }

    async fn delete(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let id = id.to_string();
        self.writer
            .run(move |connection| {
                Box::pin(async move {
                    let row = sqlx::query(&SQL.delete)
                        .bind(id)
                        .fetch_optional(connection)
                        .await?;
                    session_in(row)
                })
            })
            .await?
            .map_err(store_error)
    }

    async fn counts(&self) -> Result<SessionCounts, StoreError> {
        let mut lease = self.readers.lease().await.map_err(store_error)?;
        let (total, active): (i64, i64) = sqlx::query_as(&SQL.counts)
            .fetch_one(lease.connection())
            .await
            .map_err(store_error)?;
        Ok(SessionCounts {
            active: u64::try_from(active).unwrap_or(0),
            total: u64::try_from(total).unwrap_or(0),
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut lease = self.readers.lease().await.map_err(store_error)?;
        sqlx::query(sql::PING)
            .execute(lease.connection())
            .await
            .map_err(store_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! The hot queries read a range of an index: no full scan, no sort.

    use super::*;

    /// SQLite's plan for `statement`, one step per line.
    async fn plan(store: &SqliteStore, statement: &str) -> String {
        let mut lease = store.readers.lease().await.expect("a reader");
        let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {statement}"))
            .fetch_all(lease.connection())
            .await
            .expect("explains");
        let steps: Vec<String> = rows
            .iter()
            .map(|row| row.try_get("detail").expect("detail column"))
            .collect();
        steps.join("\n")
    }

    #[tokio::test]
    async fn listing_a_users_sessions_and_closing_expired_ones_search_an_index() {
        let folder = std::env::temp_dir().join(format!("sessions-plan-{}", SessionId::random()));
        let store = SqliteStore::open(folder.join("s.db")).await.expect("opens");
        let by_user = SessionFilter {
            user_id: Some("alice".into()),
            ..SessionFilter::default()
        };
        let page = PageRequest {
            skip: 0,
            take: 20,
            total: true,
        };
        let listing = sql::listing(&by_user, &page);

        let list_plan = plan(&store, &listing.page).await;
        let count_plan = plan(&store, &listing.count).await;
        let expire_plan = plan(&store, &SQL.close_idle).await;
        let lifetime_plan = plan(&store, &SQL.close_old).await;
        let purge_plan = plan(&store, &SQL.purge).await;
        let _ = std::fs::remove_dir_all(&folder);

        assert!(
            list_plan.contains("USING INDEX sessions_by_user"),
            "{list_plan}"
        );
        assert!(!list_plan.contains("TEMP B-TREE"), "sorts: {list_plan}");
        assert!(count_plan.contains("sessions_by_user"), "{count_plan}");
        // "USING COVERING INDEX" since the close returns what it closed: a search either way.
        assert!(
            expire_plan.contains("INDEX sessions_by_activity"),
            "{expire_plan}"
        );
        assert!(expire_plan.contains("request_time<?"), "{expire_plan}");
        assert!(
            lifetime_plan.contains("INDEX sessions_open_by_open_time (active=? AND open_time<?)"),
            "{lifetime_plan}"
        );
        assert!(
            purge_plan
                .contains("USING INDEX sessions_closed_by_close_time (active=? AND close_time<?)"),
            "{purge_plan}"
        );
    }
}
