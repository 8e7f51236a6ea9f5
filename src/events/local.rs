//! [`LocalBus`]: in-process fan-out over a tokio broadcast channel.

use std::sync::Arc;

use tokio::sync::broadcast;

use super::{DEFAULT_CAPACITY, Delivery, EventBus, EventStream, SessionEvent};

/// What the channel carries: an event, or word that events were lost (the feed dropped).
#[derive(Clone, Debug)]
pub(super) enum Signal {
    Event(Arc<SessionEvent>),
    Lost,
}

/// Fans events out to this process's subscribers. A cheap `Clone` handle.
#[derive(Clone, Debug)]
pub struct LocalBus {
    sender: broadcast::Sender<Signal>,
}

impl Default for LocalBus {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl LocalBus {
    /// A bus whose subscribers may fall `capacity` events behind before they lose events.
    pub fn new(capacity: usize) -> Self {
        let (sender, _) = broadcast::channel(capacity.max(1));
        Self { sender }
    }

    /// Tell every subscriber that events may have been missed; each subscription ends.
    pub(super) fn lost(&self) {
        // An error only means nobody is subscribed.
        let _ = self.sender.send(Signal::Lost);
    }

    pub(super) fn send(&self, event: SessionEvent) {
        let _ = self.sender.send(Signal::Event(Arc::new(event)));
    }
}

#[async_trait::async_trait]
impl EventBus for LocalBus {
    async fn publish(&self, event: SessionEvent) {
        self.send(event);
    }

    fn subscribe(&self) -> EventStream {
        let receiver = self.sender.subscribe();
        // `None` state: the stream has ended (after a `Lost`).
        Box::pin(futures_util::stream::unfold(
            Some(receiver),
            |receiver| async move {
                let mut receiver = receiver?;
                match receiver.recv().await {
                    Ok(Signal::Event(event)) => {
                        Some((Delivery::Event((*event).clone()), Some(receiver)))
                    }
                    // Lagged: the channel overwrote events this subscriber had not read.
                    Ok(Signal::Lost) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        Some((Delivery::Lost, None))
                    }
                    Err(broadcast::error::RecvError::Closed) => None,
                }
            },
        ))
    }

    fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use futures_util::StreamExt;

    use super::*;
    use crate::events::SessionEventKind;
    use crate::model::SessionId;

    fn event(n: usize) -> SessionEvent {
        SessionEvent {
            kind: SessionEventKind::Opened,
            session_id: SessionId::random(),
            user_id: n.to_string(),
            at: Utc::now(),
            reason: None,
        }
    }

    #[tokio::test]
    async fn a_subscriber_receives_what_is_published_after_it_subscribed_in_order() {
        let bus = LocalBus::new(8);
        bus.publish(event(0)).await;
        let mut events = bus.subscribe();
        let (one, two) = (event(1), event(2));
        bus.publish(one.clone()).await;
        bus.publish(two.clone()).await;
        assert_eq!(events.next().await, Some(Delivery::Event(one)));
        assert_eq!(events.next().await, Some(Delivery::Event(two)));
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_gets_lost_and_then_nothing() {
        let bus = LocalBus::new(2);
        let mut events = bus.subscribe();
        for n in 0..5 {
            bus.publish(event(n)).await;
        }
        assert_eq!(events.next().await, Some(Delivery::Lost));
        bus.publish(event(9)).await;
        assert_eq!(events.next().await, None);
    }

    #[tokio::test]
    async fn the_bus_counts_its_subscribers() {
        let bus = LocalBus::new(2);
        let events = bus.subscribe();
        assert_eq!(bus.subscribers(), 1);
        drop(events);
        assert_eq!(bus.subscribers(), 0);
    }
}
