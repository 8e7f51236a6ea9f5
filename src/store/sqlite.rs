//! `SqliteStore`: sessions in one SQLite file, for a single machine; they survive restarts.

use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::query::Query;
use sqlx::sqlite::{
    SqliteArguments, SqliteConnectOptions, SqliteExecutor, SqliteJournalMode, SqlitePool,
    SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::types::Json;
use sqlx::{Row, Sqlite};

use super::sql::{self, Listing, Param, Statements, insert_error, store_error};
use super::{Closing, SessionStore, StoreError};
use crate::model::{
    Admission, CLOSED_BY_SYSTEM, CloseReason, Closed, Cutoffs, Page, PageRequest, Session,
    SessionChange, SessionCounts, SessionFilter, SessionId, TokenHash, UserLimit,
};

static SQL: LazyLock<Statements> = LazyLock::new(|| Statements::new("MAX"));

/// How long a statement waits for a lock held by another process (a backup, a second
/// instance started by mistake) before it fails as unavailable.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request waits for a connection. Writes queue for the one writer, each costing
/// an fsync, so this is longer than the busy timeout but shorter than a request's time limit.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections that read beside the writer.
const READERS: u32 = 4;

/// Keeps sessions in a SQLite database file, in WAL mode.
///
/// Every write goes through one connection: SQLite admits one writer at a time, and queueing
/// writers here serves them in order instead of failing them with `SQLITE_BUSY`. Reads use a
/// pool of their own; in WAL mode they see the last commit and never block the writer.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
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
        // The writer is never closed for idleness: its open connection keeps the WAL index in
        // place, and reopening would cost a checkpoint each time.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options.clone())
            .await
            .map_err(store_error)?;
        sqlx::migrate!("migrations/sqlite")
            .run(&writer)
            .await
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        let readers = SqlitePoolOptions::new()
            .max_connections(READERS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(store_error)?;
        Ok(Self { writer, readers })
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

#[async_trait]
impl SessionStore for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    async fn insert(&self, session: &Session) -> Result<(), StoreError> {
        insert_row(session)
            .execute(&self.writer)
            .await
            .map_err(|e| insert_error(e, session.id))?;
        Ok(())
    }

    async fn insert_limited(
        &self,
        session: &Session,
        limit: UserLimit,
        cutoffs: Cutoffs,
    ) -> Result<Admission, StoreError> {
        // One transaction on the one writer connection: nothing else writes in between.
        let now = millis(session.open_time);
        let mut tx = self.writer.begin().await.map_err(store_error)?;
        let expired: Vec<sql::ClosedRow> = sqlx::query_as(&SQL.close_user_expired)
            .bind(&session.user_id)
            .bind(millis(cutoffs.idle))
            .bind(lifetime(cutoffs))
            .bind(now)
            .fetch_all(&mut *tx)
            .await
            .map_err(store_error)?;
        let expired = sql::closed(expired)?;
        let open: Vec<(String,)> = sqlx::query_as(&SQL.user_open)
            .bind(&session.user_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(store_error)?;
        let Some(excess) = sql::to_evict(open.len(), limit) else {
            // Nothing is stored, but the expired sessions closed above stay closed, as on
            // every store: commit rather than let the drop roll them back.
            tx.commit().await.map_err(store_error)?;
            return Ok(Admission::Denied { expired });
        };
        let mut evicted = Vec::with_capacity(excess);
        for (id,) in open.into_iter().take(excess) {
            sqlx::query(&SQL.close)
                .bind(&id)
                .bind(now)
                .bind(CloseReason::Evicted.as_str())
                .bind(CLOSED_BY_SYSTEM)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
            evicted.push(id.parse().map_err(|e| StoreError::Backend(Box::new(e)))?);
        }
        insert_row(session)
            .execute(&mut *tx)
            .await
            .map_err(|e| insert_error(e, session.id))?;
        tx.commit().await.map_err(store_error)?;
        Ok(Admission::Opened { evicted, expired })
    }

    async fn get(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(&SQL.get)
            .bind(id.to_string())
            .fetch_optional(&self.readers)
            .await
            .map_err(store_error)?;
        row.as_ref().map(session).transpose().map_err(store_error)
    }

    async fn list(
        &self,
        filter: &SessionFilter,
        page: &PageRequest,
    ) -> Result<Page<Session>, StoreError> {
        let listing = sql::listing(filter, page);
        let (rows, total) = if page.total {
            // One read transaction: the page and its total come from the same snapshot.
            let mut tx = self.readers.begin().await.map_err(store_error)?;
            let rows = page_rows(&mut *tx, &listing).await.map_err(store_error)?;
            let total = count_rows(&mut *tx, &listing).await.map_err(store_error)?;
            tx.commit().await.map_err(store_error)?;
            (rows, Some(total))
        } else {
            let rows = page_rows(&self.readers, &listing)
                .await
                .map_err(store_error)?;
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
        let query = match change {
            SessionChange::Data(data) => sqlx::query(&SQL.update_data)
                .bind(id.to_string())
                .bind(data.map(Json)),
            SessionChange::User(user) => sqlx::query(&SQL.update_user)
                .bind(id.to_string())
                .bind(user.map(Json)),
            SessionChange::Touch => sqlx::query(&SQL.touch).bind(id.to_string()),
        };
        let row = query
            .bind(millis(now))
            .bind(millis(cutoffs.idle))
            .bind(lifetime(cutoffs))
            .fetch_optional(&self.writer)
            .await
            .map_err(store_error)?;
        row.as_ref().map(session).transpose().map_err(store_error)
    }

    async fn close(
        &self,
        id: &SessionId,
        now: DateTime<Utc>,
        reason: CloseReason,
        by: &str,
    ) -> Result<Option<Closing>, StoreError> {
        let row = sqlx::query(&SQL.close)
            .bind(id.to_string())
            .bind(millis(now))
            .bind(reason.as_str())
            .bind(by)
            .fetch_optional(&self.writer)
            .await
            .map_err(store_error)?;
        match row {
            Some(row) => {
                let session = session(&row).map_err(store_error)?;
                Ok(Some(Closing {
                    session,
                    closed_now: true,
                }))
            }
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
        let done = sqlx::query(&SQL.close_if_expired)
            .bind(id.to_string())
            .bind(millis(cutoffs.idle))
            .bind(lifetime(cutoffs))
            .bind(millis(now))
            .execute(&self.writer)
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn close_expired(
        &self,
        cutoffs: Cutoffs,
        now: DateTime<Utc>,
    ) -> Result<Vec<Closed>, StoreError> {
        let mut closed: Vec<sql::ClosedRow> = Vec::new();
        if cutoffs.lifetime.is_some() {
            let rows: Vec<sql::ClosedRow> = sqlx::query_as(&SQL.close_old)
                .bind(millis(cutoffs.idle))
                .bind(lifetime(cutoffs))
                .bind(millis(now))
                .fetch_all(&self.writer)
                .await
                .map_err(store_error)?;
            closed.extend(rows);
        }
        let rows: Vec<sql::ClosedRow> = sqlx::query_as(&SQL.close_idle)
            .bind(millis(cutoffs.idle))
            .bind(millis(now))
            .fetch_all(&self.writer)
            .await
            .map_err(store_error)?;
        closed.extend(rows);
        sql::closed(closed)
    }

    async fn close_user(
        &self,
        user_id: &str,
        except: Option<SessionId>,
        now: DateTime<Utc>,
        by: &str,
    ) -> Result<Vec<Closed>, StoreError> {
        let rows: Vec<sql::ClosedRow> = sqlx::query_as(&SQL.close_user)
            .bind(user_id)
            .bind(except.map(|id| id.to_string()).unwrap_or_default())
            .bind(millis(now))
            .bind(by)
            .fetch_all(&self.writer)
            .await
            .map_err(store_error)?;
        sql::closed(rows)
    }

    async fn get_by_token(&self, hash: &TokenHash) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(&SQL.get_by_token)
            .bind(hash.to_string())
            .fetch_optional(&self.readers)
            .await
            .map_err(store_error)?;
        row.as_ref().map(session).transpose().map_err(store_error)
    }

    async fn set_token(
        &self,
        id: &SessionId,
        hash: &TokenHash,
    ) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(&SQL.set_token)
            .bind(id.to_string())
            .bind(hash.to_string())
            .fetch_optional(&self.writer)
            .await
            .map_err(store_error)?;
        row.as_ref().map(session).transpose().map_err(store_error)
    }

    async fn purge_closed(
        &self,
        closed_before: DateTime<Utc>,
        max: usize,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(&SQL.purge)
            .bind(millis(closed_before))
            .bind(i64::try_from(max).unwrap_or(i64::MAX))
            .execute(&self.writer)
            .await
            .map_err(store_error)?;
        Ok(done.rows_affected())
    }

    async fn delete(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(&SQL.delete)
            .bind(id.to_string())
            .fetch_optional(&self.writer)
            .await
            .map_err(store_error)?;
        row.as_ref().map(session).transpose().map_err(store_error)
    }

    async fn counts(&self) -> Result<SessionCounts, StoreError> {
        let (total, active): (i64, i64) = sqlx::query_as(&SQL.counts)
            .fetch_one(&self.readers)
            .await
            .map_err(store_error)?;
        Ok(SessionCounts {
            active: u64::try_from(active).unwrap_or(0),
            total: u64::try_from(total).unwrap_or(0),
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query(sql::PING)
            .execute(&self.readers)
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
        let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {statement}"))
            .fetch_all(&store.readers)
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
