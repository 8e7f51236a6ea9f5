//! GraphQL object and input types; each wraps or converts to a model type.

use async_graphql::{Context, Enum, ID, InputObject, Json, Object, SimpleObject};
use serde_json::Value;

use super::errors::parse_id;
use super::scalars::Timestamp;
use crate::controller::{Paging, SessionsController};
use crate::error::{InputField, SessionError};
use crate::model::{CloseReason, NewSession, Page, Session, SessionFilter};

/// The GraphQL view of a [`Session`], with its token when it was just made.
pub struct SessionObject {
    session: Session,
    token: Option<String>,
}

impl From<Session> for SessionObject {
    fn from(session: Session) -> Self {
        Self {
            session,
            token: None,
        }
    }
}

impl SessionObject {
    /// A session with the token just made for it (openSession, rotateSessionToken).
    pub fn with_token((session, token): (Session, String)) -> Self {
        Self {
            session,
            token: Some(token),
        }
    }
}

/// A user session: who opened it, when, from where, and the JSON cached with it.
#[Object(name = "Session")]
impl SessionObject {
    /// Unique id: 32 lowercase hex digits.
    async fn id(&self) -> ID {
        ID(self.session.id.to_string())
    }

    /// The user the session belongs to.
    async fn user_id(&self) -> &str {
        &self.session.user_id
    }

    /// The user's display name, if one was given at open.
    async fn user_name(&self) -> Option<&str> {
        self.session.user_name.as_deref()
    }

    /// True until the session is closed, explicitly or by expiry.
    async fn active(&self) -> bool {
        self.session.active
    }

    /// When the session was opened.
    async fn open_time(&self) -> Timestamp {
        Timestamp(self.session.open_time)
    }

    /// Last activity: open, storeSessionData, updateSessionUser, touchSession or close.
    async fn request_time(&self) -> Timestamp {
        Timestamp(self.session.request_time)
    }

    /// When the session was closed; null while it is open.
    async fn close_time(&self) -> Option<Timestamp> {
        self.session.close_time.map(Timestamp)
    }

    /// Network address of the client, as reported at open.
    async fn address(&self) -> Option<&str> {
        self.session.address.as_deref()
    }

    /// Client description (application, browser, device), as reported at open.
    async fn client(&self) -> Option<&str> {
        self.session.client.as_deref()
    }

    /// Cached user object; null after close.
    async fn user(&self) -> Option<Json<&Value>> {
        self.session.user.as_ref().map(Json)
    }

    /// Per-session data; null after close.
    async fn data(&self) -> Option<Json<&Value>> {
        self.session.data.as_ref().map(Json)
    }

    /// Why the session was closed; null while it is open, and for sessions closed before close reasons were recorded.
    async fn close_reason(&self) -> Option<CloseReasonValue> {
        self.session.close_reason.map(CloseReasonValue::from)
    }

    /// Who closed it: `system` (expiry, eviction), `key:NAME` (an API key), `session:ID` (a session token) or `anonymous` (authentication off); null while it is open.
    async fn closed_by(&self) -> Option<&str> {
        self.session.closed_by.as_deref()
    }

