//! Authentication over HTTP: the permission table of issue 10 cell by cell (GraphQL and
//! REST v1), session tokens, rotation, sliding expiry, `closedBy`, key reloads and the
//! refusal to serve the network without keys.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sessions::auth::Scope;
use sessions::auth::keys::new_key;
use sessions::clock::{ManualClock, SystemClock};
use sessions::config::Config;

use crate::helpers::{PATIENCE, POLL, TestApp, spawn_app, spawn_app_with};

/// Three keys, one per scope, in a keys file of their own.
pub struct Keys {
    pub read: String,
    pub write: String,
    pub admin: String,
    pub file: PathBuf,
}

impl Keys {
    pub fn new() -> Self {
        let (read, read_line) = new_key("reader", Scope::Read);
        let (write, write_line) = new_key("writer", Scope::Write);
        let (admin, admin_line) = new_key("root", Scope::Admin);
        let file = temp_file(&format!(
            "# test keys\n{read_line}\n\n{write_line}\n{admin_line}\n"
        ));
        Self {
            read,
            write,
            admin,
            file,
        }
    }

    /// A test configuration with authentication on, with these keys.
    pub fn config(&self) -> Config {
        Config {
            api_keys_file: Some(self.file.clone()),
            ..Config::for_tests()
        }
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

/// A fresh file in the temporary directory holding `text`.
pub fn temp_file(text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("sessions-keys-{}", uuid::Uuid::new_v4()));
    std::fs::write(&path, text).expect("temporary file written");
    path
}

/// A GraphQL answer: status, `WWW-Authenticate`, body.
pub struct Answer {
    pub status: StatusCode,
    pub challenge: Option<String>,
    pub body: Value,
}

impl Answer {
    fn code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"].as_str()
    }
}

/// POST a GraphQL request with `bearer` as the credential, if any.
pub async fn gql(app: &TestApp, bearer: Option<&str>, query: &str, variables: Value) -> Answer {
    let mut request = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(secret) = bearer {
        request = request.bearer_auth(secret);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().expect("ASCII").to_owned());
    let body = response.json().await.expect("JSON body");
    Answer {
        status,
        challenge,
        body,
    }
}

/// Open a session for `user` with `key`; returns its id and token.
pub async fn open_with(app: &TestApp, key: &str, user: &str) -> (String, String) {
    let answer = gql(
        app,
        Some(key),
        "mutation($u: String!) { openSession(input: { userId: $u }) { id token } }",
        json!({ "u": user }),
    )
    .await;
    assert!(answer.body.get("errors").is_none(), "{}", answer.body);
    let opened = &answer.body["data"]["openSession"];
    let token = opened["token"].as_str().expect("a token").to_owned();
    (opened["id"].as_str().expect("id").to_owned(), token)
}

