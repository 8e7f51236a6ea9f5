//! Embed the sessions service in your own axum program.
//!
//! The wiring the original service documents: configure a persistence, a controller and an
//! HTTP service, put them together, open them, and serve. Here the sessions API is nested
//! under `/sessions` beside the program's own routes.
//!
//! Run: `cargo run --example embedded`, then open <http://127.0.0.1:8080/sessions> for
//! GraphiQL, or POST GraphQL to <http://127.0.0.1:8080/sessions/graphql>. Ctrl-C stops it.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use sessions::{ControllerOptions, HttpOptions, MemoryStore, SessionsController};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Held to the end: dropping it writes the log lines still batched.
    let _logs = sessions::telemetry::init(sessions::telemetry::LogFormat::Text);

    // The persistence: any `SessionStore`; here the in-memory one.
    let store = Arc::new(MemoryStore::new());
    // The controller, with its rules' options.
    let options = ControllerOptions {
        expire_timeout: Duration::from_secs(30 * 60),
        cleanup_interval: Duration::from_secs(60),
        ..ControllerOptions::default()
    };
    let controller = SessionsController::new(store, options);
    // The HTTP service: GraphQL, GraphiQL, REST v1, /status, under a path prefix.
    let http = HttpOptions {
        base_path: "/sessions".into(),
        ..HttpOptions::default()
    };
    let schema = sessions::build_schema(controller.clone());
    let api = sessions::router(schema, controller.clone(), &http);

    // Wire it into the program's own app.
    let app = Router::new()
        .route(
            "/",
            get(|| async { "my app; sessions are under /sessions" }),
        )
        .nest("/sessions", api);

    // Open: start the background cleanup, then serve until Ctrl-C or SIGTERM.
    let cleanup = controller.spawn_cleanup();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    tracing::info!("embedded sessions at http://127.0.0.1:8080/sessions");
    axum::serve(listener, app)
        .with_graceful_shutdown(sessions::app::shutdown_signal())
        .await?;
    // Close: stop the cleanup task.
    cleanup.stop().await;
    Ok(())
}
