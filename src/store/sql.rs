//! SQL shared by the SQLite and PostgreSQL stores: the statements, the listing query, and how
//! sqlx errors become [`StoreError`]s.
//!
//! Placeholders are written `$N`: PostgreSQL reads them natively and sqlx's SQLite driver reads
//! them as "the Nth bound value", so each statement is written once for both databases. The
//! one word that differs is the two-argument maximum (`GREATEST` on PostgreSQL, `MAX` on SQLite).

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Connection;
use tokio::sync::{Semaphore, SemaphorePermit};

use super::StoreError;
use crate::model::{
    Admission, CloseReason, Closed, LimitPolicy, PageRequest, SessionFilter, SessionId, TokenHash,
    UserLimit,
};

/// The columns of a session row, in the order both stores read and insert them.
/// `"user"` is quoted because `user` is a reserved word in PostgreSQL.
pub(super) const COLUMNS: &str = r#"id, user_id, user_name, active, open_time, request_time, close_time, address, client, "user", data, close_reason, closed_by, token_hash"#;

/// `closed_by` of the sessions the service closes itself, as an SQL literal.
const SYSTEM: &str = "'system'";

/// The cheapest round trip: a readiness check, touching no table.
pub(super) const PING: &str = "SELECT 1";

/// The columns a bulk close returns, read by [`closed`].
const CLOSED_COLUMNS: &str = "id, user_id, close_reason";

/// A row of [`CLOSED_COLUMNS`].
pub(super) type ClosedRow = (String, String, Option<String>);

/// The sessions a bulk close returned, as [`Closed`] values.
pub(super) fn closed(rows: Vec<ClosedRow>) -> Result<Vec<Closed>, StoreError> {
    rows.into_iter()
        .map(|(id, user_id, reason)| {
            let id = id.parse().map_err(|e| StoreError::Backend(Box::new(e)))?;
            let reason = close_reason(reason.as_deref())
                .map_err(|e| StoreError::Backend(Box::new(e)))?
                .ok_or_else(|| StoreError::Backend("closed row without a reason".into()))?;
            Ok(Closed {
                id,
                user_id,
                reason,
            })
        })
        .collect()
}

/// The fixed statements of a store, with `$N` placeholders.
///
/// Expiry bounds arrive as [`Cutoffs`](crate::model::Cutoffs): `idle` and `lifetime` (bound
/// as the earliest time when there is no max lifetime), so the SQL only compares stored times
/// with them and never does date arithmetic of its own.
#[derive(Debug)]
pub(super) struct Statements {
    /// `$1..$14`: the session's [`COLUMNS`].
    pub insert: String,
    /// `$1`: id.
    pub get: String,
    /// `$1`: id, `$2`: data, `$3`: now, `$4`: idle cutoff, `$5`: lifetime cutoff. Returns the
    /// updated row; none when unknown, closed or expired.
    pub update_data: String,
    /// As [`Self::update_data`], with the user in `$2`.
    pub update_user: String,
    /// `$1`: id, `$2`: now, `$3`: idle cutoff, `$4`: lifetime cutoff. As the updates.
    pub touch: String,
    /// `$1`: id, `$2`: now, `$3`: reason, `$4`: who closes it. Returns the closed row; none
    /// when unknown or already closed.
    pub close: String,
    /// `$1`: idle cutoff, `$2`: now. Closes the open sessions idle since before the cutoff as
    /// `IDLE_TIMEOUT`; returns [`CLOSED_COLUMNS`].
    pub close_idle: String,
    /// `$1`: idle cutoff, `$2`: lifetime cutoff, `$3`: now. Closes the open sessions opened
    /// before the lifetime cutoff, each for the bound it passed first.
    pub close_old: String,
    /// As [`Self::close_idle`], closing at most `$3` sessions.
    pub close_idle_some: String,
    /// As [`Self::close_old`], closing at most `$4` sessions.
    pub close_old_some: String,
    /// `$1`: user id, `$2`: idle cutoff, `$3`: lifetime cutoff, `$4`: now. Closes the user's
    /// expired open sessions, each with its reason.
    pub close_user_expired: String,
    /// `$1`: id, `$2`: idle cutoff, `$3`: lifetime cutoff, `$4`: now. Closes the session if
    /// it is open and expired, with its reason.
    pub close_if_expired: String,
    /// `$1`: user id. The ids of the user's open sessions, oldest activity first, ties by id.
    pub user_open: String,
    /// `$1`: user id, `$2`: the id to keep open (or ''), `$3`: now, `$4`: who closes them.
    /// Revokes the rest.
    pub close_user: String,
    /// `$1`: close-time cutoff, `$2`: most rows. Deletes the oldest closed sessions.
    pub purge: String,
    /// `$1`: id. Returns the removed row.
    pub delete: String,
    /// All sessions and open sessions, as two integers.
    pub counts: String,
    /// `$1`: token hash.
    pub get_by_token: String,
    /// `$1`: id, `$2`: the new token hash. Returns the updated row; none when unknown or
    /// closed.
    pub set_token: String,
}

