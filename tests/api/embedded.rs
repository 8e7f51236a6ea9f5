//! The wiring of `examples/embedded.rs`, run for real: the sessions service nested under
//! `/sessions` in a host axum app with its own routes, served on a free port, stopped with a
//! graceful shutdown, its cleanup task started and stopped by hand.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use sessions::{CleanupTask, ControllerOptions, HttpOptions, MemoryStore, SessionsController};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::helpers::{PATIENCE, POLL, SESSION_FIELDS, refuses_connections};

/// What the host app's own root route answers.
const HOST_ROOT: &str = "my app; sessions are under /sessions";

/// A host app with the sessions service nested under `/sessions`, serving on a free port.
struct Embedded {
    addr: SocketAddr,
    http: reqwest::Client,
    shutdown: oneshot::Sender<()>,
    served: JoinHandle<std::io::Result<()>>,
    cleanup: CleanupTask,
}

/// Wire and start the host app as `examples/embedded.rs` does, with these controller options.
async fn start(options: ControllerOptions) -> Embedded {
    let store = Arc::new(MemoryStore::new());
    let controller = SessionsController::new(store, options);
    let http = HttpOptions {
        base_path: "/sessions".into(),
        ..HttpOptions::default()
    };
    let schema = sessions::build_schema(controller.clone());
    let api = sessions::router(schema, controller.clone(), &http);
    let app = Router::new()
        .route("/", get(|| async { HOST_ROOT }))
        .nest("/sessions", api);
    let cleanup = controller.spawn_cleanup();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bound");
    let addr = listener.local_addr().expect("local address");
    let (shutdown, stop) = oneshot::channel::<()>();
    let served = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stop.await;
            })
            .await
    });
    Embedded {
        addr,
        http: reqwest::Client::new(),
        shutdown,
        served,
        cleanup,
    }
}

impl Embedded {
    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// POST GraphQL to `/sessions/graphql`; fails unless the answer is 200 without errors.
    async fn graphql(&self, query: &str, variables: Value) -> Value {
        let response = self
            .http
            .post(self.url("/sessions/graphql"))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request sent");
        let status = response.status();
        let body: Value = response.json().await.expect("JSON body");
        assert_eq!(status, 200, "{body}");
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// Open a session for `user_id` over GraphQL.
    async fn open(&self, user_id: &str) -> Value {
        let query = format!(
            "mutation($input: OpenSessionInput!) {{ openSession(input: $input) {{ {SESSION_FIELDS} }} }}"
        );
        let data = self
            .graphql(&query, json!({ "input": { "userId": user_id } }))
            .await;
        data["openSession"].clone()
    }

    /// Read a session over GraphQL.
    async fn get(&self, id: &Value) -> Value {
        let query = format!("query($id: ID!) {{ session(id: $id) {{ {SESSION_FIELDS} }} }}");
        self.graphql(&query, json!({ "id": id })).await["session"].clone()
    }

    /// GET `path`: status, content type and body text.
    async fn fetch(&self, path: &str) -> (StatusCode, String, String) {
        let response = self
            .http
            .get(self.url(path))
            .send()
            .await
            .expect("request sent");
        let status = response.status();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, content_type, response.text().await.expect("body"))
    }
}

#[tokio::test]
async fn the_host_apps_own_route_answers_beside_the_nested_service() {
    // Arrange
    let app = start(ControllerOptions::default()).await;

    // Act
    let (status, _, text) = app.fetch("/").await;

    // Assert
    assert_eq!(status, 200);
    assert_eq!(text, HOST_ROOT);
}

#[tokio::test]
async fn graphql_under_the_prefix_opens_and_reads_a_session() {
    // Arrange
    let app = start(ControllerOptions::default()).await;

    // Act
    let opened = app.open("embedded-user").await;
    let read = app.get(&opened["id"]).await;

    // Assert
    assert_eq!(opened["userId"], "embedded-user");
    assert_eq!(opened["active"], true);
    assert_eq!(read, opened);
}

