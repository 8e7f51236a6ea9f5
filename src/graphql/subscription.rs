//! The `Subscription` root: live session events. It only subscribes; the controller publishes.

use async_graphql::{Context, Enum, ErrorExtensions, ID, Object, Subscription};
use futures_util::{Stream, StreamExt};

use super::errors::code;
use super::scalars::Timestamp;
use super::types::{CloseReasonValue, SessionObject};
use crate::controller::SessionsController;
use crate::events::{Delivery, SessionEvent, SessionEventKind};

/// The root of subscriptions.
#[derive(Debug, Default)]
pub struct SubscriptionRoot;

#[Subscription]
impl SubscriptionRoot {
    /// Session events, optionally only one user's and only some kinds, from the moment of
    /// subscribing.
    async fn session_events(
        &self,
        ctx: &Context<'_>,
        user_id: Option<String>,
        kinds: Option<Vec<SessionEventKindValue>>,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<SessionEventObject>>> {
        let controller = ctx.data::<SessionsController>()?.clone();
        let kinds: Option<Vec<SessionEventKind>> =
            kinds.map(|kinds| kinds.into_iter().map(SessionEventKind::from).collect());
        let wanted = move |event: &SessionEvent| {
            user_id.as_ref().is_none_or(|user| *user == event.user_id)
                && kinds
                    .as_ref()
                    .is_none_or(|kinds| kinds.contains(&event.kind))
        };
        let events = controller.events().subscribe();
        Ok(events
            .filter(move |delivery| {
                let keep = match delivery {
                    Delivery::Event(event) => wanted(event),
                    Delivery::Lost => true,
                };
                std::future::ready(keep)
            })
            .map(move |delivery| match delivery {
                Delivery::Event(event) => Ok(SessionEventObject {
                    event,
                    controller: controller.clone(),
                }),
                // The bus ends the stream after this: a `next` with the error, then `complete`.
                Delivery::Lost => Err(events_lost()),
            }))
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