impl Statements {
    /// The statements for a database whose two-argument maximum function is `greatest`.
    pub fn new(greatest: &str) -> Self {
        // `Session::close` in SQL: in an UPDATE every right-hand side reads the row as it was,
        // and last activity never moves backwards (see `Session::latest`).
        let close = |now: &str, reason: &str, by: &str| {
            let latest = format!("{greatest}(request_time, {now})");
            format!(
                r#"active = FALSE, close_time = {latest}, request_time = {latest}, "user" = NULL, data = NULL, close_reason = {reason}, closed_by = {by}"#
            )
        };
        // `Cutoffs::reason` in SQL, for a row known to be expired: the bound passed first.
        let reason = |idle: &str, lifetime: &str| {
            format!(
                "CASE WHEN open_time < {lifetime} AND (request_time >= {idle} \
                 OR open_time - {lifetime} <= request_time - {idle}) \
                 THEN 'MAX_LIFETIME' ELSE 'IDLE_TIMEOUT' END"
            )
        };
        let update = |set: &str, now: &str, idle: &str, lifetime: &str| {
            format!(
                "UPDATE sessions SET {set}request_time = {greatest}(request_time, {now}) \
                 WHERE id = $1 AND active = TRUE AND request_time >= {idle} \
                 AND open_time >= {lifetime} RETURNING {COLUMNS}"
            )
        };
        Self {
            insert: format!(
                "INSERT INTO sessions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
            ),
            get: format!("SELECT {COLUMNS} FROM sessions WHERE id = $1"),
            update_data: update("data = $2, ", "$3", "$4", "$5"),
            update_user: update(r#""user" = $2, "#, "$3", "$4", "$5"),
            touch: update("", "$2", "$3", "$4"),
            close: format!(
                "UPDATE sessions SET {} WHERE id = $1 AND active = TRUE RETURNING {COLUMNS}",
                close("$2", "$3", "$4")
            ),
            close_idle: format!(
                "UPDATE sessions SET {} WHERE active = TRUE AND request_time < $1 \
                 RETURNING {CLOSED_COLUMNS}",
                close("$2", "'IDLE_TIMEOUT'", SYSTEM)
            ),
            close_old: format!(
                "UPDATE sessions SET {} WHERE active = TRUE AND open_time < $2 \
                 RETURNING {CLOSED_COLUMNS}",
                close("$3", &reason("$1", "$2"), SYSTEM)
            ),
            close_user_expired: format!(
                "UPDATE sessions SET {} WHERE user_id = $1 AND active = TRUE \
                 AND (request_time < $2 OR open_time < $3) RETURNING {CLOSED_COLUMNS}",
                close("$4", &reason("$2", "$3"), SYSTEM)
            ),
            close_idle_some: format!(
                "UPDATE sessions SET {} WHERE id IN (SELECT id FROM sessions \
                 WHERE active = TRUE AND request_time < $1 LIMIT $3) \
                 RETURNING {CLOSED_COLUMNS}",
                close("$2", "'IDLE_TIMEOUT'", SYSTEM)
            ),
            close_old_some: format!(
                "UPDATE sessions SET {} WHERE id IN (SELECT id FROM sessions \
                 WHERE active = TRUE AND open_time < $2 LIMIT $4) \
                 RETURNING {CLOSED_COLUMNS}",
                close("$3", &reason("$1", "$2"), SYSTEM)
            ),
            close_if_expired: format!(
                "UPDATE sessions SET {} WHERE id = $1 AND active = TRUE \
                 AND (request_time < $2 OR open_time < $3)",
                close("$4", &reason("$2", "$3"), SYSTEM)
            ),
            user_open: "SELECT id FROM sessions WHERE user_id = $1 AND active = TRUE \
                        ORDER BY request_time ASC, id ASC"
                .into(),
            close_user: format!(
                "UPDATE sessions SET {} WHERE user_id = $1 AND active = TRUE AND id <> $2 \
                 RETURNING {CLOSED_COLUMNS}",
                close("$3", "'REVOKED'", "$4")
            ),
            purge: "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions \
                    WHERE active = FALSE AND close_time < $1 ORDER BY close_time LIMIT $2)"
                .into(),
            delete: format!("DELETE FROM sessions WHERE id = $1 RETURNING {COLUMNS}"),
            counts: "SELECT COUNT(*), COUNT(CASE WHEN active THEN 1 END) FROM sessions".into(),
            get_by_token: format!("SELECT {COLUMNS} FROM sessions WHERE token_hash = $1"),
            set_token: format!(
                "UPDATE sessions SET token_hash = $2 WHERE id = $1 AND active = TRUE RETURNING {COLUMNS}"
            ),
        }
    }
}

/// How many of `open` (a user's open sessions, oldest activity first) to evict so that one
/// more fits `limit`; `None` when the policy refuses instead.
pub(super) fn to_evict(open: usize, limit: UserLimit) -> Option<usize> {
    if open >= limit.max && limit.policy == LimitPolicy::Deny {
        return None;
    }
    Some((open + 1).saturating_sub(limit.max))
}

/// What a limited open's transaction found, as an [`Admission`]: the sessions it closed as
/// expired, and the ids it evicted (`None` when the limit refused the new session).
pub(super) fn admission(
    expired: Vec<ClosedRow>,
    evicted: Option<Vec<String>>,
) -> Result<Admission, StoreError> {
    let expired = closed(expired)?;
    Ok(match evicted {
        None => Admission::Denied { expired },
        Some(ids) => Admission::Opened {
            evicted: ids
                .iter()
                .map(|id| id.parse().map_err(|e| StoreError::Backend(Box::new(e))))
                .collect::<Result<_, _>>()?,
            expired,
        },
    })
}

/// Read a stored close reason.
pub(super) fn close_reason(text: Option<&str>) -> Result<Option<CloseReason>, sqlx::Error> {
    text.map(|t| t.parse().map_err(|e| sqlx::Error::Decode(Box::new(e))))
        .transpose()
}

/// Read a stored token hash.
pub(super) fn token_hash(text: Option<&str>) -> Result<Option<TokenHash>, sqlx::Error> {
    text.map(|t| t.parse().map_err(|e| sqlx::Error::Decode(Box::new(e))))
        .transpose()
}

/// A value to bind to a listing's placeholder; each store encodes times its own way.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Param {
    /// A text column: an id or a user id.
    Text(String),
    /// The `active` flag.
    Bool(bool),
    /// A bound on `request_time`.
    Time(DateTime<Utc>),
}

