//! `ClientError`: what a call through [`super::SessionsClient`] can fail with.

/// Why a client call failed. Every variant carries the call's correlation id, which the
/// service also logged.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No session has the id (`NOT_FOUND`).
    #[error("session not found (correlation id {correlation_id})")]
    NotFound {
        /// The call's correlation id.
        correlation_id: String,
    },
    /// The session is closed and cannot be changed (`SESSION_CLOSED`).
    #[error("session is closed (correlation id {correlation_id})")]
    SessionClosed {
        /// The call's correlation id.
        correlation_id: String,
    },
    /// The service refused the input (`BAD_USER_INPUT`); `message` names the field.
    #[error("bad input: {message} (correlation id {correlation_id})")]
    BadInput {
        /// The service's explanation.
        message: String,
        /// The call's correlation id.
        correlation_id: String,
    },
    /// The service could not be reached or could not serve: connection refused, timeout,
    /// a 5xx answer, or `STORE_UNAVAILABLE`. Worth retrying later.
    #[error("sessions service unavailable: {message} (correlation id {correlation_id})")]
    Unavailable {
        /// What happened.
        message: String,
        /// The call's correlation id.
        correlation_id: String,
    },
    /// The service needs a credential and got none, or a bad one (`UNAUTHENTICATED`, HTTP
    /// 401): set one with [`super::SessionsClientBuilder::bearer`].
    #[error(
        "not authenticated: the service needs a valid API key or session token (correlation id {correlation_id})"
    )]
    Unauthenticated {
        /// The call's correlation id.
        correlation_id: String,
    },
    /// The credential is valid but may not do this (`FORBIDDEN`), e.g. a `read` key opening
    /// a session.
    #[error("forbidden: {message} (correlation id {correlation_id})")]
    Forbidden {
        /// The service's explanation.
        message: String,
        /// The call's correlation id.
        correlation_id: String,
    },
    /// Any other error the service reported, with its `extensions.code`.
    #[error("sessions service error {code}: {message} (correlation id {correlation_id})")]
    Server {
        /// The error's `extensions.code`.
        code: String,
        /// The service's message.
        message: String,
        /// The call's correlation id.
        correlation_id: String,
    },
    /// The client was configured wrongly (e.g. an invalid base URL); nothing was sent.
    #[error("invalid client configuration: {message}")]
    Config {
        /// What is wrong.
        message: String,
    },
}

impl ClientError {
    /// The correlation id of the failed call; `None` only for [`ClientError::Config`].
    pub fn correlation_id(&self) -> Option<&str> {
        match self {
            Self::NotFound { correlation_id }
            | Self::SessionClosed { correlation_id }
            | Self::Unauthenticated { correlation_id }
            | Self::Forbidden { correlation_id, .. }
            | Self::BadInput { correlation_id, .. }
            | Self::Unavailable { correlation_id, .. }
            | Self::Server { correlation_id, .. } => Some(correlation_id),
            Self::Config { .. } => None,
        }
    }

    pub(super) fn unavailable(error: &reqwest::Error, correlation_id: &str) -> Self {
        Self::Unavailable {
            message: error.to_string(),
            correlation_id: correlation_id.to_owned(),
        }
    }

    pub(super) fn from_graphql(error: &graphql_client::Error, correlation_id: String) -> Self {
        let code = error
            .extensions
            .as_ref()
            .and_then(|ext| ext.get("code"))
            .and_then(|code| code.as_str())
            .unwrap_or("UNKNOWN");
        let message = error.message.clone();
        match code {
            "NOT_FOUND" => Self::NotFound { correlation_id },
            "SESSION_CLOSED" => Self::SessionClosed { correlation_id },
            "UNAUTHENTICATED" => Self::Unauthenticated { correlation_id },
            "FORBIDDEN" => Self::Forbidden {
                message,
                correlation_id,
            },
            "BAD_USER_INPUT" => Self::BadInput {
                message,
                correlation_id,
            },
            "STORE_UNAVAILABLE" => Self::Unavailable {
                message,
                correlation_id,
            },
            _ => Self::Server {
                code: code.to_owned(),
                message,
                correlation_id,
            },
        }
    }
}
