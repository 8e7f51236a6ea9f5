//! `PostgresStore`: sessions in a PostgreSQL database, shared by any number of instances.

use std::str::FromStr;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::types::Oid;
use sqlx::postgres::{
    PgArgumentBuffer, PgArguments, PgConnectOptions, PgConnection, PgExecutor, PgRow, PgTypeInfo,
};
use sqlx::query::Query;
use sqlx::types::Json;
use sqlx::{ConnectOptions, Connection, Encode, Postgres, Row, Type};

use super::sql::{self, Connections, Listing, Param, Statements, insert_error, store_error};
use super::{Closing, SessionStore, StoreError};
use crate::model::{
    Admission, CLOSED_BY_SYSTEM, CloseReason, Closed, Cutoffs, Page, PageRequest, Session,
    SessionChange, SessionCounts, SessionFilter, SessionId, TokenHash, UserLimit,
};

static SQL: LazyLock<Statements> = LazyLock::new(|| Statements::new("GREATEST"));

/// How long a request waits for a connection (including connecting) before it fails as
/// unavailable: short, so that while the database is down requests fail fast.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections per instance.
const MAX_CONNECTIONS: usize = 10;

/// Run `$run`, an expression of `$connection: &mut PgConnection` (a statement, or a call
/// that runs a transaction), on a connection of `$store`; when that connection turns out to
/// be gone (the database restarted, or ended the connection), run it once more on a new
/// connection. Evaluates to `Result<_, sqlx::Error>`.
///
/// Connections are lent without a check (see [`Connections`]), so a broken one is found by
/// the statement itself. Running it again is safe: on a connection that was already gone the
/// statement did not run, and a transaction cut short was rolled back by the server. (The one
/// case left is a connection lost while its `COMMIT` was in flight, which no client can tell
/// from one lost before.)
macro_rules! once_more {
    ($store:expr, |$connection:ident| $run:expr) => {
        async {
            let mut lease = $store.connections.lease().await?;
            let first = {
                let $connection = lease.connection();
                $run.await
            };
            if lease.retry(&first).await? {
                let second = {
                    let $connection = lease.connection();
                    $run.await
                };
                lease.forget_if_lost(&second);
                second
            } else {
                first
            }
        }
        .await
    };
}

/// Keeps sessions in PostgreSQL. Any number of instances may share one database: every
/// change is one statement that PostgreSQL applies atomically, and conditional updates
/// (`WHERE active`) make sure each session is closed once however many instances race.
///
/// Connections that break are replaced on the next request, which runs its statement once
/// more on a new connection: the service resumes on its own when the database comes back,
/// and a connection the database ended while idle costs no request an error.
#[derive(Clone)]
pub struct PostgresStore {
    connections: Arc<Connections<PgConnection>>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PostgresStore")
    }
}

impl PostgresStore {
    /// Connect to the database at `url` (`postgres://USER:PASSWORD@HOST:PORT/DB?…`) and bring
    /// its schema up to date.
    ///
    /// # Errors
    /// `Config` when the URL is malformed; `Unavailable` when the database cannot be reached;
    /// `Backend` when it refuses the login or a migration fails.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let mut options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("invalid PostgreSQL URL: {e}")))?;
        if options.get_application_name().is_none() {
            options = options.application_name("sessions");
        }
        // One direct connection first: its error says why the database cannot be reached,
        // where the pool would only report that it timed out.
        let mut probe = tokio::time::timeout(ACQUIRE_TIMEOUT, options.connect())
            .await
            .map_err(|_| StoreError::Unavailable("timed out connecting to PostgreSQL".into()))?
            .map_err(store_error)?;
        // Instances starting together are safe: the migrator holds an advisory lock.
        sqlx::migrate!("migrations/postgres")
            .run(&mut probe)
            .await
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        probe.close().await.map_err(store_error)?;
        let connections = Connections::new(options, MAX_CONNECTIONS, ACQUIRE_TIMEOUT);
        Ok(Self {
            connections: Arc::new(connections),
        })
    }
}

