//! A database made by the first release (only migration 0001 applied, sessions in it)
//! migrates when the service starts on it: the old sessions read back unchanged, and what is
//! written from then on keeps its key order.

use std::borrow::Cow;

use serde_json::Value;
use sessions::model::SessionId;
use sessions::store::SessionStore;
use sqlx::migrate::Migrator;
use sqlx::{Connection, PgConnection, SqliteConnection};

use crate::support::Backend;

/// A document as a client wrote it.
const WRITTEN: &str = r#"{"zeta":1,"alpha":{"y":[{"d":1,"c":2}],"b":null},"mid":"m"}"#;
/// [`WRITTEN`] as PostgreSQL's `jsonb` keeps it (keys shorter first, then by bytes): the
/// order the first release's sessions come back in.
const AS_JSONB: &str = r#"{"mid":"m","zeta":1,"alpha":{"b":null,"y":[{"c":2,"d":1}]}}"#;
/// What a session is given after the migration.
const NEW_DATA: &str = r#"{"z":{"b":1,"a":2},"a":[{"y":1,"x":2}]}"#;

/// Only the first of `migrator`'s migrations, recorded as the first release recorded it.
fn first_release(mut migrator: Migrator) -> Migrator {
    migrator.migrations = Cow::Owned(migrator.migrations[..1].to_vec());
    migrator
}

/// The first release's sessions: one with a user and data, one without, one closed.
fn old_rows() -> [(SessionId, bool, Option<&'static str>); 3] {
    [
        (SessionId::random(), true, Some(WRITTEN)),
        (SessionId::random(), true, None),
        (SessionId::random(), false, None),
    ]
}

/// `store` reads `rows` back as they were, their documents in `order`; then new data written
/// to the first one keeps its key order, read back by id and in a listing.
async fn assert_migrated(
    store: &dyn SessionStore,
    rows: &[(SessionId, bool, Option<&str>)],
    order: &str,
) {
    let text = |v: &Option<Value>| v.as_ref().map(|v| v.to_string());
    for (id, active, document) in rows {
        let session = store.get(id).await.expect("get").expect("old session");
        assert_eq!(session.active, *active);
        assert_eq!(session.user_id, "old");
        let expected = document.map(|_| order.to_owned());
        assert_eq!(text(&session.user), expected, "user");
        assert_eq!(text(&session.data), expected, "data");
    }
    // Same document, whichever order it is in.
    if let Some(user) = store
        .get(&rows[0].0)
        .await
        .expect("get")
        .and_then(|s| s.user)
    {
        assert_eq!(user, serde_json::from_str::<Value>(WRITTEN).expect("JSON"));
    }

    let change = sessions::model::SessionChange::Data(serde_json::from_str(NEW_DATA).ok());
    let never_expired = sessions::model::Cutoffs {
        idle: chrono::DateTime::<chrono::Utc>::MIN_UTC,
        lifetime: None,
    };
    let changed = store.update_open(&rows[0].0, change, chrono::Utc::now(), never_expired);
    let changed = changed.await.expect("update").expect("open session");
    let read = store.get(&rows[0].0).await.expect("get").expect("session");
    assert_eq!(text(&changed.data).as_deref(), Some(NEW_DATA));
    assert_eq!(text(&read.data).as_deref(), Some(NEW_DATA));
}

#[tokio::test]
async fn a_postgres_database_of_the_first_release_migrates_and_keeps_its_sessions() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let url = backend.url();
    let mut old = PgConnection::connect(url.expose()).await.expect("connects");
    first_release(sqlx::migrate!("migrations/postgres"))
        .run(&mut old)
        .await
        .expect("0001 applies");
    let rows = old_rows();
    for (id, active, document) in &rows {
        sqlx::query(
            r#"INSERT INTO sessions (id, user_id, active, open_time, request_time, "user", data)
               VALUES ($1, 'old', $2, now(), now(), $3::jsonb, $3::jsonb)"#,
        )
        .bind(id.to_string())
        .bind(active)
        .bind(document)
        .execute(&mut old)
        .await
        .expect("old session is inserted");
    }
    let _ = old.close().await;

    let store = backend.open().await;

    assert_migrated(store.as_ref(), &rows, AS_JSONB).await;
    let mut check = PgConnection::connect(url.expose()).await.expect("connects");
    let types: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = 'sessions' \
         AND column_name IN ('user', 'data') ORDER BY column_name",
    )
    .fetch_all(&mut check)
    .await
    .expect("column types");
    let _ = check.close().await;
    assert_eq!(
        types,
        [
            ("data".into(), "json".into()),
            ("user".into(), "json".into())
        ]
    );
    drop(store);
    backend.cleanup().await;
}

#[tokio::test]
async fn a_sqlite_database_of_the_first_release_migrates_and_keeps_its_sessions() {
    let backend = Backend::sqlite();
    let file = backend.sqlite_file().expect("a SQLite file");
    std::fs::create_dir_all(file.parent().expect("a folder")).expect("folder is created");
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&file)
        .create_if_missing(true);
    let mut old = SqliteConnection::connect_with(&options)
        .await
        .expect("connects");
    first_release(sqlx::migrate!("migrations/sqlite"))
        .run(&mut old)
        .await
        .expect("0001 applies");
    let rows = old_rows();
    for (id, active, document) in &rows {
        sqlx::query(
            r#"INSERT INTO sessions (id, user_id, active, open_time, request_time, "user", data)
               VALUES ($1, 'old', $2, 0, 0, $3, $3)"#,
        )
        .bind(id.to_string())
        .bind(active)
        .bind(document)
        .execute(&mut old)
        .await
        .expect("old session is inserted");
    }
    let _ = old.close().await;

    let store = backend.open().await;

    // SQLite kept the text all along.
    assert_migrated(store.as_ref(), &rows, WRITTEN).await;
}