/// A listing as SQL: the page query, the count query, and what to bind to them.
#[derive(Debug)]
pub(super) struct Listing {
    /// The page: binds [`Self::params`], then [`Self::limit`] and [`Self::offset`].
    pub page: String,
    /// The number of all matches: binds [`Self::params`] only.
    pub count: String,
    /// The filter's values, in placeholder order.
    pub params: Vec<Param>,
    /// How many rows to return.
    pub limit: i64,
    /// How many rows to skip.
    pub offset: i64,
}

/// The SQL listing `filter` a page at a time: most recent activity first, then id ascending
/// (ids are fixed-width lowercase hex, so text order is the order clients see).
pub(super) fn listing(filter: &SessionFilter, page: &PageRequest) -> Listing {
    let mut conditions = Vec::new();
    let mut params = Vec::new();
    let mut condition = |sql: &str, param: Param| {
        params.push(param);
        conditions.push(format!("{sql} ${}", params.len()));
    };
    if let Some(id) = filter.id {
        condition("id =", Param::Text(id.to_string()));
    }
    if let Some(user_id) = &filter.user_id {
        condition("user_id =", Param::Text(user_id.clone()));
    }
    if let Some(active) = filter.active {
        condition("active =", Param::Bool(active));
    }
    if let Some(from) = filter.from_time {
        condition("request_time >=", Param::Time(from));
    }
    if let Some(to) = filter.to_time {
        condition("request_time <", Param::Time(to));
    }
    let filter_sql = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    let n = params.len();
    Listing {
        page: format!(
            "SELECT {COLUMNS} FROM sessions{filter_sql} \
             ORDER BY request_time DESC, id ASC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        ),
        count: format!("SELECT COUNT(*) FROM sessions{filter_sql}"),
        params,
        limit: i64::try_from(page.take).unwrap_or(i64::MAX),
        offset: i64::try_from(page.skip).unwrap_or(i64::MAX),
    }
}

/// Classify a failed statement: lost or unreachable connections are
/// [`StoreError::Unavailable`] (the client may retry), anything else is [`StoreError::Backend`].
pub(super) fn store_error(error: sqlx::Error) -> StoreError {
    if is_unavailable_error(&error) {
        StoreError::Unavailable(Box::new(error))
    } else {
        StoreError::Backend(Box::new(error))
    }
}

fn is_unavailable_error(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(database) => is_unavailable(database.as_ref()),
        _ => false,
    }
}

