//! The backends the benches run on: how to make an empty store of each, load sessions into it
//! in bulk, and throw it away again.
//!
//! Loading 100 000 sessions one `open` at a time costs one disk sync each on SQLite (minutes
//! under `synchronous = FULL`) and one round trip each on PostgreSQL, so the SQL stores are
//! loaded with multi-row `INSERT`s in one transaction, written exactly as the stores write
//! rows (the benches check this by reading sessions back through the store).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sessions::model::CloseReason;
use sessions::store::{PostgresStore, SqliteStore};
use sessions::{MemoryStore, Session, SessionStore};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::types::Json;
use sqlx::{Connection, PgConnection, QueryBuilder, SqliteConnection};

/// The variables that may name a PostgreSQL database for the benches, in order of preference.
const DATABASE_URL_VARS: [&str; 2] = ["SESSIONS_BENCH_DATABASE_URL", "SESSIONS_TEST_DATABASE_URL"];

/// The start of the bulk `INSERT`: the columns in the order the stores insert them.
const INSERT: &str = r#"INSERT INTO sessions (id, user_id, user_name, active, open_time, request_time, close_time, address, client, "user", data, close_reason) "#;

/// Rows per `INSERT` on SQLite (12 parameters each; SQLite allows 32 766 per statement).
const SQLITE_ROWS_PER_INSERT: usize = 2_000;
/// Rows per `INSERT` on PostgreSQL (12 parameters each; PostgreSQL allows 65 535).
const POSTGRES_ROWS_PER_INSERT: usize = 5_000;

/// Where the stores of one backend keep their sessions.
pub enum Backend {
    /// Process memory.
    Memory,
    /// One SQLite file per store, each in its own folder under this one.
    Sqlite(TempDir),
    /// One schema per store in the database at this URL.
    Postgres(String),
}

impl Backend {
    /// Memory, SQLite, and PostgreSQL when a database is named (otherwise says, on one line,
    /// that it is skipped).
    pub fn all() -> Vec<Self> {
        let mut all = vec![Self::Memory, Self::Sqlite(TempDir::new())];
        let url = DATABASE_URL_VARS
            .iter()
            .find_map(|var| std::env::var(var).ok().filter(|url| !url.trim().is_empty()));
        match url {
            Some(url) => all.push(Self::Postgres(url)),
            None => eprintln!(
                "postgres benches skipped: set {} (or {}) to postgres://USER:PASSWORD@HOST:5432/DB",
                DATABASE_URL_VARS[0], DATABASE_URL_VARS[1]
            ),
        }
        all
    }

    /// The bench group's name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// A new, empty store of this backend, with its schema migrated.
    pub async fn fresh(&self) -> Fresh {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        match self {
            Self::Memory => Fresh {
                store: Arc::new(MemoryStore::new()),
                place: Place::Memory,
            },
            Self::Sqlite(dir) => {
                let folder = dir.path().join(unique);
                let store = SqliteStore::open(folder.join("sessions.db")).await;
                Fresh {
                    store: Arc::new(store.expect("SQLite store opens")),
                    place: Place::Sqlite(folder),
                }
            }
            Self::Postgres(admin_url) => {
                let schema = format!("bench_{unique}");
                execute(admin_url, &format!("CREATE SCHEMA {schema}")).await;
                let url = with_search_path(admin_url, &schema);
                let store = PostgresStore::connect(&url).await;
                Fresh {
                    store: Arc::new(store.unwrap_or_else(|e| panic!("PostgreSQL store: {e}"))),
                    place: Place::Postgres {
                        admin_url: admin_url.clone(),
                        url,
                        schema,
                    },
                }
            }
        }
    }
}

/// An empty store and where its sessions live.
pub struct Fresh {
    /// The store the controller drives.
    pub store: Arc<dyn SessionStore>,
    place: Place,
}

enum Place {
    Memory,
    /// The folder holding the database file and its WAL.
    Sqlite(PathBuf),
    /// The store's own schema; `url` sets the search path to it.
    Postgres {
        admin_url: String,
        url: String,
        schema: String,
    },
}

