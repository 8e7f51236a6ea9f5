//! `/heartbeat`, `/ready` and `/status`: liveness, readiness, and a summary for operators.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use crate::error::SessionError;

/// `GET /heartbeat`: 200 `OK` while the process serves requests.
pub async fn heartbeat() -> &'static str {
    "OK"
}

/// Longest the store may take to answer a readiness check before the service counts as not
/// ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(1);

/// `GET /ready`: 200 when the store answers its cheapest round trip within [`READY_TIMEOUT`],
/// else 503 with the reason; it counts nothing, so probes may call it often.
pub async fn ready(State(state): State<AppState>) -> Response {
    let reason = match tokio::time::timeout(READY_TIMEOUT, state.controller.ping()).await {
        Ok(Ok(())) => {
            let body = json!({ "status": "ready", "store": state.controller.store().kind() });
            return (StatusCode::OK, Json(body)).into_response();
        }
        Ok(Err(error)) => {
            tracing::warn!(error = ?error, "ready: store did not answer");
            // The store error's own words ("session store unavailable"), never its source,
            // which may name a host.
            match error {
                SessionError::Store(store) => store.to_string(),
                other => other.to_string(),
            }
        }
        Err(_) => format!(
            "session store did not answer within {} ms",
            READY_TIMEOUT.as_millis()
        ),
    };
    let body = json!({
        "status": "unavailable",
        "store": state.controller.store().kind(),
        "reason": reason,
    });
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
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
