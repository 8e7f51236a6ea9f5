//! The stores under test: memory always, SQLite on a temporary file, PostgreSQL in a schema of
//! its own when `SESSIONS_TEST_DATABASE_URL` names a database.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};

use sessions::store::{MemoryStore, SessionStore, StoreUrl};
use sqlx::{Connection, PgConnection};

/// The variable naming the PostgreSQL database the tests may use.
pub const DATABASE_URL_VAR: &str = "SESSIONS_TEST_DATABASE_URL";

/// A folder under the system's temporary folder, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new empty folder.
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("sessions-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).expect("temporary folder is created");
        Self(path)
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One backend to run a test against, with whatever it needs kept alive.
pub enum Backend {
    /// One memory store, shared by every `open`.
    Memory(Arc<MemoryStore>),
    /// A SQLite file in a folder that does not exist yet.
    Sqlite { url: StoreUrl, _dir: TempDir },
    /// A PostgreSQL schema made for this test alone.
    Postgres {
        url: StoreUrl,
        admin_url: String,
        schema: String,
    },
}

impl Backend {
    /// A fresh memory store.
    pub fn memory() -> Self {
        Self::Memory(Arc::new(MemoryStore::new()))
    }

    /// A fresh SQLite file, in a folder the store has to create.
    pub fn sqlite() -> Self {
        let dir = TempDir::new();
        let path = dir.path().join("not/yet/there/sessions.db");
        let url = StoreUrl::new(format!("sqlite://{}", path.display()));
        Self::Sqlite { url, _dir: dir }
    }

    /// A fresh schema in the test database, or `None` (said once, on one line) when no
    /// database is configured.
    pub async fn postgres() -> Option<Self> {
        let admin_url = postgres_url()?;
        let schema = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("{DATABASE_URL_VAR} is set but unusable: {e}"));
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut admin)
            .await
            .expect("test schema is created");
        let _ = admin.close().await;
        let url = StoreUrl::new(with_search_path(&admin_url, &schema));
        Some(Self::Postgres {
            url,
            admin_url,
            schema,
        })
    }

    /// The URL a server would be given for this backend.
    pub fn url(&self) -> StoreUrl {
        match self {
            Self::Memory(_) => StoreUrl::new("memory"),
            Self::Sqlite { url, .. } | Self::Postgres { url, .. } => url.clone(),
        }
    }

    /// This backend's schema, for PostgreSQL.
    pub fn schema(&self) -> Option<&str> {
        match self {
            Self::Postgres { schema, .. } => Some(schema),
            _ => None,
        }
    }

    /// The URL of the whole test database (not just this backend's schema), for PostgreSQL.
    pub fn admin_url(&self) -> Option<&str> {
        match self {
            Self::Postgres { admin_url, .. } => Some(admin_url),
            _ => None,
        }
    }

    /// The SQLite file, for a SQLite backend.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        match self {
            Self::Sqlite { url, .. } => url.expose().strip_prefix("sqlite://").map(PathBuf::from),
            _ => None,
        }
    }

    /// A store over this backend's data. Each call gives a new store (its own connections)
    /// over the same sessions, as a second instance of the service would have.
    pub async fn open(&self) -> Arc<dyn SessionStore> {
        match self {
            Self::Memory(store) => store.clone(),
            Self::Sqlite { url, .. } | Self::Postgres { url, .. } => sessions::store::open(url)
                .await
                .unwrap_or_else(|e| panic!("store {url} opens: {e:?}")),
        }
    }

    /// Drop what the backend made outside the process (the PostgreSQL schema).
    pub async fn cleanup(self) {
        if let Self::Postgres {
            admin_url, schema, ..
        } = self
            && let Ok(mut admin) = PgConnection::connect(&admin_url).await
        {
            let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&mut admin)
                .await;
            let _ = admin.close().await;
        }
    }
}

/// The PostgreSQL test database's URL; when there is none, says once that the PostgreSQL
/// tests are skipped.
pub fn postgres_url() -> Option<String> {
    let url = std::env::var(DATABASE_URL_VAR)
        .ok()
        .filter(|u| !u.trim().is_empty());
    if url.is_none() {
        static SKIPPED: Once = Once::new();
        SKIPPED.call_once(|| {
            // Straight to stderr: the test harness captures `eprintln!`, and this line is
            // for the person (or CI script) reading the run.
            let _ = writeln!(
                std::io::stderr(),
                "PostgreSQL tests skipped: {DATABASE_URL_VAR} is not set \
                 (e.g. postgres://USER:PASSWORD@127.0.0.1:5432/DB)"
            );
        });
    }
    url
}

/// `url` with PostgreSQL's `search_path` set to `schema`, so that everything a store creates
/// and reads lives in that schema.
pub fn with_search_path(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}