impl Fresh {
    /// Add `sessions`: through the store itself for memory, in bulk for the SQL stores.
    pub async fn load(&self, sessions: &[Session]) {
        match &self.place {
            Place::Memory => {
                for session in sessions {
                    self.store.insert(session).await.expect("insert succeeds");
                }
            }
            Place::Sqlite(folder) => load_sqlite(&folder.join("sessions.db"), sessions)
                .await
                .expect("bulk load into SQLite"),
            Place::Postgres { url, .. } => load_postgres(url, sessions)
                .await
                .expect("bulk load into PostgreSQL"),
        }
    }

    /// Close the store and delete its sessions (the file, or the schema).
    pub async fn discard(self) {
        drop(self.store);
        match self.place {
            Place::Memory => {}
            Place::Sqlite(folder) => {
                let _ = std::fs::remove_dir_all(folder);
            }
            Place::Postgres {
                admin_url, schema, ..
            } => execute(&admin_url, &format!("DROP SCHEMA {schema} CASCADE")).await,
        }
    }
}

/// Insert `sessions` as `SqliteStore::insert` would: times as epoch milliseconds, JSON as
/// text, `active` as 0/1; in one transaction, so with one disk sync.
async fn load_sqlite(path: &Path, sessions: &[Session]) -> Result<(), sqlx::Error> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    let mut connection = SqliteConnection::connect_with(&options).await?;
    let mut tx = connection.begin().await?;
    for chunk in sessions.chunks(SQLITE_ROWS_PER_INSERT) {
        let mut insert = QueryBuilder::new(INSERT);
        insert.push_values(chunk, |mut row, session| {
            row.push_bind(session.id.to_string())
                .push_bind(&session.user_id)
                .push_bind(&session.user_name)
                .push_bind(session.active)
                .push_bind(session.open_time.timestamp_millis())
                .push_bind(session.request_time.timestamp_millis())
                .push_bind(session.close_time.map(|t| t.timestamp_millis()))
                .push_bind(&session.address)
                .push_bind(&session.client)
                .push_bind(session.user.as_ref().map(Json))
                .push_bind(session.data.as_ref().map(Json))
                .push_bind(session.close_reason.map(CloseReason::as_str));
        });
        insert.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    connection.close().await
}

/// Insert `sessions` as `PostgresStore::insert` would (timestamptz, JSON text as `json`), in one
/// transaction, then `ANALYZE`: autovacuum would soon do the same for a real table, and doing
/// it now keeps it from changing plans in the middle of a bench.
async fn load_postgres(url: &str, sessions: &[Session]) -> Result<(), sqlx::Error> {
    let mut connection = PgConnection::connect(url).await?;
    let mut tx = connection.begin().await?;
    for chunk in sessions.chunks(POSTGRES_ROWS_PER_INSERT) {
        let mut insert = QueryBuilder::new(INSERT);
        insert.push_values(chunk, |mut row, session| {
            row.push_bind(session.id.to_string())
                .push_bind(&session.user_id)
                .push_bind(&session.user_name)
                .push_bind(session.active)
                .push_bind(session.open_time)
                .push_bind(session.request_time)
                .push_bind(session.close_time)
                .push_bind(&session.address)
                .push_bind(&session.client)
                .push_bind(json_text(&session.user))
                .push_unseparated("::json")
                .push_bind(json_text(&session.data))
                .push_unseparated("::json")
                .push_bind(session.close_reason.map(CloseReason::as_str));
        });
        insert.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    sqlx::query("ANALYZE sessions")
        .execute(&mut connection)
        .await?;
    connection.close().await
}

/// A document as JSON text, which PostgreSQL keeps as written in a `json` column.
fn json_text(value: &Option<serde_json::Value>) -> Option<String> {
    value.as_ref().map(ToString::to_string)
}

/// Run one administrative statement on the database at `url`.
async fn execute(url: &str, statement: &str) {
    let mut admin = PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("the bench database is unusable: {e}"));
    sqlx::query(statement)
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("{statement}: {e}"));
    let _ = admin.close().await;
}

/// `url` with PostgreSQL's `search_path` set to `schema` (as the store tests do).
fn with_search_path(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}

/// A folder under the system's temporary folder, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let name = format!("sessions-bench-{}", uuid::Uuid::new_v4().simple());
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).expect("temporary folder is created");
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
