//! Errors in the Pip.Services error-description shape the original clients parse.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use super::wire::field_name;
use crate::error::SessionError;
use crate::http::correlation::CorrelationId;
use crate::store::StoreError;

/// A Pip.Services `ErrorDescription`: `{type, category, code, status, message, correlation_id, details}`.
#[derive(Debug, Serialize)]
pub struct ErrorDescription {
    /// The exception class the original would have thrown, e.g. `BadRequestException`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The error category, e.g. `BadRequest`, `Conflict`, `NotFound`, `Internal`.
    pub category: &'static str,
    /// A stable code, e.g. `INVALID_DATA`, `SESSION_CLOSED`.
    pub code: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, for people.
    pub message: String,
    /// The request's correlation id.
    pub correlation_id: String,
    /// Extra facts, such as the offending field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl ErrorDescription {
    /// A description without details.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
        correlation_id: &CorrelationId,
    ) -> Self {
        let (kind, category) = kind_and_category(status);
        Self {
            kind,
            category,
            code,
            status: status.as_u16(),
            message: message.into(),
            correlation_id: correlation_id.as_str().to_owned(),
            details: None,
        }
    }
}

impl IntoResponse for ErrorDescription {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(self)).into_response()
    }
}

fn kind_and_category(status: StatusCode) -> (&'static str, &'static str) {
    match status {
        StatusCode::NOT_FOUND => ("NotFoundException", "NotFound"),
        StatusCode::CONFLICT => ("ConflictException", "Conflict"),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            ("UnauthorizedException", "Unauthorized")
        }
        StatusCode::SERVICE_UNAVAILABLE => ("ConnectionException", "NoResponse"),
        StatusCode::METHOD_NOT_ALLOWED | StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ("UnsupportedException", "Unsupported")
        }
        s if s.is_server_error() => ("InternalException", "Internal"),
        _ => ("BadRequestException", "BadRequest"),
    }
}

/// The response for a failed command. `NotFound` is not an error in this protocol: it is
/// 204 with an empty body, which is how the original and its clients say "no such session".
pub fn session_error(error: &SessionError, correlation_id: &CorrelationId) -> Response {
    match error {
        SessionError::NotFound(_) => StatusCode::NO_CONTENT.into_response(),
        SessionError::InvalidInput { field, reason } => {
            let name = field_name(*field);
            let message = format!("invalid {name}: {reason}");
            let mut description = ErrorDescription::new(
                StatusCode::BAD_REQUEST,
                "INVALID_DATA",
                message,
                correlation_id,
            );
            description.details = Some(json!({ "field": name }));
            description.into_response()
        }
        SessionError::Closed(_) => ErrorDescription::new(
            StatusCode::CONFLICT,
            "SESSION_CLOSED",
            error.to_string(),
            correlation_id,
        )
        .into_response(),
        SessionError::LimitReached(_) => ErrorDescription::new(
            StatusCode::CONFLICT,
            "SESSION_LIMIT_REACHED",
            error.to_string(),
            correlation_id,
        )
        .into_response(),
        SessionError::Store(StoreError::Unavailable(_)) => ErrorDescription::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "STORE_UNAVAILABLE",
            "the session store is unavailable; try again later",
            correlation_id,
        )
        .into_response(),
        SessionError::Store(_) => ErrorDescription::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "internal error",
            correlation_id,
        )
        .into_response(),
    }
}