/// Whether `error` says the connection itself is gone (closed by the server, a restart, a
/// network cut), so that the same statement may succeed on a new connection.
pub(super) fn is_connection_lost(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(database) => database
            .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            .is_some_and(|e| {
                // 57P01-57P03: terminated by an administrator, a crash or a restart; class 08:
                // connection exceptions.
                let code = e.code();
                code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
            }),
        _ => false,
    }
}

/// Open connections lent to one request at a time, and opened when first needed.
///
/// sqlx's `Pool` checks a connection with a round trip before lending it and again when it
/// comes back (`SELECT`-less pings; half of a get by id on SQLite, 40% on PostgreSQL), so
/// that a broken one is replaced. This lends without checking: a connection that turns out
/// to be broken is dropped and the statement runs once more on a new connection (see
/// [`Lease::retry`]), which replaces broken connections at the same point, at no cost while
/// none breaks.
pub(crate) struct Connections<C: Connection> {
    /// Connections not lent out; the most recently returned is lent first.
    idle: Mutex<Vec<C>>,
    /// One permit per connection that may be open at once.
    permits: Semaphore,
    options: <C as Connection>::Options,
    /// How long a request waits for a connection, including opening one.
    acquire_timeout: Duration,
}

impl<C: Connection> Connections<C> {
    /// At most `size` connections made with `options`; none is opened yet.
    pub fn new(
        options: <C as Connection>::Options,
        size: usize,
        acquire_timeout: Duration,
    ) -> Self {
        Self {
            idle: Mutex::new(Vec::with_capacity(size)),
            permits: Semaphore::new(size),
            options,
            acquire_timeout,
        }
    }

    /// A connection for one request: an idle one, or a new one when none is idle. Waits
    /// (fairly, first come first served) while all are lent out.
    ///
    /// # Errors
    /// `PoolTimedOut` after the acquire timeout; the connect error when a new one fails.
    pub async fn lease(&self) -> Result<Lease<'_, C>, sqlx::Error> {
        tokio::time::timeout(self.acquire_timeout, async {
            let permit = self
                .permits
                .acquire()
                .await
                .map_err(|_| sqlx::Error::PoolClosed)?;
            let idle = lock(&self.idle).pop();
            let connection = match idle {
                Some(connection) => connection,
                None => C::connect_with(&self.options).await?,
            };
            Ok(Lease {
                connection: Some(connection),
                connections: self,
                _permit: permit,
            })
        })
        .await
        .map_err(|_| sqlx::Error::PoolTimedOut)?
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The sections only push or pop: a panic cannot leave the list half changed.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A connection lent by [`Connections::lease`]; it goes back when dropped.
pub(crate) struct Lease<'a, C: Connection> {
    /// `None` only while a broken connection is being replaced.
    connection: Option<C>,
    connections: &'a Connections<C>,
    _permit: SemaphorePermit<'a>,
}