#[tokio::test]
async fn graphiql_under_the_prefix_points_at_the_prefixed_endpoint() {
    // Arrange
    let app = start(ControllerOptions::default()).await;

    // Act: the address the example tells users to open.
    let (status, content_type, page) = app.fetch("/sessions").await;

    // Assert
    assert_eq!(status, 200, "{page}");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(
        page.contains(r#""/sessions/graphql""#),
        "the page does not call /sessions/graphql"
    );
    assert!(
        !page.contains(r#""/graphql""#),
        "the page calls the host app's /graphql"
    );
}

#[tokio::test]
async fn graphiql_with_a_trailing_slash_is_the_same_page_or_a_plain_not_found() {
    // Arrange
    let app = start(ControllerOptions::default()).await;
    let (_, _, without_slash) = app.fetch("/sessions").await;

    // Act
    let (status, _, page) = app.fetch("/sessions/").await;

    // Assert: axum 0.8 matches a nested root only without the slash; if it ever serves
    // `/sessions/`, it must be the same page (its endpoint is absolute, so it still works).
    match status {
        StatusCode::OK => assert_eq!(page, without_slash),
        StatusCode::NOT_FOUND => {}
        other => panic!("GET /sessions/ answered {other}: {page}"),
    }
}

#[tokio::test]
async fn heartbeat_and_status_answer_under_the_prefix() {
    // Arrange
    let app = start(ControllerOptions::default()).await;
    app.open("counted").await;

    // Act
    let (heartbeat, _, beat) = app.fetch("/sessions/heartbeat").await;
    let (status, _, report) = app.fetch("/sessions/status").await;

    // Assert
    assert_eq!((heartbeat, beat.as_str()), (StatusCode::OK, "OK"));
    assert_eq!(status, 200, "{report}");
    let report: Value = serde_json::from_str(&report).expect("JSON status");
    assert_eq!(report["sessions"], json!({ "active": 1, "total": 1 }));
}

#[tokio::test]
async fn the_rest_protocol_works_under_the_prefix() {
    // Arrange
    let app = start(ControllerOptions::default()).await;
    let opened = app.open("rest-user").await;
    app.open("someone else").await;

    // Act
    let response = app
        .http
        .post(app.url("/sessions/v1/sessions/get_sessions"))
        .json(&json!({ "filter": { "user_id": "rest-user" }, "paging": { "total": true } }))
        .send()
        .await
        .expect("request sent");

    // Assert
    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.expect("JSON body");
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["data"][0]["id"], opened["id"]);
    assert_eq!(page["data"][0]["user_id"], "rest-user");
}

#[cfg(feature = "client")]
#[tokio::test]
async fn the_client_works_against_the_nested_service_with_a_base_url_ending_in_a_slash() {
    // Arrange
    let app = start(ControllerOptions::default()).await;
    let client = sessions::SessionsClient::new(&app.url("/sessions/")).expect("valid base URL");

    // Act
    let opened = client
        .open_session(
            "via-client",
            None,
            None,
            None,
            None,
            Some(json!({ "k": 1 })),
        )
        .await;

    // Assert
    let opened = opened.unwrap_or_else(|error| {
        panic!("calling {} failed: {error:?}", client.endpoint());
    });
    assert_eq!(client.endpoint(), app.url("/sessions/graphql"));
    let read = app.get(&json!(opened.id.to_string())).await;
    assert_eq!(read["userId"], "via-client");
    assert_eq!(read["data"], json!({ "k": 1 }));
}

#[cfg(feature = "client")]
#[tokio::test]
async fn the_client_works_against_the_nested_service_with_a_base_url_without_a_slash() {
    // Arrange: the form the crate docs use for the prefix, `http://host/sessions`.
    let app = start(ControllerOptions::default()).await;
    let client = sessions::SessionsClient::new(&app.url("/sessions")).expect("valid base URL");

    // Act
    let opened = client
        .open_session("via-client", None, None, None, None, None)
        .await;

    // Assert
    let opened = opened.unwrap_or_else(|error| {
        panic!("calling {} failed: {error:?}", client.endpoint());
    });
    assert_eq!(client.endpoint(), app.url("/sessions/graphql"));
    let read = client.get_session_by_id(&opened.id).await.expect("read");
    assert_eq!(read, Some(opened));
}

#[tokio::test]
async fn the_cleanup_task_of_the_embedded_service_closes_idle_sessions() {
    // Arrange: sessions expire after 100 ms idle; the cleanup runs every 50 ms.
    let options = ControllerOptions {
        expire_timeout: Duration::from_millis(100),
        cleanup_interval: Duration::from_millis(50),
        ..ControllerOptions::default()
    };
    let app = start(options).await;
    let opened = app.open("idle").await;
    let deadline = Instant::now() + PATIENCE;

    // Act: poll, without touching the session, until the cleanup has closed it.
    let mut session = app.get(&opened["id"]).await;
    while session["active"] == true && Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
        session = app.get(&opened["id"]).await;
    }

    // Assert
    assert_eq!(
        session["active"], false,
        "still open after {PATIENCE:?}: {session}"
    );
    assert!(session["closeTime"].is_string(), "{session}");
}

#[tokio::test]
async fn shutdown_stops_serving_and_the_cleanup_task_stops_promptly() {
    // Arrange
    let app = start(ControllerOptions::default()).await;
    app.open("before-shutdown").await;
    let addr = app.addr;

    // Act
    app.shutdown.send(()).expect("server still running");
    let served = tokio::time::timeout(PATIENCE, app.served).await;
    let stopped = tokio::time::timeout(PATIENCE, app.cleanup.stop()).await;

    // Assert
    let served = served
        .expect("serve returned in time after shutdown")
        .expect("server task did not panic");
    assert!(served.is_ok(), "serve returned {served:?}");
    assert!(stopped.is_ok(), "the cleanup task did not stop in time");
    assert!(
        refuses_connections(addr).await,
        "the server still accepts connections after shutdown"
    );
}