/// Everything an admin sees, to check that refused requests changed nothing.
async fn fingerprint(app: &TestApp, admin: &str) -> Value {
    let answer = gql(
        app,
        Some(admin),
        "{ sessions(paging: { take: 1000, total: true }) { total data { id active data user closedBy } } }",
        json!({}),
    )
    .await;
    answer.body["data"].clone()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cred {
    None,
    Bad,
    Read,
    Write,
    Admin,
    /// The token of the target session (alice's).
    Own,
    /// The token of a session of another user (bob's).
    Other,
    /// The token of a closed session of alice's.
    Closed,
}

const CREDS: [Cred; 8] = [
    Cred::None,
    Cred::Bad,
    Cred::Read,
    Cred::Write,
    Cred::Admin,
    Cred::Own,
    Cred::Other,
    Cred::Closed,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// 401, `WWW-Authenticate: Bearer`, nothing changed.
    Unauth,
    /// 200, `FORBIDDEN` on the field, nothing changed.
    Forbidden,
    /// 200, a value.
    Yes,
    /// 200, null.
    Null,
}

use Expect::{Forbidden as F, Null as N, Unauth as U, Yes as Y};

/// The issue's table: each operation with its answer for [`CREDS`], in order.
const TABLE: [(&str, &str, [Expect; 8]); 14] = [
    (
        "session",
        "query($id: ID!) { session(id: $id) { id } }",
        [U, U, Y, Y, Y, Y, N, U],
    ),
    (
        "sessions",
        "{ sessions { data { userId } } }",
        [U, U, Y, Y, Y, Y, Y, U],
    ),
    (
        "sessions",
        r#"{ sessions(filter: { userId: "alice" }) { data { userId } } }"#,
        [U, U, Y, Y, Y, Y, F, U],
    ),
    (
        "currentSession",
        "{ currentSession { id } }",
        [U, U, N, N, N, Y, Y, U],
    ),
    (
        "openSession",
        r#"mutation { openSession(input: { userId: "carol" }) { id } }"#,
        [U, U, F, Y, Y, F, F, U],
    ),
    (
        "storeSessionData",
        r#"mutation($id: ID!) { storeSessionData(sessionId: $id, data: {k: 1}) { id } }"#,
        [U, U, F, Y, Y, Y, F, U],
    ),
    (
        "updateSessionUser",
        r#"mutation($id: ID!) { updateSessionUser(sessionId: $id, user: {n: 1}) { id } }"#,
        [U, U, F, Y, Y, Y, F, U],
    ),
    (
        "touchSession",
        "mutation($id: ID!) { touchSession(sessionId: $id) { id } }",
        [U, U, F, Y, Y, Y, F, U],
    ),
    (
        "rotateSessionToken",
        "mutation($id: ID!) { rotateSessionToken(sessionId: $id) { token } }",
        [U, U, F, Y, Y, Y, F, U],
    ),
    (
        "closeSession",
        "mutation($id: ID!) { closeSession(sessionId: $id) { id } }",
        [U, U, F, Y, Y, Y, F, U],
    ),
    (
        "closeUserSessions",
        r#"mutation { closeUserSessions(userId: "alice") }"#,
        [U, U, F, Y, Y, Y, F, U],
    ),
    (
        "deleteSession",
        "mutation($id: ID!) { deleteSession(sessionId: $id) { id } }",
        [U, U, F, F, Y, F, F, U],
    ),
    (
        "closeExpiredSessions",
        "mutation { closeExpiredSessions }",
        [U, U, F, F, Y, F, F, U],
    ),
    (
        "__schema",
        "{ __schema { queryType { name } } }",
        [U, U, Y, Y, Y, Y, Y, U],
    ),
];

/// A server with authentication on, holding alice's target session, a second session of
/// alice's, bob's session and a closed session of alice's.
struct World {
    app: TestApp,
    keys: Keys,
    target: String,
    own: String,
    other: String,
    closed: String,
}

impl World {
    async fn new(keys: Keys) -> Self {
        // A long touch interval: authenticating with a token does not write, so a refused
        // request leaves the fingerprint as it was.
        let config = Config {
            touch_interval: Duration::from_secs(3600),
            ..keys.config()
        };
        let app = spawn_app_with(config, Arc::new(SystemClock)).await;
        let (target, own) = open_with(&app, &keys.write, "alice").await;
        open_with(&app, &keys.write, "alice").await;
        let (_, other) = open_with(&app, &keys.write, "bob").await;
        let (closed_id, closed) = open_with(&app, &keys.write, "alice").await;
        let close = gql(
            &app,
            Some(&keys.write),
            "mutation($id: ID!) { closeSession(sessionId: $id) { id } }",
            json!({ "id": closed_id }),
        )
        .await;
        assert!(close.body.get("errors").is_none(), "{}", close.body);
        Self {
            app,
            keys,
            target,
            own,
            other,
            closed,
        }
    }

    fn secret(&self, cred: Cred) -> Option<String> {
        match cred {
            Cred::None => None,
            Cred::Bad => Some("sk_not-a-key".into()),
            Cred::Read => Some(self.keys.read.clone()),
            Cred::Write => Some(self.keys.write.clone()),
            Cred::Admin => Some(self.keys.admin.clone()),
            Cred::Own => Some(self.own.clone()),
            Cred::Other => Some(self.other.clone()),
            Cred::Closed => Some(self.closed.clone()),
        }
    }
}

#[tokio::test]
async fn every_operation_answers_every_credential_as_the_table_says() {
    let mut failures = Vec::new();
    for (field, query, row) in TABLE {
        for (cred, expected) in CREDS.into_iter().zip(row) {
            // A fresh server per cell: no cell sees what another changed.
            let world = World::new(Keys::new()).await;
            let before = fingerprint(&world.app, &world.keys.admin).await;
            let secret = world.secret(cred);
            let answer = gql(
                &world.app,
                secret.as_deref(),
                query,
                json!({ "id": world.target }),
            )
            .await;
            let after = fingerprint(&world.app, &world.keys.admin).await;
            let value = &answer.body["data"][field];
            let got = match (answer.status, answer.code()) {
                (StatusCode::UNAUTHORIZED, Some("UNAUTHENTICATED"))
                    if answer
                        .challenge
                        .as_deref()
                        .is_some_and(|c| c.starts_with("Bearer")) =>
                {
                    U
                }
                (StatusCode::OK, Some("FORBIDDEN")) if value.is_null() => F,
                (StatusCode::OK, None) if value.is_null() => N,
                (StatusCode::OK, None) => Y,
                _ => {
                    failures.push(format!(
                        "{field} {query} with {cred:?}: unexpected {} {}",
                        answer.status, answer.body
                    ));
                    continue;
                }
            };
            if got != expected {
                failures.push(format!(
                    "{field} {query} with {cred:?}: expected {expected:?}, got {got:?}: {}",
                    answer.body
                ));
            }
            if matches!(got, U | F) && before != after {
                failures.push(format!(
                    "{field} with {cred:?} was refused but changed sessions"
                ));
            }
            world.app.stop().await.expect("server stops");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn a_session_token_sees_only_its_own_users_sessions_and_its_own_session() {
    let world = World::new(Keys::new()).await;

    let list = gql(
        &world.app,
        Some(&world.other),
        "{ sessions { data { userId } } }",
        json!({}),
    )
    .await;
    let current = gql(
        &world.app,
        Some(&world.own),
        "{ currentSession { id userId token } }",
        json!({}),
    )
    .await;

    let users: Vec<&str> = list.body["data"]["sessions"]["data"]
        .as_array()
        .expect("a page")
        .iter()
        .map(|s| s["userId"].as_str().expect("user"))
        .collect();
    assert_eq!(users, ["bob"], "bob's token lists bob's sessions only");
    assert_eq!(
        current.body["data"]["currentSession"]["id"],
        json!(world.target)
    );
    assert_eq!(
        current.body["data"]["currentSession"]["token"],
        Value::Null,
        "the token is returned only by openSession and rotateSessionToken"
    );
}

#[tokio::test]
async fn rotating_a_token_stops_the_old_one_at_once() {
    let world = World::new(Keys::new()).await;

    let rotated = gql(
        &world.app,
        Some(&world.own),
        "mutation($id: ID!) { rotateSessionToken(sessionId: $id) { id token } }",
        json!({ "id": world.target }),
    )
    .await;
    let new = rotated.body["data"]["rotateSessionToken"]["token"]
        .as_str()
        .expect("a new token")
        .to_owned();
    let with_old = gql(
        &world.app,
        Some(&world.own),
        "{ currentSession { id } }",
        json!({}),
    )
    .await;
    let with_new = gql(
        &world.app,
        Some(&new),
        "{ currentSession { id } }",
        json!({}),
    )
    .await;

    assert!(new.starts_with("st_") && new != world.own);
    assert_eq!(with_old.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        with_new.body["data"]["currentSession"]["id"],
        json!(world.target)
    );
}

#[tokio::test]
async fn closed_by_names_who_closed_the_session() {
    let keys = Keys::new();
    let app = spawn_app_with(keys.config(), Arc::new(SystemClock)).await;
    let (by_key, _) = open_with(&app, &keys.write, "alice").await;
    let (by_token, token) = open_with(&app, &keys.write, "alice").await;
    let close = "mutation($id: ID!) { closeSession(sessionId: $id) { closedBy } }";

    let key_close = gql(&app, Some(&keys.write), close, json!({ "id": by_key })).await;
    let token_close = gql(&app, Some(&token), close, json!({ "id": by_token })).await;
    let open = gql(
        &app,
        Some(&keys.read),
        "query($id: ID!) { session(id: $id) { closedBy } }",
        json!({ "id": by_key }),
    )
    .await;

    assert_eq!(
        key_close.body["data"]["closeSession"]["closedBy"],
        "key:writer"
    );
    assert_eq!(
        token_close.body["data"]["closeSession"]["closedBy"],
        json!(format!("session:{by_token}"))
    );
    assert_eq!(open.body["data"]["session"]["closedBy"], "key:writer");
    let anonymous = spawn_app().await;
    let opened = anonymous.open_session("bob").await;
    let closed = gql(&anonymous, None, close, json!({ "id": opened["id"] })).await;
    assert_eq!(closed.body["data"]["closeSession"]["closedBy"], "anonymous");
}

#[tokio::test]
async fn a_token_past_its_expiry_is_unauthenticated_and_its_session_closes_as_system() {
    let keys = Keys::new();
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    ));
    let config = Config {
        expire_timeout: Duration::from_secs(60),
        ..keys.config()
    };
    let app = spawn_app_with(config, clock.clone()).await;
    let (id, token) = open_with(&app, &keys.write, "alice").await;

    clock.advance(TimeDelta::seconds(61));
    let answer = gql(&app, Some(&token), "{ currentSession { id } }", json!({})).await;
    let seen = gql(
        &app,
        Some(&keys.read),
        "query($id: ID!) { session(id: $id) { active closeReason closedBy } }",
        json!({ "id": id }),
    )
    .await;

    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        seen.body["data"]["session"],
        json!({ "active": false, "closeReason": "IDLE_TIMEOUT", "closedBy": "system" })
    );
}

#[tokio::test]
async fn requests_with_a_token_are_activity_throttled_by_the_touch_interval() {
    let keys = Keys::new();
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let config = Config {
        touch_interval: Duration::from_secs(30),
        ..keys.config()
    };
    let app = spawn_app_with(config, clock.clone()).await;
    let (_, token) = open_with(&app, &keys.write, "alice").await;
    let current = "{ currentSession { requestTime } }";

    clock.advance(TimeDelta::seconds(10));
    let soon = gql(&app, Some(&token), current, json!({})).await;
    clock.advance(TimeDelta::seconds(30));
    let later = gql(&app, Some(&token), current, json!({})).await;

    let time = |answer: &Answer| answer.body["data"]["currentSession"]["requestTime"].clone();
    assert_eq!(
        time(&soon),
        json!("2026-01-01T00:00:00.000Z"),
        "within the interval: no write"
    );
    assert_eq!(
        time(&later),
        json!("2026-01-01T00:00:40.000Z"),
        "past it: the request is activity"
    );
}

#[tokio::test]
async fn introspection_needs_a_credential_unless_made_public() {
    let keys = Keys::new();
    let public = spawn_app_with(
        Config {
            public_introspection: true,
            ..keys.config()
        },
        Arc::new(SystemClock),
    )
    .await;
    let private = spawn_app_with(keys.config(), Arc::new(SystemClock)).await;
    let schema = "{ __schema { queryType { name } } }";

    let open = gql(&public, None, schema, json!({})).await;
    let mixed = gql(
        &public,
        None,
        "{ __schema { queryType { name } } sessions { total } }",
        json!({}),
    )
    .await;
    let closed = gql(&private, None, schema, json!({})).await;

    assert_eq!(open.status, StatusCode::OK);
    assert_eq!(open.body["data"]["__schema"]["queryType"]["name"], "Query");
    assert_eq!(mixed.status, StatusCode::UNAUTHORIZED);
    assert_eq!(closed.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn with_auth_off_current_session_answers_the_token_sent_and_everything_else_is_open() {
    let app = spawn_app().await;
    let (id, token) = open_with(&app, "", "alice").await;

    let with_token = gql(&app, Some(&token), "{ currentSession { id } }", json!({})).await;
    let without = gql(
        &app,
        None,
        "{ currentSession { id } sessions { total } }",
        json!({}),
    )
    .await;

    assert_eq!(with_token.body["data"]["currentSession"]["id"], json!(id));
    assert_eq!(without.status, StatusCode::OK);
    assert_eq!(without.body["data"]["currentSession"], Value::Null);
    assert!(without.body.get("errors").is_none(), "{}", without.body);
}

#[tokio::test]
async fn every_root_field_of_the_schema_is_in_the_permission_table() {
    let controller = sessions::SessionsController::new(
        Arc::new(sessions::MemoryStore::new()),
        sessions::ControllerOptions::default(),
    );
    let schema = sessions::build_schema(controller);
    let answer = schema
        .execute(
            "{ __schema { queryType { fields { name } } mutationType { fields { name } } \
             subscriptionType { fields { name } } } }",
        )
        .await
        .data
        .into_json()
        .expect("JSON");
    let known: Vec<&str> = sessions::auth::Operation::ALL
        .iter()
        .map(|op| op.graphql_field())
        .collect();

    let mut fields = Vec::new();
    for root in ["queryType", "mutationType", "subscriptionType"] {
        for field in answer["__schema"][root]["fields"]
            .as_array()
            .expect("fields")
        {
            fields.push(field["name"].as_str().expect("name").to_owned());
        }
    }

    assert!(fields.len() >= 13, "{fields:?}");
    for field in fields {
        assert!(
            known.contains(&field.as_str()),
            "{field} is not in the permission table"
        );
    }
}

// --- REST v1 -------------------------------------------------------------------------------

/// A REST command with `bearer`; returns status, `WWW-Authenticate` and body.
async fn rest(app: &TestApp, bearer: Option<&str>, command: &str, body: Value) -> Answer {
    let mut request = app
        .client
        .post(app.url(&format!("/v1/sessions/{command}")))
        .json(&body);
    if let Some(secret) = bearer {
        request = request.bearer_auth(secret);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().expect("ASCII").to_owned());
    let text = response.text().await.expect("body");
    Answer {
        status,
        challenge,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

#[tokio::test]
async fn rest_commands_need_the_scope_the_issue_names_and_refuse_tokens() {
    // (command, the scope it needs)
    let commands = [
        ("get_sessions", Scope::Read),
        ("get_session_by_id", Scope::Read),
        ("open_session", Scope::Write),
        ("store_session_data", Scope::Write),
        ("update_session_user", Scope::Write),
        ("close_session", Scope::Write),
        ("close_expired_sessions", Scope::Admin),
        ("delete_session_by_id", Scope::Admin),
    ];
    let mut failures = Vec::new();
    for (command, needed) in commands {
        for cred in [
            Cred::None,
            Cred::Bad,
            Cred::Read,
            Cred::Write,
            Cred::Admin,
            Cred::Own,
        ] {
            let world = World::new(Keys::new()).await;
            let body =
                json!({ "session_id": world.target, "user_id": "carol", "data": 1, "user": 2 });
            let answer = rest(&world.app, world.secret(cred).as_deref(), command, body).await;
            let scope = match cred {
                Cred::Read => Some(Scope::Read),
                Cred::Write => Some(Scope::Write),
                Cred::Admin => Some(Scope::Admin),
                _ => None,
            };
            let expected = match scope {
                None => StatusCode::UNAUTHORIZED,
                Some(scope) if scope.includes(needed) => StatusCode::OK,
                Some(_) => StatusCode::FORBIDDEN,
            };
            let status = answer.status;
            let refused_right = match status {
                StatusCode::UNAUTHORIZED => {
                    answer.body["category"] == "Unauthorized"
                        && answer
                            .challenge
                            .as_deref()
                            .is_some_and(|c| c.starts_with("Bearer"))
                }
                StatusCode::FORBIDDEN => answer.body["category"] == "Unauthorized",
                _ => true,
            };
            if status != expected || !refused_right {
                failures.push(format!(
                    "{command} with {cred:?}: expected {expected}, got {status} {}",
                    answer.body
                ));
            }
            world.app.stop().await.expect("server stops");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn rest_open_session_returns_a_token_that_works_and_close_records_the_key() {
    let keys = Keys::new();
    let app = spawn_app_with(keys.config(), Arc::new(SystemClock)).await;

    let opened = rest(
        &app,
        Some(&keys.write),
        "open_session",
        json!({ "user_id": "u" }),
    )
    .await;
    let token = opened.body["token"].as_str().expect("a token").to_owned();
    let current = gql(&app, Some(&token), "{ currentSession { id } }", json!({})).await;
    let closed = rest(
        &app,
        Some(&keys.write),
        "close_session",
        json!({ "session_id": opened.body["id"] }),
    )
    .await;

    assert_eq!(
        current.body["data"]["currentSession"]["id"],
        opened.body["id"]
    );
    assert_eq!(closed.body["closed_by"], "key:writer");
    assert!(
        closed.body.get("token").is_none(),
        "only open_session answers with the token"
    );
}

// --- Keys file, reloads, refusal to start ----------------------------------------------------

#[tokio::test]
async fn a_malformed_keys_file_stops_the_start_naming_the_line() {
    let file = temp_file(
        "# keys\nok read 0000000000000000000000000000000000000000000000000000000000000000\nbroken\n",
    );
    let config = Config {
        api_keys_file: Some(file.clone()),
        ..Config::for_tests()
    };

    let error = sessions::app::build(&config).await.err().expect("refused");
    let _ = std::fs::remove_file(file);

    let message = format!("{error:#}");
    assert!(message.contains("line 3"), "{message}");
}

#[tokio::test]
async fn serving_a_non_loopback_address_without_keys_is_refused_unless_insecure_no_auth() {
    let exposed = Config {
        listen: "0.0.0.0:0".parse().expect("address"),
        ..Config::for_tests()
    };
    let keys = Keys::new();

    let refused = sessions::app::build(&exposed).await.err().expect("refused");
    let insecure = sessions::app::build(&Config {
        insecure_no_auth: true,
        ..exposed.clone()
    })
    .await;
    let with_keys = sessions::app::build(&Config {
        api_keys_file: Some(keys.file.clone()),
        ..exposed.clone()
    })
    .await;

    let message = refused.to_string();
    assert!(
        message.contains("sessions keys new") && message.contains("--api-keys-file"),
        "{message}"
    );
    assert!(message.contains("--insecure-no-auth"), "{message}");
    assert!(insecure.is_ok(), "--insecure-no-auth serves anyway");
    assert!(with_keys.is_ok(), "with keys it serves");
}

#[cfg(unix)]
#[tokio::test]
async fn sighup_reloads_the_keys_file_and_a_bad_file_keeps_the_old_keys() {
    let keys = Keys::new();
    let app = spawn_app_with(keys.config(), Arc::new(SystemClock)).await;
    let (fresh, fresh_line) = new_key("fresh", Scope::Read);
    let query = "{ sessions { total } }";
    std::fs::write(&keys.file, format!("{fresh_line}\n")).expect("rewritten");

    hangup();
    let reloaded = eventually(|| async {
        gql(&app, Some(&fresh), query, json!({})).await.status == StatusCode::OK
    })
    .await;
    let old = gql(&app, Some(&keys.read), query, json!({})).await;
    std::fs::write(&keys.file, "not a key file\n").expect("rewritten");
    hangup();
    // Give a reload, if it happened, ample time to land before checking nothing changed.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_bad = gql(&app, Some(&fresh), query, json!({})).await;

    assert!(reloaded, "the new key works after SIGHUP");
    assert_eq!(
        old.status,
        StatusCode::UNAUTHORIZED,
        "the removed key stops working"
    );
    assert_eq!(
        after_bad.status,
        StatusCode::OK,
        "a bad file keeps the keys in use"
    );
}

/// Send SIGHUP to this process (every server in it with keys reloads them).
#[cfg(unix)]
fn hangup() {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

/// Poll `check` until it holds, for at most [`PATIENCE`].
async fn eventually<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + PATIENCE;
    while std::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(POLL).await;
    }
    false
}

// --- The Rust client ---------------------------------------------------------------------

#[tokio::test]
async fn the_client_sends_its_bearer_secret_and_reports_refusals_by_kind() {
    let keys = Keys::new();
    let app = spawn_app_with(keys.config(), Arc::new(SystemClock)).await;
    let base = app.url("");
    let client = |secret: Option<&str>| {
        let builder = sessions::SessionsClient::builder(&base);
        match secret {
            Some(secret) => builder.bearer(secret).expect("a header value"),
            None => builder,
        }
        .build()
        .expect("a client")
    };

    let opened = client(Some(&keys.write))
        .open_session("alice", None, None, None, None, None)
        .await;
    let anonymous = client(None).close_expired_sessions().await;
    let reader = client(Some(&keys.read))
        .open_session("alice", None, None, None, None, None)
        .await;

    assert!(opened.is_ok(), "{opened:?}");
    assert!(
        matches!(
            anonymous,
            Err(sessions::ClientError::Unauthenticated { .. })
        ),
        "{anonymous:?}"
    );
    assert!(
        matches!(reader, Err(sessions::ClientError::Forbidden { .. })),
        "{reader:?}"
    );
}

#[tokio::test]
async fn with_auth_on_graphiql_opens_its_headers_editor_with_an_authorization_line() {
    let keys = Keys::new();
    let on = spawn_app_with(keys.config(), Arc::new(SystemClock)).await;
    let off = spawn_app().await;
    let page = |app: &TestApp| {
        let url = app.url("/");
        let client = app.client.clone();
        async move {
            let response = client.get(url).send().await.expect("page served");
            assert_eq!(
                response.status(),
                StatusCode::OK,
                "the page itself is public"
            );
            response.text().await.expect("text")
        }
    };

    let with_auth = page(&on).await;
    let without = page(&off).await;

    // The page's settings say whether auth is on; its script (a file of its own, so the
    // Content-Security-Policy can refuse inline scripts) fills in the header.
    assert!(with_auth.contains(r#""authOn":true"#), "{with_auth}");
    assert!(without.contains(r#""authOn":false"#), "{without}");
    let script = on
        .client
        .get(on.url("/playground/init.js"))
        .send()
        .await
        .expect("script served")
        .text()
        .await
        .expect("text");
    assert!(
        script.contains(r#""Authorization": "Bearer sk_..."#),
        "{script}"
    );
}
