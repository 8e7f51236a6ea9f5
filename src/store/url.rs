//! `StoreUrl` (which store `--store` names, printed without its password) and [`open`].

use std::fmt;
use std::sync::Arc;

use super::{MemoryStore, PostgresStore, SessionStore, SqliteStore, StoreError};

/// Where sessions are kept, as given to `--store`: `memory`, `sqlite://PATH` or
/// `postgres://USER:PASSWORD@HOST:PORT/DB` (also `postgresql://`).
///
/// `Display` and `Debug` hide the password, so the value can be logged and shown; only
/// [`StoreUrl::expose`] gives the URL as written.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreUrl(String);

/// The backend a [`StoreUrl`] names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind<'a> {
    /// `memory`: process memory.
    Memory,
    /// `sqlite://PATH`: the SQLite file at `PATH` (relative to the working directory unless
    /// it starts with `/`, as in `sqlite:///var/lib/sessions/sessions.db`).
    Sqlite(&'a str),
    /// `postgres://…`: a PostgreSQL database.
    Postgres,
}

impl StoreUrl {
    /// Wrap the text given to `--store`; it is checked when the store is opened.
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into().trim().to_owned())
    }

    /// The URL as written, password included: for connecting, never for logs.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Which backend the URL names.
    ///
    /// # Errors
    /// `Config` for an unknown scheme or an empty SQLite path.
    pub fn kind(&self) -> Result<StoreKind<'_>, StoreError> {
        let url = self.0.as_str();
        if url.eq_ignore_ascii_case("memory") {
            return Ok(StoreKind::Memory);
        }
        let (scheme, rest) = url.split_once("://").unwrap_or((url, ""));
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" if rest.is_empty() => Err(StoreError::Config(
                "sqlite:// needs a file path, e.g. sqlite://data/sessions.db".into(),
            )),
            "sqlite" => Ok(StoreKind::Sqlite(rest)),
            "postgres" | "postgresql" => Ok(StoreKind::Postgres),
            _ => Err(StoreError::Config(format!(
                "unknown store {:?}: use memory, sqlite://PATH or postgres://USER:PASSWORD@HOST/DB",
                scheme.split(':').next().unwrap_or_default()
            ))),
        }
    }

    /// The URL with the password (in the user info or a `password=` parameter) replaced by
    /// `***`.
    pub fn redacted(&self) -> String {
        let url = self.0.as_str();
        let Some(scheme_end) = url.find("://") else {
            return url.to_owned();
        };
        let start = scheme_end + 3;
        let authority_end = url[start..]
            .find(['/', '?', '#'])
            .map_or(url.len(), |i| start + i);
        let mut out = url[..start].to_owned();
        let authority = &url[start..authority_end];
        match authority.rfind('@') {
            Some(at) => {
                let user = &authority[..at];
                match user.split_once(':') {
                    Some((name, _password)) => out.push_str(&format!("{name}:***")),
                    None => out.push_str(user),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        let rest = &url[authority_end..];
        match rest.split_once('?') {
            Some((path, query)) => {
                out.push_str(path);
                out.push('?');
                out.push_str(&redact_query(query));
            }
            None => out.push_str(rest),
        }
        out
    }
}

fn redact_query(query: &str) -> String {
    let pairs = query.split('&').map(|pair| match pair.split_once('=') {
        Some((key, _)) if key.to_ascii_lowercase().contains("password") => format!("{key}=***"),
        _ => pair.to_owned(),
    });
    pairs.collect::<Vec<_>>().join("&")
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StoreUrl({:?})", self.redacted())
    }
}

/// Open the store `url` names: memory, a SQLite file (created when missing) or a PostgreSQL
/// database; durable stores bring their schema up to date first.
///
/// # Errors
/// `Config` for an unknown scheme or malformed URL; `Unavailable` when the database cannot be
/// reached; `Backend` when it refuses the login or a migration fails.
pub async fn open(url: &StoreUrl) -> Result<Arc<dyn SessionStore>, StoreError> {
    Ok(match url.kind()? {
        StoreKind::Memory => Arc::new(MemoryStore::new()),
        StoreKind::Sqlite(path) => Arc::new(SqliteStore::open(path).await?),
        StoreKind::Postgres => Arc::new(PostgresStore::connect(url.expose()).await?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_wherever_the_url_is_printed() {
        let url = StoreUrl::new("postgres://app:s3cr%40t@db.example:5432/sessions?sslmode=disable");

        let shown = [url.to_string(), format!("{url:?}"), url.redacted()];

        for text in shown {
            assert!(!text.contains("s3cr"), "{text}");
            assert!(text.contains("postgres://app:***@db.example:5432/sessions?sslmode=disable"));
        }
        assert!(url.expose().contains("s3cr%40t"));
    }

    #[test]
    fn password_parameters_are_hidden_too() {
        let url = StoreUrl::new("postgresql://db/sessions?user=app&password=hunter2&x=1");

        assert_eq!(
            url.redacted(),
            "postgresql://db/sessions?user=app&password=***&x=1"
        );
    }

    #[test]
    fn urls_without_a_password_are_shown_as_written() {
        for text in [
            "memory",
            "sqlite://data/s.db",
            "sqlite:///var/lib/s.db",
            "postgres://app@db/s",
        ] {
            assert_eq!(StoreUrl::new(text).redacted(), text);
        }
    }

    #[test]
    fn the_scheme_picks_the_store() {
        let kind = |text: &str| {
            let url = StoreUrl::new(text);
            url.kind()
                .map(|k| format!("{k:?}"))
                .map_err(|e| e.to_string())
        };

        assert_eq!(kind("memory"), Ok("Memory".into()));
        assert_eq!(
            kind("sqlite://data/s.db"),
            Ok(r#"Sqlite("data/s.db")"#.into())
        );
        assert_eq!(
            kind("sqlite:///tmp/s.db"),
            Ok(r#"Sqlite("/tmp/s.db")"#.into())
        );
        assert_eq!(kind("postgres://db/s"), Ok("Postgres".into()));
        assert_eq!(kind("postgresql://db/s"), Ok("Postgres".into()));
        assert!(kind("sqlite://").is_err());
        let unknown = kind("mysql://root:pw@db/s").expect_err("unknown scheme");
        assert!(unknown.contains("\"mysql\""), "{unknown}");
        assert!(!unknown.contains("pw"), "{unknown}");
    }
}
