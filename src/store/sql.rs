//! SQL shared by the SQLite and PostgreSQL stores: the statements, the listing query, and how
//! sqlx errors become [`StoreError`]s.
//!
//! Placeholders are written `$N`: PostgreSQL reads them natively and sqlx's SQLite driver reads
//! them as "the Nth bound value", so each statement is written once for both databases. The
//! one word that differs is the two-argument maximum (`GREATEST` on PostgreSQL, `MAX` on SQLite).

use chrono::{DateTime, Utc};

use super::StoreError;
use crate::model::{PageRequest, SessionFilter, SessionId};

/// The columns of a session row, in the order both stores read and insert them.
/// `"user"` is quoted because `user` is a reserved word in PostgreSQL.
pub(super) const COLUMNS: &str = r#"id, user_id, user_name, active, open_time, request_time, close_time, address, client, "user", data"#;

/// The fixed statements of a store, with `$N` placeholders.
#[derive(Debug)]
pub(super) struct Statements {
    /// `$1..$11`: the session's [`COLUMNS`].
    pub insert: String,
    /// `$1`: id.
    pub get: String,
    /// `$1`: id, `$2`: data, `$3`: now. Returns the updated row; none when unknown or closed.
    pub update_data: String,
    /// `$1`: id, `$2`: user, `$3`: now. Returns the updated row; none when unknown or closed.
    pub update_user: String,
    /// `$1`: id, `$2`: now. Returns the closed row; none when unknown or already closed.
    pub close: String,
    /// `$1`: cutoff, `$2`: now. One set-based statement; its row count is the number closed.
    pub close_expired: String,
    /// `$1`: id. Returns the removed row.
    pub delete: String,
    /// All sessions and open sessions, as two integers.
    pub counts: String,
}

impl Statements {
    /// The statements for a database whose two-argument maximum function is `greatest`.
    pub fn new(greatest: &str) -> Self {
        // `Session::close` and `Session::apply` in SQL: in an UPDATE every right-hand side reads
        // the row as it was, and last activity never moves backwards (see `Session::latest`).
        let latest = format!("{greatest}(request_time, $2)");
        let close = format!(
            r#"active = FALSE, close_time = {latest}, request_time = {latest}, "user" = NULL, data = NULL"#
        );
        let update = |column: &str| {
            format!(
                "UPDATE sessions SET {column} = $2, request_time = {greatest}(request_time, $3) \
                 WHERE id = $1 AND active = TRUE RETURNING {COLUMNS}"
            )
        };
        Self {
            insert: format!(
                "INSERT INTO sessions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            ),
            get: format!("SELECT {COLUMNS} FROM sessions WHERE id = $1"),
            update_data: update("data"),
            update_user: update(r#""user""#),
            close: format!(
                "UPDATE sessions SET {close} WHERE id = $1 AND active = TRUE RETURNING {COLUMNS}"
            ),
            close_expired: format!(
                "UPDATE sessions SET {close} WHERE active = TRUE AND request_time < $1"
            ),
            delete: format!("DELETE FROM sessions WHERE id = $1 RETURNING {COLUMNS}"),
            counts: "SELECT COUNT(*), COUNT(CASE WHEN active THEN 1 END) FROM sessions".into(),
        }
    }
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
    let unavailable = match &error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(database) => is_unavailable(database.as_ref()),
        _ => false,
    };
    if unavailable {
        StoreError::Unavailable(Box::new(error))
    } else {
        StoreError::Backend(Box::new(error))
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
