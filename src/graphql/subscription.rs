//! The `Subscription` root: live session events. It only subscribes; the controller publishes.

use async_graphql::{Context, Enum, ErrorExtensions, ID, Object, Subscription};
use futures_util::{Stream, StreamExt};

use super::access;
use super::errors::code;
use super::scalars::Timestamp;
use super::types::{CloseReasonValue, SessionObject};
use crate::auth::{Actor, Denied, Operation};
use crate::controller::SessionsController;
use crate::events::{Delivery, EventStream, SessionEvent, SessionEventKind};
use crate::model::SessionId;

/// The root of subscriptions.
#[derive(Debug, Default)]
pub struct SubscriptionRoot;

#[Subscription]
impl SubscriptionRoot {
    /// Session events, optionally only one user's and only some kinds, from the moment of
    /// subscribing.
    ///
    /// With authentication on, API keys need the `read` scope; a session token receives only
    /// its own user's events (`userId` left out means its own; another user's is
    /// `FORBIDDEN`), and its subscriptions complete after its own session's `CLOSED` (or
    /// `DELETED`) event.
    async fn session_events(
        &self,
        ctx: &Context<'_>,
        user_id: Option<String>,
        kinds: Option<Vec<SessionEventKindValue>>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<SessionEventObject>>> {
        let (grant, actor) = access::authorize(ctx, Operation::SessionEvents)?;
        let user_id = grant
            .confine_user(user_id)
            .map_err(|denied| denied.extend())?;
        let controller = ctx.data::<SessionsController>()?.clone();
        // A token's own session: its subscriptions end with it. A token authenticated when
        // the connection opened may belong to a session closed since.
        let own = match actor {
            Actor::Session { id, .. } => {
                let open = controller.get(id).await.map_err(|e| e.extend())?;
                if !open.is_some_and(|session| session.active) {
                    return Err(Denied::Unauthenticated.extend());
                }
                Some(*id)
            }
            _ => None,
        };
        let kinds: Option<Vec<SessionEventKind>> =
            kinds.map(|kinds| kinds.into_iter().map(SessionEventKind::from).collect());
        let events = controller.events().subscribe(user_id.as_deref());
        let state = Feed {
            events,
            kinds,
            own,
            ended: false,
            controller,
        };
        Ok(futures_util::stream::unfold(state, Feed::next))
    }
}

/// One subscription's events: the bus' deliveries for its user, filtered by kind, ending after
/// a `Lost` or after the end of the token's own session.
struct Feed {
    events: EventStream,
    kinds: Option<Vec<SessionEventKind>>,
    own: Option<SessionId>,
    ended: bool,
    controller: SessionsController,
}

impl Feed {
    async fn next(mut self) -> Option<(async_graphql::Result<SessionEventObject>, Self)> {
        if self.ended {
            return None;
        }
        loop {
            let event = match self.events.next().await? {
                Delivery::Event(event) => event,
                // The bus ends the stream after this: a `next` with the error, then `complete`.
                Delivery::Lost => {
                    self.ended = true;
                    return Some((Err(events_lost()), self));
                }
            };
            let last = self.own == Some(event.session_id)
                && matches!(
                    event.kind,
                    SessionEventKind::Closed | SessionEventKind::Deleted
                );
            let wanted = self
                .kinds
                .as_ref()
                .is_none_or(|kinds| kinds.contains(&event.kind));
            if wanted {
                self.ended = last;
                let object = SessionEventObject {
                    event,
                    controller: self.controller.clone(),
                };
                return Some((Ok(object), self));
            }
            if last {
                return None;
            }
        }
    }
}

fn events_lost() -> async_graphql::Error {
    async_graphql::Error::new(
        "events may have been lost (the subscriber fell behind or the event feed dropped); \
         re-read and subscribe again",
    )
    .extend_with(|_, ext| ext.set("code", code::EVENTS_LOST))
}

/// What happened to a session.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(name = "SessionEventKind")]
pub enum SessionEventKindValue {
    /// The session was opened.
    Opened,
    /// Its data or cached user was replaced (`storeSessionData`, `updateSessionUser`; touches
    /// do not count).
    Changed,
    /// It was closed, whatever closed it; `reason` says why.
    Closed,
    /// It was deleted (`deleteSession`; the retention purge emits nothing).
    Deleted,
}

impl From<SessionEventKindValue> for SessionEventKind {
    fn from(value: SessionEventKindValue) -> Self {
        match value {
            SessionEventKindValue::Opened => Self::Opened,
            SessionEventKindValue::Changed => Self::Changed,
            SessionEventKindValue::Closed => Self::Closed,
            SessionEventKindValue::Deleted => Self::Deleted,
        }
    }
}

impl From<SessionEventKind> for SessionEventKindValue {
    fn from(kind: SessionEventKind) -> Self {
        match kind {
            SessionEventKind::Opened => Self::Opened,
            SessionEventKind::Changed => Self::Changed,
            SessionEventKind::Closed => Self::Closed,
            SessionEventKind::Deleted => Self::Deleted,
        }
    }
}

/// One event of one session, as a subscriber receives it.
pub struct SessionEventObject {
    event: SessionEvent,
    controller: SessionsController,
}

/// Something that happened to a session.
#[Object(name = "SessionEvent")]
impl SessionEventObject {
    /// What happened.
    async fn kind(&self) -> SessionEventKindValue {
        self.event.kind.into()
    }

    /// The session's id.
    async fn session_id(&self) -> ID {
        ID(self.event.session_id.to_string())
    }

    /// The session's user.
    async fn user_id(&self) -> &str {
        &self.event.user_id
    }

    /// When it happened, by the server's clock.
    async fn at(&self) -> Timestamp {
        Timestamp(self.event.at)
    }

    /// Why the session closed; `CLOSED` events only.
    async fn reason(&self) -> Option<CloseReasonValue> {
        self.event.reason.map(CloseReasonValue::from)
    }

    /// The session as stored when the event is delivered (it may have changed since the
    /// event); null once deleted.
    async fn session(&self) -> async_graphql::Result<Option<SessionObject>> {
        let session = self
            .controller
            .get(&self.event.session_id)
            .await
            .map_err(|e| e.extend())?;
        Ok(session.map(SessionObject::from))
    }
}
