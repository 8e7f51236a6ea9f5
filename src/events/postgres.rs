//! [`PgBus`]: session events between every instance sharing one PostgreSQL database.
//!
//! `publish` sends a `NOTIFY` with the event as a small JSON payload (never the session: a
//! payload must stay under 8000 bytes, and subscribers re-read the session anyway); one
//! `LISTEN` connection per instance hands what arrives to the instance's [`LocalBus`]. Events
//! of this instance make the same round trip, so every subscriber sees one order: PostgreSQL
//! delivers notifications in the order their transactions committed.
//!
//! When the listening connection drops, notifications sent meanwhile are gone: every
//! subscriber gets [`Delivery::Lost`](super::Delivery::Lost) at once, and the listener
//! reconnects for the subscribers that come next.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPoolOptions};
use tokio::task::JoinHandle;

use super::{EventBus, EventStream, LocalBus, SessionEvent, SessionEventKind};
use crate::model::CloseReason;
use crate::store::StoreError;
use crate::store::sql::Connections;

/// The channel every instance listens on, followed by `:` and the schema the sessions live
/// in: notifications are database-wide, and services in two schemas of one database must not
/// hear each other.
pub const CHANNEL_PREFIX: &str = "sessions_events";

/// Connections publishing events at once.
const PUBLISHERS: usize = 4;
/// How long a publish or the listener waits for a connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the listener waits before reconnecting after a failure.
const RETRY: Duration = Duration::from_millis(500);

/// Session events over PostgreSQL `LISTEN`/`NOTIFY`.
pub struct PgBus {
    /// For `NOTIFY`: lent without a check, a broken one replaced by running the statement
    /// once more (as the store does; sqlx's pool would ping before and after every publish).
    connections: Connections<PgConnection>,
    channel: String,
    local: LocalBus,
    listener: JoinHandle<()>,
}

impl std::fmt::Debug for PgBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgBus")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl Drop for PgBus {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

impl PgBus {
    /// Connect to the database at `url` and start listening; subscribers may fall
    /// `capacity` events behind.
    ///
    /// # Errors
    /// `Config` for a malformed URL; `Unavailable` or `Backend` when the first `LISTEN` fails.
    pub async fn connect(url: &str, capacity: usize) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("invalid PostgreSQL URL: {e}")))?
            .application_name("sessions-events");
        // The listener's own connection comes from this pool (`PgListener` reconnects through
        // it); publishing uses `connections`.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options.clone());
        let unavailable = |e: sqlx::Error| StoreError::Unavailable(Box::new(e));
        let (schema,): (String,) = sqlx::query_as("SELECT current_schema()")
            .fetch_one(&pool)
            .await
            .map_err(unavailable)?;
        let channel = format!("{CHANNEL_PREFIX}:{schema}");
        let mut listener = PgListener::connect_with(&pool).await.map_err(unavailable)?;
        listener.listen(&channel).await.map_err(unavailable)?;
        let local = LocalBus::new(capacity);
        let handle = tokio::spawn(listen(listener, local.clone()));
        Ok(Self {
            connections: Connections::new(options, PUBLISHERS, ACQUIRE_TIMEOUT),
            channel,
            local,
            listener: handle,
        })
    }
}

#[async_trait::async_trait]
impl EventBus for PgBus {
    async fn publish(&self, event: SessionEvent) {
        let payload = Wire::from(&event).to_json();
        let sent = self.notify(&payload).await;
        if let Err(error) = sent {
            // Nobody will hear of this event: say so rather than skip it silently.
            tracing::error!(%error, session_id = %event.session_id, "cannot publish session event");
            self.local.lost();
        }
    }

    fn subscribe(&self, user: Option<&str>) -> EventStream {
        self.local.subscribe(user)
    }

    fn subscribers(&self) -> usize {
        self.local.subscribers()
    }
}

impl PgBus {
    /// Send `payload` on the channel; once more on a new connection when the first turned
    /// out to be gone.
    async fn notify(&self, payload: &str) -> Result<(), sqlx::Error> {
        let mut lease = self.connections.lease().await?;
        let first = notify(lease.connection(), &self.channel, payload).await;
        if !lease.retry(&first).await? {
            return first;
        }
        let second = notify(lease.connection(), &self.channel, payload).await;
        lease.forget_if_lost(&second);
        second
    }
}

async fn notify(
    connection: &mut PgConnection,
    channel: &str,
    payload: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(channel)
        .bind(payload)
        .execute(connection)
        .await
        .map(drop)
}

/// Hand notifications to `local` until the bus is dropped; on a lost connection, tell every
/// subscriber and reconnect.
async fn listen(mut listener: PgListener, local: LocalBus) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => match Wire::parse(notification.payload()) {
                Some(event) => local.send(event),
                None => tracing::warn!(payload = notification.payload(), "bad session event"),
            },
            // The connection dropped; the next `try_recv` reconnects and listens again.
            Ok(None) => {
                tracing::warn!("session events feed lost its connection; reconnecting");
                local.lost();
            }
            Err(error) => {
                tracing::warn!(%error, "session events feed failed; retrying");
                local.lost();
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// The `NOTIFY` payload: short keys, times in milliseconds.
#[derive(Debug, Serialize, Deserialize)]
struct Wire {
    k: String,
    s: String,
    u: String,
    a: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    r: Option<String>,
}

impl Wire {
    fn to_json(&self) -> String {
        // Serializing strings and integers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    fn parse(payload: &str) -> Option<SessionEvent> {
        let wire: Wire = serde_json::from_str(payload).ok()?;
        let kind = SessionEventKind::from_str(&wire.k).ok()?;
        let reason = match wire.r {
            Some(text) => Some(CloseReason::from_str(&text).ok()?),
            None => None,
        };
        Some(SessionEvent {
            kind,
            session_id: wire.s.parse().ok()?,
            user_id: wire.u,
            at: DateTime::<Utc>::from_timestamp_millis(wire.a)?,
            reason,
        })
    }
}

impl From<&SessionEvent> for Wire {
    fn from(event: &SessionEvent) -> Self {
        Self {
            k: event.kind.as_str().to_owned(),
            s: event.session_id.to_string(),
            u: event.user_id.clone(),
            a: event.at.timestamp_millis(),
            r: event.reason.map(|r| r.as_str().to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SessionId;

    #[test]
    fn an_event_survives_the_notify_payload() {
        let event = SessionEvent {
            kind: SessionEventKind::Closed,
            session_id: SessionId::random(),
            user_id: "u\"1".into(),
            at: DateTime::<Utc>::from_timestamp_millis(1_700_000_000_123).expect("time"),
            reason: Some(CloseReason::Revoked),
        };
        assert_eq!(Wire::parse(&Wire::from(&event).to_json()), Some(event));
    }
}
