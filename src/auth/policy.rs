//! Who may do what: the permission table as data, and the one check every operation calls.
//!
//! | operation | key `read` | key `write` | key `admin` | session token |
//! |---|---|---|---|---|
//! | `session` | yes | yes | yes | its own user's sessions (others answer null) |
//! | `sessions` | yes | yes | yes | its own user's only |
//! | `currentSession` | null | null | null | the token's session |
//! | `openSession` | FORBIDDEN | yes | yes | FORBIDDEN |
//! | `storeSessionData`, `updateSessionUser`, `touchSession`, `rotateSessionToken` | FORBIDDEN | yes | yes | its own session only |
//! | `closeSession`, `closeUserSessions` | FORBIDDEN | yes | yes | its own user only |
//! | `deleteSession`, `closeExpiredSessions` | FORBIDDEN | FORBIDDEN | yes | FORBIDDEN |
//! | `sessionEvents` (subscription) | yes | yes | yes | its own user's events only |
//!
//! Without a credential (auth on) every operation is UNAUTHENTICATED; with auth off every one
//! is allowed.

use super::actor::Actor;
use super::keys::Scope;
use crate::model::{Session, SessionId};

/// An operation of an API, as the table names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `session(id)`, REST `get_session_by_id`.
    Session,
    /// `sessions(filter, paging)`, REST `get_sessions`.
    Sessions,
    /// `currentSession`.
    CurrentSession,
    /// `openSession`, REST `open_session`.
    OpenSession,
    /// `storeSessionData`, REST `store_session_data`.
    StoreSessionData,
    /// `updateSessionUser`, REST `update_session_user`.
    UpdateSessionUser,
    /// `touchSession`.
    TouchSession,
    /// `rotateSessionToken`.
    RotateSessionToken,
    /// `closeSession`, REST `close_session`.
    CloseSession,
    /// `closeUserSessions`.
    CloseUserSessions,
    /// `deleteSession`, REST `delete_session_by_id`.
    DeleteSession,
    /// `closeExpiredSessions`, REST `close_expired_sessions`.
    CloseExpiredSessions,
    /// The `sessionEvents` subscription.
    SessionEvents,
}

/// What an API key needs for an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRule {
    /// At least this scope; FORBIDDEN otherwise.
    Needs(Scope),
    /// Any key, which gets nothing (`currentSession`: a key has no session).
    Nothing,
}

/// What a session token may do with an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenRule {
    /// Nothing: FORBIDDEN.
    Forbidden,
    /// Act on sessions of the token's own user only.
    OwnUser,
    /// Act on the token's own session only.
    OwnSession,
}

/// One row of the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// For API keys.
    pub key: KeyRule,
    /// For session tokens.
    pub token: TokenRule,
}

impl Operation {
    /// Every operation, in the table's order.
    pub const ALL: [Operation; 13] = [
        Self::Session,
        Self::Sessions,
        Self::CurrentSession,
        Self::OpenSession,
        Self::StoreSessionData,
        Self::UpdateSessionUser,
        Self::TouchSession,
        Self::RotateSessionToken,
        Self::CloseSession,
        Self::CloseUserSessions,
        Self::DeleteSession,
        Self::CloseExpiredSessions,
        Self::SessionEvents,
    ];

    /// The operation's row of the table.
    pub const fn rule(self) -> Rule {
        use KeyRule::{Needs, Nothing};
        use Scope::{Admin, Read, Write};
        use TokenRule::{Forbidden, OwnSession, OwnUser};
        let (key, token) = match self {
            Self::Session | Self::Sessions | Self::SessionEvents => (Needs(Read), OwnUser),
            Self::CurrentSession => (Nothing, OwnSession),
            Self::OpenSession => (Needs(Write), Forbidden),
            Self::StoreSessionData
            | Self::UpdateSessionUser
            | Self::TouchSession
            | Self::RotateSessionToken => (Needs(Write), OwnSession),
            Self::CloseSession | Self::CloseUserSessions => (Needs(Write), OwnUser),
            Self::DeleteSession | Self::CloseExpiredSessions => (Needs(Admin), Forbidden),
        };
        Rule { key, token }
    }

    /// The GraphQL field that runs this operation.
    pub const fn graphql_field(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Sessions => "sessions",
            Self::CurrentSession => "currentSession",
            Self::OpenSession => "openSession",
            Self::StoreSessionData => "storeSessionData",
            Self::UpdateSessionUser => "updateSessionUser",
            Self::TouchSession => "touchSession",
            Self::RotateSessionToken => "rotateSessionToken",
            Self::CloseSession => "closeSession",
            Self::CloseUserSessions => "closeUserSessions",
            Self::DeleteSession => "deleteSession",
            Self::CloseExpiredSessions => "closeExpiredSessions",
            Self::SessionEvents => "sessionEvents",
        }
    }
}

