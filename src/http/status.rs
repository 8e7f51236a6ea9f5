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
    let store = state.controller.store().kind();
    let uptime_seconds = state.started.elapsed().as_secs();
    let name = env!("CARGO_PKG_NAME");
    let version = env!("CARGO_PKG_VERSION");
    match state.controller.counts().await {
        Ok(counts) => Json(json!({
            "name": name,
            "version": version,
            "uptime_seconds": uptime_seconds,
            "store": { "kind": store, "available": true },
            "sessions": { "active": counts.active, "total": counts.total },
        }))
        .into_response(),
        Err(error) => {
            tracing::warn!(error = ?error, "status: store did not answer");
            let body = json!({
                "name": name,
                "version": version,
                "uptime_seconds": uptime_seconds,
                "store": { "kind": store, "available": false },
                "sessions": null,
            });
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}
