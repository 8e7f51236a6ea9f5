//! How domain errors become GraphQL errors with a stable `extensions.code`.

use async_graphql::{ErrorExtensions, ID};

use crate::error::{InputField, SessionError};
use crate::model::SessionId;
use crate::store::StoreError;

/// The values of `extensions.code` this API returns.
pub mod code {
    /// The input breaks a rule; `extensions.field` names the field.
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    /// No session has the given id.
    pub const NOT_FOUND: &str = "NOT_FOUND";
    /// The session is closed and cannot be changed.
    pub const SESSION_CLOSED: &str = "SESSION_CLOSED";
    /// The user already holds the most open sessions allowed (`--max-sessions-per-user`
    /// with the `deny` policy); nothing was opened.
    pub const SESSION_LIMIT_REACHED: &str = "SESSION_LIMIT_REACHED";
    /// The session store cannot be reached; retry later.
    pub const STORE_UNAVAILABLE: &str = "STORE_UNAVAILABLE";
    /// No valid credential (authentication on): HTTP 401, `WWW-Authenticate: Bearer`, and
    /// nothing ran.
    pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
    /// The credential is valid but may not do this (that field only; the others ran).
    pub const FORBIDDEN: &str = "FORBIDDEN";
    /// Something failed inside the service; details are in its log.
    pub const INTERNAL_SERVER_ERROR: &str = "INTERNAL_SERVER_ERROR";
    /// The document is not valid GraphQL syntax.
    pub const GRAPHQL_PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
    /// The document does not validate against the schema or breaks a depth/complexity limit.
    pub const GRAPHQL_VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
    /// The HTTP request itself is malformed (body, content type, parameters).
    pub const BAD_REQUEST: &str = "BAD_REQUEST";
    /// The HTTP method cannot run this operation (a mutation over GET).
    pub const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";
    /// The request body is larger than the limit.
    pub const PAYLOAD_TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";
    /// The request took longer than the time limit.
    pub const REQUEST_TIMEOUT: &str = "REQUEST_TIMEOUT";
    /// No route for this path.
    pub const ROUTE_NOT_FOUND: &str = "ROUTE_NOT_FOUND";
    /// A subscription may have missed session events (it fell behind, or the event feed
    /// dropped) and has ended; re-read and subscribe again.
    pub const EVENTS_LOST: &str = "EVENTS_LOST";
}

impl ErrorExtensions for SessionError {
    fn extend(&self) -> async_graphql::Error {
        let (code, message) = match self {
            Self::InvalidInput { .. } => (code::BAD_USER_INPUT, self.to_string()),
            Self::NotFound(_) => (code::NOT_FOUND, self.to_string()),
            Self::Closed(_) => (code::SESSION_CLOSED, self.to_string()),
            Self::LimitReached(_) => (code::SESSION_LIMIT_REACHED, self.to_string()),
            Self::Store(StoreError::Unavailable(_)) => (
                code::STORE_UNAVAILABLE,
                "the session store is unavailable; try again later".to_owned(),
            ),
            Self::Store(_) => (code::INTERNAL_SERVER_ERROR, "internal error".to_owned()),
        };
        async_graphql::Error::new(message).extend_with(|_, ext| {
            ext.set("code", code);
            if let Self::InvalidInput { field, .. } = self {
                ext.set("field", field.graphql_name());
            }
        })
    }
}

/// Read a session id argument, or explain which argument is malformed.
pub fn parse_id(field: InputField, id: &ID) -> Result<SessionId, SessionError> {
    id.parse()
        .map_err(|error| SessionError::invalid(field, format!("{error}")))
}
