//! `SessionError`: the one error of the business layer, shared by every API.

use std::fmt;

use crate::model::SessionId;
use crate::store::StoreError;

/// An input field a rule can reject; each API prints it in its own naming convention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputField {
    /// The id argument of a lookup.
    Id,
    /// A session id argument.
    SessionId,
    /// The filter's session id.
    FilterId,
    /// The filter's user id.
    FilterUserId,
    /// The user id of a new session.
    UserId,
    /// The user name of a new session.
    UserName,
    /// The client address of a new session.
    Address,
    /// The client description of a new session.
    Client,
    /// The cached user JSON.
    User,
    /// The session data JSON.
    Data,
    /// The listing filter as a whole.
    Filter,
    /// The filter's `active` flag.
    FilterActive,
    /// The filter's lower time bound.
    FromTime,
    /// The filter's upper time bound.
    ToTime,
    /// The paging as a whole.
    Paging,
    /// Paging: matches to skip.
    Skip,
    /// Paging: matches to return.
    Take,
    /// Paging: whether to count all matches.
    Total,
    /// The reason given for closing a session.
    Reason,
    /// The session to keep open when closing all of a user's sessions.
    ExceptSessionId,
}

impl InputField {
    /// The field's name in the GraphQL API (camelCase).
    pub fn graphql_name(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::SessionId => "sessionId",
            Self::FilterId => "filter.id",
            Self::FilterUserId => "filter.userId",
            Self::UserId => "userId",
            Self::UserName => "userName",
            Self::Address => "address",
            Self::Client => "client",
            Self::User => "user",
            Self::Data => "data",
            Self::Filter => "filter",
            Self::FilterActive => "filter.active",
            Self::FromTime => "filter.fromTime",
            Self::ToTime => "filter.toTime",
            Self::Paging => "paging",
            Self::Skip => "paging.skip",
            Self::Take => "paging.take",
            Self::Total => "paging.total",
            Self::Reason => "reason",
            Self::ExceptSessionId => "exceptSessionId",
        }
    }
}

impl fmt::Display for InputField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.graphql_name())
    }
}

/// Why an operation on sessions failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The caller's input breaks a rule; `reason` says which.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The offending field.
        field: InputField,
        /// What is wrong with it, e.g. "must not be empty".
        reason: String,
    },
    /// No session has this id.
    #[error("session {0} not found")]
    NotFound(SessionId),
    /// The session is closed and can no longer be changed.
    #[error("session {0} is closed")]
    Closed(SessionId),
    /// The user already holds the most open sessions allowed, and the policy refuses more.
    #[error("user {0:?} already has the most open sessions allowed")]
    LimitReached(String),
    /// The store failed; details stay in `source()` and go to the log, not to clients.
    #[error("session store failed")]
    Store(#[from] StoreError),
}

impl SessionError {
    /// Shorthand for an [`SessionError::InvalidInput`].
    pub fn invalid(field: InputField, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            reason: reason.into(),
        }
    }
}