    /// The session's secret token (`st_...`), for its user's own client: send it as `Authorization: Bearer <token>`. Returned once, by openSession and rotateSessionToken; null everywhere else.
    async fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// When the session expires unless it is active again: the earlier of requestTime plus the idle (expire) timeout and openTime plus the maximum lifetime. Null once closed.
    async fn expires_at(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Timestamp>> {
        let controller = ctx.data::<SessionsController>()?;
        Ok(controller.expires_at(&self.session).map(Timestamp))
    }
}

/// Why a session was closed.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(name = "CloseReason")]
pub enum CloseReasonValue {
    /// Signed out by the user or the application (closeSession).
    Logout,
    /// No activity for longer than the idle (expire) timeout.
    IdleTimeout,
    /// Open for longer than the maximum lifetime, however active.
    MaxLifetime,
    /// Revoked: closeSession with reason REVOKED, or closeUserSessions ("log out everywhere").
    Revoked,
    /// Closed to make room for a newer session of the same user (per-user session limit).
    Evicted,
}

impl From<CloseReason> for CloseReasonValue {
    fn from(reason: CloseReason) -> Self {
        match reason {
            CloseReason::Logout => Self::Logout,
            CloseReason::IdleTimeout => Self::IdleTimeout,
            CloseReason::MaxLifetime => Self::MaxLifetime,
            CloseReason::Revoked => Self::Revoked,
            CloseReason::Evicted => Self::Evicted,
        }
    }
}

impl From<CloseReasonValue> for CloseReason {
    fn from(value: CloseReasonValue) -> Self {
        match value {
            CloseReasonValue::Logout => Self::Logout,
            CloseReasonValue::IdleTimeout => Self::IdleTimeout,
            CloseReasonValue::MaxLifetime => Self::MaxLifetime,
            CloseReasonValue::Revoked => Self::Revoked,
            CloseReasonValue::Evicted => Self::Evicted,
        }
    }
}

/// One page of sessions, most recent activity first.
#[derive(SimpleObject)]
#[graphql(name = "SessionPage")]
pub struct SessionPageObject {
    /// The number of all matches, when `paging.total` asked for it; otherwise null.
    total: Option<i32>,
    /// The sessions on this page.
    data: Vec<SessionObject>,
}

impl From<Page<Session>> for SessionPageObject {
    fn from(page: Page<Session>) -> Self {
        Self {
            total: page.total.map(|n| i32::try_from(n).unwrap_or(i32::MAX)),
            data: page.data.into_iter().map(SessionObject::from).collect(),
        }
    }
}

/// Which sessions to list; every given condition must hold.
#[derive(InputObject, Default)]
#[graphql(name = "SessionFilter")]
pub struct SessionFilterInput {
    /// Only the session with this id.
    id: Option<ID>,
    /// Only sessions of this user.
    user_id: Option<String>,
    /// Only open (true) or only closed (false) sessions.
    active: Option<bool>,
    /// Only sessions with requestTime at or after this time (inclusive).
    from_time: Option<Timestamp>,
    /// Only sessions with requestTime before this time (exclusive).
    to_time: Option<Timestamp>,
}

impl TryFrom<SessionFilterInput> for SessionFilter {
    type Error = SessionError;

    fn try_from(input: SessionFilterInput) -> Result<Self, Self::Error> {
        Ok(Self {
            id: input
                .id
                .map(|id| parse_id(InputField::FilterId, &id))
                .transpose()?,
            user_id: input.user_id,
            active: input.active,
            from_time: input.from_time.map(|t| t.0),
            to_time: input.to_time.map(|t| t.0),
        })
    }
}

/// Which part of the matches to return.
#[derive(InputObject)]
#[graphql(name = "Paging")]
pub struct PagingInput {
    /// Matches to skip; must not be negative.
    #[graphql(default = 0)]
    skip: i32,
    /// Matches to return; must not be negative; values above 1000 are treated as 1000.
    #[graphql(default = 100)]
    take: i32,
    /// Whether to count all matches into the page's total.
    #[graphql(default = false)]
    total: bool,
}

impl From<PagingInput> for Paging {
    fn from(input: PagingInput) -> Self {
        Self {
            skip: Some(input.skip.into()),
            take: Some(input.take.into()),
            total: input.total,
        }
    }
}

/// What to record about a new session.
#[derive(InputObject)]
pub struct OpenSessionInput {
    /// The user the session belongs to: not blank, at most 256 characters.
    user_id: String,
    /// The user's display name, at most 1024 characters.
    user_name: Option<String>,
    /// Network address of the client, at most 1024 characters.
    address: Option<String>,
    /// Client description, at most 1024 characters.
    client: Option<String>,
    /// User object to cache with the session (any JSON, 64 KiB at most by default).
    user: Option<Json<Value>>,
    /// Initial session data (any JSON, 64 KiB at most by default).
    data: Option<Json<Value>>,
}

impl From<OpenSessionInput> for NewSession {
    fn from(input: OpenSessionInput) -> Self {
        Self {
            user_id: input.user_id,
            user_name: input.user_name,
            address: input.address,
            client: input.client,
            user: input.user.map(|json| json.0),
            data: input.data.map(|json| json.0),
        }
    }
}
