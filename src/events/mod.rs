//! Session events: what happened to a session, and the bus that carries them to subscribers.
//!
//! The controller publishes an event after the store change it reports has succeeded; the
//! GraphQL `Subscription` root only subscribes. [`LocalBus`] fans events out inside one process
//! (memory and SQLite stores); [`PgBus`] carries them between every instance sharing one
//! PostgreSQL database with `LISTEN`/`NOTIFY`.
//!
//! Delivery never skips silently: a subscriber that falls more than the bus capacity behind,
//! or that may have missed events because the feed's connection dropped, receives the events
//! it had already been given, then [`Delivery::Lost`], and then nothing more (mini-redis
//! handles a lagging receiver the same way: as a case, not as an error to ignore).

mod local;
mod postgres;

pub use local::LocalBus;
pub use postgres::PgBus;

use std::fmt;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use futures_util::Stream;

use crate::model::{CloseReason, SessionId};

/// Events a subscriber may hold unread before it is cut off with [`Delivery::Lost`].
pub const DEFAULT_CAPACITY: usize = 1024;

/// What happened to a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionEventKind {
    /// The session was opened.
    Opened,
    /// Its data or its cached user was replaced (touches do not count).
    Changed,
    /// It was closed, for any reason.
    Closed,
    /// It was deleted (`deleteSession`; the retention purge emits nothing).
    Deleted,
}

/// One event of one session: small enough for a `NOTIFY` payload; subscribers re-read the
/// session itself when they deliver the event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionEvent {
    /// What happened.
    pub kind: SessionEventKind,
    /// To which session.
    pub session_id: SessionId,
    /// The session's user.
    pub user_id: String,
    /// When, by the server's clock.
    pub at: DateTime<Utc>,
    /// Why it closed; `CLOSED` events only.
    pub reason: Option<CloseReason>,
}

/// What a subscription receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The next event.
    Event(SessionEvent),
    /// Events may have been missed (the subscriber fell behind, or the feed dropped); nothing
    /// follows. The subscriber should re-read what it cares about and subscribe again.
    Lost,
}

/// The events a subscriber receives, from the moment it subscribed.
pub type EventStream = Pin<Box<dyn Stream<Item = Delivery> + Send>>;

/// Carries session events from the controller to subscribers.
#[async_trait::async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Send `event` to every current subscriber (of every instance, for a shared bus).
    /// Delivery failures are the subscribers' (they get [`Delivery::Lost`]), never the caller's.
    async fn publish(&self, event: SessionEvent);

    /// Events published from now on: every user's, or only `user`'s (an index, so that an
    /// event wakes only the subscribers that want it).
    fn subscribe(&self, user: Option<&str>) -> EventStream;

    /// How many subscribers this instance holds now (for metrics).
    fn subscribers(&self) -> usize;
}

impl fmt::Debug for dyn EventBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventBus({} subscribers)", self.subscribers())
    }
}

impl SessionEventKind {
    /// The kind as the API spells it, e.g. `OPENED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "OPENED",
            Self::Changed => "CHANGED",
            Self::Closed => "CLOSED",
            Self::Deleted => "DELETED",
        }
    }
}

impl std::str::FromStr for SessionEventKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "OPENED" => Ok(Self::Opened),
            "CHANGED" => Ok(Self::Changed),
            "CLOSED" => Ok(Self::Closed),
            "DELETED" => Ok(Self::Deleted),
            other => Err(format!("unknown session event kind {other}")),
        }
    }
}