impl<C: Connection> Lease<'_, C> {
    /// The connection.
    pub fn connection(&mut self) -> &mut C {
        self.connection
            .as_mut()
            .unwrap_or_else(|| unreachable!("a lease holds a connection outside `retry`"))
    }

    /// Whether to run a statement again after it ended with `result`: when its connection
    /// turned out to be gone, that connection is dropped, a new one is opened in its place and
    /// the answer is yes. Callers retry once, so a statement runs at most twice.
    ///
    /// # Errors
    /// When a new connection cannot be opened.
    pub async fn retry<T>(&mut self, result: &Result<T, sqlx::Error>) -> Result<bool, sqlx::Error> {
        let Err(error) = result else {
            return Ok(false);
        };
        if !is_connection_lost(error) {
            return Ok(false);
        }
        tracing::info!(%error, "connection lost; running the statement again on a new one");
        // Broken: no goodbye message, which could only wait on the dead socket.
        drop(self.connection.take());
        let options = &self.connections.options;
        let connection =
            tokio::time::timeout(self.connections.acquire_timeout, C::connect_with(options))
                .await
                .map_err(|_| sqlx::Error::PoolTimedOut)??;
        self.connection = Some(connection);
        Ok(true)
    }
}

impl<C: Connection> Lease<'_, C> {
    /// Drop the connection instead of returning it when `result` says it is gone.
    pub fn forget_if_lost<T>(&mut self, result: &Result<T, sqlx::Error>) {
        if matches!(result, Err(error) if is_connection_lost(error)) {
            drop(self.connection.take());
        }
    }
}

impl<C: Connection> Drop for Lease<'_, C> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            lock(&self.connections.idle).push(connection);
        }
    }
}

/// Like [`store_error`], but a second session with the same id is [`StoreError::Duplicate`].
pub(super) fn insert_error(error: sqlx::Error, id: SessionId) -> StoreError {
    match &error {
        sqlx::Error::Database(database) if database.is_unique_violation() => {
            StoreError::Duplicate(id)
        }
        _ => store_error(error),
    }
}

/// Errors the database reports when it cannot serve now but may later.
fn is_unavailable(error: &dyn sqlx::error::DatabaseError) -> bool {
    if let Some(error) = error.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        let code = error.code();
        // Class 08: connection exceptions; 57P01-57P03: the server is shutting down, crashed
        // or starting; 53300: too many connections.
        return code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300");
    }
    if error
        .try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .is_some()
    {
        // Extended result codes keep the primary code in their low byte. Busy and locked only
        // reach here when another process held the file for longer than the busy timeout.
        let code: i32 = error.code().and_then(|c| c.parse().ok()).unwrap_or(0);
        const SQLITE_BUSY: i32 = 5;
        const SQLITE_LOCKED: i32 = 6;
        const SQLITE_CANTOPEN: i32 = 14;
        return matches!(code & 0xff, SQLITE_BUSY | SQLITE_LOCKED | SQLITE_CANTOPEN);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_numbers_its_placeholders_in_binding_order() {
        let filter = SessionFilter {
            user_id: Some("alice".into()),
            active: Some(true),
            to_time: DateTime::from_timestamp_millis(5),
            ..SessionFilter::default()
        };
        let page = PageRequest {
            skip: 3,
            take: 20,
            total: true,
        };

        let listing = listing(&filter, &page);

        assert!(
            listing.page.ends_with(
                "WHERE user_id = $1 AND active = $2 AND request_time < $3 \
                 ORDER BY request_time DESC, id ASC LIMIT $4 OFFSET $5"
            ),
            "{}",
            listing.page
        );
        assert!(
            listing
                .count
                .ends_with("WHERE user_id = $1 AND active = $2 AND request_time < $3")
        );
        assert_eq!(listing.params.len(), 3);
        assert_eq!((listing.limit, listing.offset), (20, 3));
    }

    #[test]
    fn an_empty_filter_lists_everything() {
        let page = PageRequest {
            skip: 0,
            take: 100,
            total: false,
        };

        let listing = listing(&SessionFilter::default(), &page);

        assert!(!listing.page.contains("WHERE"));
        assert!(listing.page.ends_with("LIMIT $1 OFFSET $2"));
        assert!(listing.params.is_empty());
    }
}