/// The earliest time PostgreSQL can store (4714 BC), rounded up to a whole year.
static EARLIEST: LazyLock<DateTime<Utc>> = LazyLock::new(|| {
    NaiveDate::from_ymd_opt(-4712, 1, 1)
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map_or(DateTime::<Utc>::MIN_UTC, |t| t.and_utc())
});

/// A time as PostgreSQL can take it. Sessions are stamped with the current time, so a bound
/// before PostgreSQL's first day (say, a cutoff of "now minus ten thousand years") selects
/// the same rows when raised to that day; chrono's last day is within PostgreSQL's range.
fn bound(time: DateTime<Utc>) -> DateTime<Utc> {
    time.max(*EARLIEST)
}

/// A document bound as PostgreSQL `json`, whose text PostgreSQL keeps as given, so its keys
/// come back in the order the client wrote them. sqlx's `Json` binds as `jsonb`, which
/// PostgreSQL would parse (sorting the keys) before converting it to the column's `json`.
struct JsonText<'a>(&'a Value);

impl Type<Postgres> for JsonText<'_> {
    fn type_info() -> PgTypeInfo {
        // `json`'s OID, fixed in every PostgreSQL release: no lookup by name on each connection.
        PgTypeInfo::with_oid(Oid(114))
    }
}

impl Encode<'_, Postgres> for JsonText<'_> {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        // `json`'s binary format is its text.
        serde_json::to_writer(&mut **buf, self.0)?;
        Ok(IsNull::No)
    }
}

fn session(row: &PgRow) -> Result<Session, sqlx::Error> {
    let id: &str = row.try_get("id")?;
    let json = |column| -> Result<Option<Value>, sqlx::Error> {
        Ok(row.try_get::<Option<Json<Value>>, _>(column)?.map(|j| j.0))
    };
    Ok(Session {
        id: id.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        user_id: row.try_get("user_id")?,
        user_name: row.try_get("user_name")?,
        active: row.try_get("active")?,
        open_time: row.try_get("open_time")?,
        request_time: row.try_get("request_time")?,
        close_time: row.try_get("close_time")?,
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
fn lifetime(cutoffs: Cutoffs) -> DateTime<Utc> {
    bound(cutoffs.lifetime.unwrap_or(DateTime::<Utc>::MIN_UTC))
}

/// Serializes, across every instance, the transactions that change one user's set of open
/// sessions (limited opens and revokes): a transaction-scoped advisory lock on the user id.
const LOCK_USER: &str = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))";

/// The insert of `session`, bound and ready to run.
fn insert_row(session: &Session) -> PgQuery<'_> {
    sqlx::query(&SQL.insert)
        .bind(session.id.to_string())
        .bind(&session.user_id)
        .bind(&session.user_name)
        .bind(session.active)
        .bind(session.open_time)
        .bind(session.request_time)
        .bind(session.close_time)
        .bind(&session.address)
        .bind(&session.client)
        .bind(session.user.as_ref().map(JsonText))
        .bind(session.data.as_ref().map(JsonText))
        .bind(session.close_reason.map(CloseReason::as_str))
        .bind(&session.closed_by)
        .bind(session.token_hash.map(|hash| hash.to_string()))
}

type PgQuery<'q> = Query<'q, Postgres, PgArguments>;

fn bind_params<'q>(mut query: PgQuery<'q>, params: &'q [Param]) -> PgQuery<'q> {
    for param in params {
        query = match param {
            Param::Text(text) => query.bind(text.as_str()),
            Param::Bool(flag) => query.bind(*flag),
            Param::Time(time) => query.bind(bound(*time)),
        };
    }
    query
}

/// PostgreSQL text cannot hold U+0000: the controller refuses it in what is stored, so a
/// filter naming such a user matches nothing (and must not reach the database as an error).
fn cannot_match(filter: &SessionFilter) -> bool {
    filter.user_id.as_deref().is_some_and(|u| u.contains('\0'))
}

