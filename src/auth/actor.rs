//! The `Actor`: who a request runs as, decided once by the HTTP layer.

use std::fmt;

use super::keys::Scope;
use crate::model::{CLOSED_BY_ANONYMOUS, SessionId};

/// Who a request runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// Authentication is off: everything is allowed. `current` is the session of a valid
    /// session token sent anyway (for `currentSession`).
    Anonymous {
        /// The session of the token in the request, if one was sent and is valid.
        current: Option<SessionId>,
    },
    /// Authentication is on and no credential was sent: only public introspection runs.
    Unauthenticated,
    /// A backend service, with an API key.
    Key {
        /// The key's name.
        name: String,
        /// What the key may do.
        scope: Scope,
    },
    /// A user's own client, with the token of one of the user's sessions.
    Session {
        /// The token's session.
        id: SessionId,
        /// Its user.
        user_id: String,
    },
}

impl Actor {
    /// Authentication off, no session token.
    pub const ANONYMOUS: Actor = Actor::Anonymous { current: None };

    /// How logs and `closedBy` name the actor: `key:NAME`, `session:ID`, `anonymous` (or
    /// `unauthenticated`, which never changes anything).
    pub fn label(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Anonymous { .. } => f.write_str(CLOSED_BY_ANONYMOUS),
            Self::Unauthenticated => f.write_str("unauthenticated"),
            Self::Key { name, .. } => write!(f, "key:{name}"),
            Self::Session { id, .. } => write!(f, "session:{id}"),
        }
    }
}