/// Why an operation may not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No valid credential: `UNAUTHENTICATED`, HTTP 401.
    #[error("a valid API key or session token is required (Authorization: Bearer ...)")]
    Unauthenticated,
    /// A valid credential without the right: `FORBIDDEN`.
    #[error("this credential may not do that")]
    Forbidden,
}

/// What an allowed operation may reach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grant {
    /// Every session.
    All,
    /// No session: the operation answers empty (`currentSession` for a key).
    Nothing,
    /// The sessions of this user.
    User(String),
    /// This session only.
    Session(SessionId),
}

impl Grant {
    /// Whether `session` is within reach.
    pub fn reaches(&self, session: &Session) -> bool {
        match self {
            Self::All => true,
            Self::Nothing => false,
            Self::User(user) => session.user_id == *user,
            Self::Session(id) => session.id == *id,
        }
    }

    /// Check that the session with this id is within reach, when the grant says by id alone.
    ///
    /// # Errors
    /// `Forbidden` for another session than the granted one.
    pub fn check_id(&self, id: &SessionId) -> Result<(), Denied> {
        match self {
            Self::Session(own) if own != id => Err(Denied::Forbidden),
            Self::Nothing => Err(Denied::Forbidden),
            _ => Ok(()),
        }
    }

    /// The user a listing or a revoke must be confined to: `asked`, unless the grant names
    /// another user.
    ///
    /// # Errors
    /// `Forbidden` when `asked` names a user other than the granted one.
    pub fn confine_user(&self, asked: Option<String>) -> Result<Option<String>, Denied> {
        match self {
            Self::User(own) => match asked {
                None => Ok(Some(own.clone())),
                Some(user) if user == *own => Ok(Some(user)),
                Some(_) => Err(Denied::Forbidden),
            },
            Self::All => Ok(asked),
            Self::Nothing | Self::Session(_) => Err(Denied::Forbidden),
        }
    }
}

/// Whether `actor` may run `operation`, and on what. The one place the table is read.
///
/// # Errors
/// `Unauthenticated` without a credential; `Forbidden` when the table says no.
pub fn check(actor: &Actor, operation: Operation) -> Result<Grant, Denied> {
    let rule = operation.rule();
    match actor {
        Actor::Anonymous { current } => Ok(match (operation, current) {
            (Operation::CurrentSession, Some(id)) => Grant::Session(*id),
            (Operation::CurrentSession, None) => Grant::Nothing,
            _ => Grant::All,
        }),
        Actor::Unauthenticated => Err(Denied::Unauthenticated),
        Actor::Key { scope, .. } => match rule.key {
            KeyRule::Needs(needed) if scope.includes(needed) => Ok(Grant::All),
            KeyRule::Needs(_) => Err(Denied::Forbidden),
            KeyRule::Nothing => Ok(Grant::Nothing),
        },
        Actor::Session { id, user_id } => match rule.token {
            TokenRule::Forbidden => Err(Denied::Forbidden),
            TokenRule::OwnUser => Ok(Grant::User(user_id.clone())),
            TokenRule::OwnSession => Ok(Grant::Session(*id)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(scope: Scope) -> Actor {
        Actor::Key {
            name: "k".into(),
            scope,
        }
    }

    #[test]
    fn keys_need_the_scope_the_table_names() {
        assert_eq!(
            check(&key(Scope::Read), Operation::Sessions),
            Ok(Grant::All)
        );
        assert_eq!(
            check(&key(Scope::Read), Operation::OpenSession),
            Err(Denied::Forbidden)
        );
        assert_eq!(
            check(&key(Scope::Write), Operation::DeleteSession),
            Err(Denied::Forbidden)
        );
        assert_eq!(
            check(&key(Scope::Admin), Operation::CloseExpiredSessions),
            Ok(Grant::All)
        );
        assert_eq!(
            check(&key(Scope::Admin), Operation::CurrentSession),
            Ok(Grant::Nothing)
        );
    }

    #[test]
    fn a_token_reaches_its_own_user_or_session_only() {
        let id = SessionId::random();
        let actor = Actor::Session {
            id,
            user_id: "alice".into(),
        };
        let grant = check(&actor, Operation::Sessions).expect("allowed");
        assert_eq!(grant.confine_user(None), Ok(Some("alice".into())));
        assert_eq!(
            grant.confine_user(Some("bob".into())),
            Err(Denied::Forbidden)
        );
        let grant = check(&actor, Operation::TouchSession).expect("allowed");
        assert_eq!(grant.check_id(&id), Ok(()));
        assert_eq!(grant.check_id(&SessionId::random()), Err(Denied::Forbidden));
        assert_eq!(
            check(&actor, Operation::OpenSession),
            Err(Denied::Forbidden)
        );
    }

    #[test]
    fn without_a_credential_nothing_runs() {
        for operation in Operation::ALL {
            assert_eq!(
                check(&Actor::Unauthenticated, operation),
                Err(Denied::Unauthenticated)
            );
        }
    }
}