/// The rows of `listing`'s page.
async fn page_rows<'c>(
    executor: impl PgExecutor<'c>,
    listing: &Listing,
) -> Result<Vec<PgRow>, sqlx::Error> {
    bind_params(sqlx::query(&listing.page), &listing.params)
        .bind(listing.limit)
        .bind(listing.offset)
        .fetch_all(executor)
        .await
}

/// How many sessions match `listing`'s filter.
async fn count_rows<'c>(
    executor: impl PgExecutor<'c>,
    listing: &Listing,
) -> Result<u64, sqlx::Error> {
    let row = bind_params(sqlx::query(&listing.count), &listing.params)
        .fetch_one(executor)
        .await?;
    let count: i64 = row.try_get(0)?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Limited open, in one transaction: lock the user, close their expired sessions, evict the
/// oldest open ones over `limit`, insert. The closed rows, and the evicted ids unless denied.
async fn admit(
    connection: &mut PgConnection,
    session: &Session,
    limit: UserLimit,
    cutoffs: Cutoffs,
) -> Result<(Vec<sql::ClosedRow>, Option<Vec<String>>), sqlx::Error> {
    let now = bound(session.open_time);
    let mut tx = connection.begin().await?;
    sqlx::query(LOCK_USER)
        .bind(&session.user_id)
        .execute(&mut *tx)
        .await?;
    let expired: Vec<sql::ClosedRow> = sqlx::query_as(&SQL.close_user_expired)
        .bind(&session.user_id)
        .bind(bound(cutoffs.idle))
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
        // store: commit rather than let the drop roll them back.
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

/// A page and the number of all matches, from one snapshot.
async fn page_and_total(
    connection: &mut PgConnection,
    listing: &Listing,
) -> Result<(Vec<PgRow>, u64), sqlx::Error> {
    let mut tx = connection
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?;
    let rows = page_rows(&mut *tx, listing).await?;
    let total = count_rows(&mut *tx, listing).await?;
    tx.commit().await?;
    Ok((rows, total))
}

/// Revoke a user's open sessions but `except`, under the user's lock.
async fn revoke(
    connection: &mut PgConnection,
    user_id: &str,
    except: &str,
    now: DateTime<Utc>,
    by: &str,
) -> Result<Vec<sql::ClosedRow>, sqlx::Error> {
    let mut tx = connection.begin().await?;
    sqlx::query(LOCK_USER)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    let rows: Vec<sql::ClosedRow> = sqlx::query_as(&SQL.close_user)
        .bind(user_id)
        .bind(except)
        .bind(bound(now))
        .bind(by)
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(rows)
}

/// The session in `row`, if any.
fn session_in(row: Option<PgRow>) -> Result<Option<Session>, sqlx::Error> {
    row.as_ref().map(session).transpose()
}

#[async_trait]
impl SessionStore for PostgresStore {
    fn kind(&self) -> &'static str {
        "postgres"
    }

    async fn insert(&self, session: &Session) -> Result<(), StoreError> {
        once_more!(self, |connection| insert_row(session).execute(connection))
            .map_err(|e| insert_error(e, session.id))?;
        Ok(())
    }

    async fn insert_limited(
        &self,
        session: &Session,
        limit: UserLimit,
        cutoffs: Cutoffs,
    ) -> Result<Admission, StoreError> {
        let (expired, evicted) = once_more!(self, |connection| admit(
            connection, session, limit, cutoffs
        ))
        .map_err(|e| insert_error(e, session.id))?;
        sql::admission(expired, evicted)
    }

    async fn get(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let id = id.to_string();
        let row = once_more!(self, |connection| sqlx::query(&SQL.get)
            .bind(&id)
            .fetch_optional(connection));
        row.and_then(session_in).map_err(store_error)
    }

    async fn list(
        &self,
        filter: &SessionFilter,
        page: &PageRequest,
    ) -> Result<Page<Session>, StoreError> {
        if cannot_match(filter) {
            let total = page.total.then_some(0);
            return Ok(Page {
                total,
                data: Vec::new(),
            });
        }
        let listing = sql::listing(filter, page);
        let (rows, total) = if page.total {
            // One snapshot for the page and its total, so they agree under concurrent writes.
            let (rows, total) = once_more!(self, |connection| page_and_total(connection, &listing))
                .map_err(store_error)?;
            (rows, Some(total))
        } else {
            let rows = once_more!(self, |connection| page_rows(connection, &listing))
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
        let id = id.to_string();
        let query = || {
            let query = match &change {
                SessionChange::Data(data) => sqlx::query(&SQL.update_data)
                    .bind(&id)
                    .bind(data.as_ref().map(JsonText)),
                SessionChange::User(user) => sqlx::query(&SQL.update_user)
                    .bind(&id)
                    .bind(user.as_ref().map(JsonText)),
                SessionChange::Touch => sqlx::query(&SQL.touch).bind(&id),
            };
            query
                .bind(bound(now))
                .bind(bound(cutoffs.idle))
                .bind(lifetime(cutoffs))
        };
        let row = once_more!(self, |connection| query().fetch_optional(connection));
        row.and_then(session_in).map_err(store_error)
    }

    async fn close(
        &self,
        id: &SessionId,
        now: DateTime<Utc>,
        reason: CloseReason,
        by: &str,
    ) -> Result<Option<Closing>, StoreError> {
        let key = id.to_string();
        let row = once_more!(self, |connection| sqlx::query(&SQL.close)
            .bind(&key)
            .bind(bound(now))
            .bind(reason.as_str())
            .bind(by)
            .fetch_optional(connection));
        match row.and_then(session_in).map_err(store_error)? {
            Some(session) => Ok(Some(Closing {
                session,
                closed_now: true,
            })),
            // Unknown, or closed already (a closed session never reopens). A new statement
            // sees the close another instance just committed.
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
        let done = once_more!(self, |connection| sqlx::query(&SQL.close_if_expired)
            .bind(&id)
            .bind(bound(cutoffs.idle))
            .bind(lifetime(cutoffs))
            .bind(bound(now))
            .execute(connection))
        .map_err(store_error)?;
        Ok(done.rows_affected() > 0)
    }

    async fn close_expired(
        &self,
        cutoffs: Cutoffs,
        now: DateTime<Utc>,
    ) -> Result<Vec<Closed>, StoreError> {
        // Under concurrent runs PostgreSQL locks each row and re-checks `active` after the
        // lock is granted, so a session closed by another instance is not counted again.
        let mut closed: Vec<sql::ClosedRow> = Vec::new();
        if cutoffs.lifetime.is_some() {
            let rows: Vec<sql::ClosedRow> =
                once_more!(self, |connection| sqlx::query_as(&SQL.close_old)
                    .bind(bound(cutoffs.idle))
                    .bind(lifetime(cutoffs))
                    .bind(bound(now))
                    .fetch_all(connection))
                .map_err(store_error)?;
            closed.extend(rows);
        }
        let rows: Vec<sql::ClosedRow> =
            once_more!(self, |connection| sqlx::query_as(&SQL.close_idle)
                .bind(bound(cutoffs.idle))
                .bind(bound(now))
                .fetch_all(connection))
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
        let except = except.map(|id| id.to_string()).unwrap_or_default();
        let rows = once_more!(self, |connection| revoke(
            connection, user_id, &except, now, by
        ))
        .map_err(store_error)?;
        sql::closed(rows)
    }

    async fn get_by_token(&self, hash: &TokenHash) -> Result<Option<Session>, StoreError> {
        let hash = hash.to_string();
        let row = once_more!(self, |connection| sqlx::query(&SQL.get_by_token)
            .bind(&hash)
            .fetch_optional(connection));
        row.and_then(session_in).map_err(store_error)
    }

    async fn set_token(
        &self,
        id: &SessionId,
        hash: &TokenHash,
    ) -> Result<Option<Session>, StoreError> {
        let (id, hash) = (id.to_string(), hash.to_string());
        let row = once_more!(self, |connection| sqlx::query(&SQL.set_token)
            .bind(&id)
            .bind(&hash)
            .fetch_optional(connection));
        row.and_then(session_in).map_err(store_error)
    }

    async fn purge_closed(
        &self,
        closed_before: DateTime<Utc>,
        max: usize,
    ) -> Result<u64, StoreError> {
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        let done = once_more!(self, |connection| sqlx::query(&SQL.purge)
            .bind(bound(closed_before))
            .bind(max)
            .execute(connection))
        .map_err(store_error)?;
        Ok(done.rows_affected())
    }

    async fn delete(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let id = id.to_string();
        let row = once_more!(self, |connection| sqlx::query(&SQL.delete)
            .bind(&id)
            .fetch_optional(connection));
        row.and_then(session_in).map_err(store_error)
    }

    async fn counts(&self) -> Result<SessionCounts, StoreError> {
        let (total, active): (i64, i64) =
            once_more!(self, |connection| sqlx::query_as(&SQL.counts)
                .fetch_one(connection))
            .map_err(store_error)?;
        Ok(SessionCounts {
            active: u64::try_from(active).unwrap_or(0),
            total: u64::try_from(total).unwrap_or(0),
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        once_more!(self, |connection| sqlx::query(sql::PING)
            .execute(connection))
        .map_err(store_error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! The hot queries can read a range of an index. Runs when `SESSIONS_TEST_DATABASE_URL`
    //! names a database (the store test suite says when it does not), in a schema of its own.

    use sqlx::PgConnection;

    use super::*;

    /// PostgreSQL's plan for `query` with sequential scans priced out, one step per line.
    async fn plan(connection: &mut PgConnection, query: PgQuery<'_>) -> String {
        let rows = query.fetch_all(&mut *connection).await.expect("explains");
        let steps: Vec<String> = rows
            .iter()
            .map(|row| row.try_get(0).expect("plan line"))
            .collect();
        steps.join("\n")
    }

    #[tokio::test]
    async fn listing_a_users_sessions_and_the_cleanup_scans_can_search_an_index() {
        let Some(url) = std::env::var("SESSIONS_TEST_DATABASE_URL").ok() else {
            return;
        };
        let schema = format!("plan_{}", SessionId::random());
        let mut admin = PgConnection::connect(&url).await.expect("connects");
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut admin)
            .await
            .expect("creates schema");
        let separator = if url.contains('?') { '&' } else { '?' };
        let url = format!("{url}{separator}options=-c%20search_path%3D{schema}");
        let store = PostgresStore::connect(&url).await.expect("connects");
        let mut lease = store.connections.lease().await.expect("a connection");
        let connection = lease.connection();
        sqlx::query("SET enable_seqscan = off")
            .execute(&mut *connection)
            .await
            .expect("sets");
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
        let list = format!("EXPLAIN {}", listing.page);
        let expire = format!("EXPLAIN {}", SQL.close_idle);
        let old = format!("EXPLAIN {}", SQL.close_old);
        let purge = format!("EXPLAIN {}", SQL.purge);
        let now = Utc::now();

        let list_query = bind_params(sqlx::query(&list), &listing.params)
            .bind(listing.limit)
            .bind(listing.offset);
        let list_plan = plan(connection, list_query).await;
        let expire_query = sqlx::query(&expire).bind(now).bind(now);
        let expire_plan = plan(connection, expire_query).await;
        let old_query = sqlx::query(&old).bind(now).bind(now).bind(now);
        let old_plan = plan(connection, old_query).await;
        let purge_query = sqlx::query(&purge).bind(now).bind(1000_i64);
        let purge_plan = plan(connection, purge_query).await;
        drop(lease);
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&mut admin)
            .await
            .expect("drops schema");

        assert!(list_plan.contains("using sessions_by_user"), "{list_plan}");
        assert!(!list_plan.contains("Sort"), "sorts: {list_plan}");
        assert!(
            expire_plan.contains("sessions_by_activity"),
            "{expire_plan}"
        );
        assert!(
            old_plan.contains("sessions_open_by_open_time"),
            "{old_plan}"
        );
        assert!(
            purge_plan.contains("sessions_closed_by_close_time"),
            "{purge_plan}"
        );
    }
}
