//! `/heartbeat` and `/status`: liveness and a summary for operators.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;

/// `GET /heartbeat`: 200 `OK` while the process serves requests.
pub async fn heartbeat() -> &'static str {
    "OK"
}

/// `GET /status`: name, version, uptime and session counts; 503 when the store cannot answer.
pub async fn status(State(state): State<AppState>) -> Response {
    let counts = state.controller.counts().await;
    if let Err(error) = &counts {
        tracing::warn!(error = ?error, "status: store did not answer");
    }
    let available = counts.is_ok();
    let body = json!({
        "name": env!("CARGO_PKG_NAME"),
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.started.elapsed().as_secs(),
        "store": { "kind": state.controller.store().kind(), "available": available },
        "sessions": counts.ok().map(|c| json!({ "active": c.active, "total": c.total })),
    });
    let status = if available {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
