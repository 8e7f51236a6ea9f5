//! The original Pip.Services REST protocol (v1): `POST /v1/sessions/<command>` with a JSON
//! body, so existing `SessionsHttpClientV1` clients keep working.
//!
//! This layer only translates: JSON to controller calls ([`wire`]) and controller errors to
//! status codes and Pip.Services error descriptions ([`errors`]). Every rule lives in the
//! controller, shared with the GraphQL API.

pub mod errors;
pub mod wire;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

use crate::auth::{Actor, Operation, policy};
use crate::controller::SessionsController;
use crate::error::SessionError;
use crate::http::AppState;
use crate::http::body::{self, BodyError};
use crate::http::correlation::CorrelationId;
use crate::model::{CloseReason, Session};
use crate::nesting;
use errors::{ErrorDescription, session_error};
use wire::{PageV1, SessionV1};

/// Path prefix of the v1 protocol.
pub const PREFIX: &str = "/v1/";

/// The commands of the v1 protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// `get_sessions`: a page of sessions by filter.
    GetSessions,
    /// `get_session_by_id`: one session.
    GetSessionById,
    /// `open_session`: open a new session.
    OpenSession,
    /// `store_session_data`: replace an open session's data.
    StoreSessionData,
    /// `update_session_user`: replace an open session's cached user.
    UpdateSessionUser,
    /// `close_session`: close a session.
    CloseSession,
    /// `close_expired_sessions`: close idle sessions.
    CloseExpiredSessions,
    /// `delete_session_by_id`: remove a session.
    DeleteSessionById,
}

impl Command {
    /// Every command with its wire name.
    pub const ALL: [(&'static str, Command); 8] = [
        ("get_sessions", Self::GetSessions),
        ("get_session_by_id", Self::GetSessionById),
        ("open_session", Self::OpenSession),
        ("store_session_data", Self::StoreSessionData),
        ("update_session_user", Self::UpdateSessionUser),
        ("close_session", Self::CloseSession),
        ("close_expired_sessions", Self::CloseExpiredSessions),
        ("delete_session_by_id", Self::DeleteSessionById),
    ];

    /// The command with this wire name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
    }

    /// The operation of the permission table this command runs.
    pub fn operation(self) -> Operation {
        match self {
            Self::GetSessions => Operation::Sessions,
            Self::GetSessionById => Operation::Session,
            Self::OpenSession => Operation::OpenSession,
            Self::StoreSessionData => Operation::StoreSessionData,
            Self::UpdateSessionUser => Operation::UpdateSessionUser,
            Self::CloseSession => Operation::CloseSession,
            Self::CloseExpiredSessions => Operation::CloseExpiredSessions,
            Self::DeleteSessionById => Operation::DeleteSession,
        }
    }
}

/// The refusal of `command` to `actor`, or `None` when it may run. REST v1 is service to
/// service: only API keys (or anyone, with authentication off); a session token is refused
/// as if absent (401).
fn refusal(actor: &Actor, command: Command, id: &CorrelationId) -> Option<Response> {
    match actor {
        Actor::Anonymous { .. } => None,
        Actor::Unauthenticated | Actor::Session { .. } => {
            Some(crate::http::auth::unauthenticated(true, true, id))
        }
        Actor::Key { .. } => match policy::check(actor, command.operation()) {
            Ok(_) => None,
            Err(denied) => Some(
                ErrorDescription::new(
                    StatusCode::FORBIDDEN,
                    "FORBIDDEN",
                    format!("{denied}: the key's scope does not allow this command"),
                    id,
                )
                .into_response(),
            ),
        },
    }
}

/// The v1 routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/sessions/{command}", post(command))
}

/// `POST /v1/sessions/{command}`.
async fn command(
    State(state): State<AppState>,
    Extension(id): Extension<CorrelationId>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    if !body::is_json(&headers) {
        body::discard(body).await;
        let message = "the request body must be JSON, sent with Content-Type: application/json";
        return ErrorDescription::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            message,
            &id,
        )
        .into_response();
    }
    let Some(command) = Command::parse(&name) else {
        body::discard(body).await;
        let known: Vec<&str> = Command::ALL.iter().map(|(n, _)| *n).collect();
        let message = format!("unknown command {name:?}; known: {}", known.join(", "));
        return ErrorDescription::new(StatusCode::NOT_FOUND, "UNKNOWN_COMMAND", message, &id)
            .into_response();
    };
    if let Some(refused) = refusal(&actor, command, &id) {
        body::discard(body).await;
        return refused;
    }
    let params = match read_params(body).await {
        Ok(params) => params,
        Err((status, code, message)) => {
            return ErrorDescription::new(status, code, message, &id).into_response();
        }
    };
    match run(&state.controller, command, &params, &actor.label()).await {
        Ok(response) => response,
        Err(error) => session_error(&error, &id),
    }
}

/// Read the body as a JSON object; an empty body counts as `{}`.
async fn read_params(
    body: axum::body::Body,
) -> Result<wire::Body, (StatusCode, &'static str, String)> {
    let bytes = body::read(body).await.map_err(|error| match error {
        BodyError::TooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            error.to_string(),
        ),
        BodyError::Unreadable(_) => (StatusCode::BAD_REQUEST, "BAD_REQUEST", error.to_string()),
    })?;
    let bad_json = |message: String| (StatusCode::BAD_REQUEST, "INVALID_JSON", message);
    // Before serde_json recurses into it.
    nesting::check_json(&bytes, "the request body").map_err(|e| bad_json(e.to_string()))?;
    let value = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| bad_json(format!("the request body is not valid JSON: {e}")))?
    };
    wire::Body::new(value).map_err(bad_json)
}

async fn run(
    controller: &SessionsController,
    command: Command,
    params: &wire::Body,
    by: &str,
) -> Result<Response, SessionError> {
    let session = |s: &Session| Json(SessionV1::full(s, controller.expires_at(s))).into_response();
    let maybe_session = |s: Option<Session>| match s {
        Some(found) => session(&found),
        None => StatusCode::NO_CONTENT.into_response(),
    };
    Ok(match command {
        Command::GetSessions => {
            let page = controller.list(&params.filter()?, params.paging()?).await?;
            let data = page
                .data
                .iter()
                .map(|s| SessionV1::summary(s, controller.expires_at(s)))
                .collect();
            Json(PageV1 {
                total: page.total,
                data,
            })
            .into_response()
        }
        Command::GetSessionById => maybe_session(controller.get(&params.session_id()?).await?),
        Command::OpenSession => {
            let (opened, token) = controller.open_with_token(params.new_session()?).await?;
            let answer = SessionV1::full(&opened, controller.expires_at(&opened));
            Json(answer.with_token(&token)).into_response()
        }
        Command::StoreSessionData => {
            let id = params.session_id()?;
            session(&controller.store_data(&id, params.json("data")).await?)
        }
        Command::UpdateSessionUser => {
            let id = params.session_id()?;
            session(&controller.update_user(&id, params.json("user")).await?)
        }
        Command::CloseSession => {
            let id = params.session_id()?;
            session(&controller.close_by(&id, CloseReason::Logout, by).await?)
        }
        Command::CloseExpiredSessions => {
            Json(json!({ "closed": controller.close_expired().await? })).into_response()
        }
        Command::DeleteSessionById => {
            maybe_session(controller.delete(&params.session_id()?).await?)
        }
    })
}
