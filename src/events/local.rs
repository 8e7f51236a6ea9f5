//! [`LocalBus`]: in-process fan-out, indexed by user.
//!
//! Each subscriber has a bounded queue of its own. A subscriber to one user's events is
//! filed under that user, so an event wakes only the subscribers that want it: with 10,000
//! subscribers each watching one user, an event costs one or two queue pushes, not 10,000
//! wake-ups that each throw the event away. A subscriber whose queue is full when an event
//! arrives is cut off: it reads what its queue holds, then [`Delivery::Lost`], then nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;

use super::{DEFAULT_CAPACITY, Delivery, EventBus, EventStream, SessionEvent};

/// Fans events out to this process's subscribers. A cheap `Clone` handle.
#[derive(Clone, Debug)]
pub struct LocalBus {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    capacity: usize,
    // A std lock on purpose: it is never held across an `.await`, and publishing only pushes
    // onto queues.
    registry: Mutex<Registry>,
    /// Subscribers alive now (their streams not yet dropped).
    alive: AtomicUsize,
    next_id: AtomicU64,
}

/// Who listens: to every user's events, or to one user's.
#[derive(Debug, Default)]
struct Registry {
    everyone: Vec<Subscriber>,
    by_user: HashMap<String, Vec<Subscriber>>,
}

#[derive(Debug)]
struct Subscriber {
    id: u64,
    queue: mpsc::Sender<Arc<SessionEvent>>,
    lost: Arc<AtomicBool>,
}

impl Default for LocalBus {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

impl LocalBus {
    /// A bus whose subscribers may fall `capacity` events behind before they lose events.
    pub fn new(capacity: usize) -> Self {
        let shared = Shared {
            capacity: capacity.max(1),
            registry: Mutex::new(Registry::default()),
            alive: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
        };
        Self {
            shared: Arc::new(shared),
        }
    }

    /// Tell every subscriber that events may have been missed; each subscription ends after
    /// what it has already queued.
    pub(super) fn lost(&self) {
        let mut registry = self.shared.lock();
        let everyone = std::mem::take(&mut registry.everyone);
        let by_user = std::mem::take(&mut registry.by_user);
        for subscriber in everyone.into_iter().chain(by_user.into_values().flatten()) {
            subscriber.lost.store(true, Ordering::Release);
            // Dropping the sender ends the queue once it is read.
        }
    }

    pub(super) fn send(&self, event: SessionEvent) {
        let event = Arc::new(event);
        let mut registry = self.shared.lock();
        offer(&mut registry.everyone, &event);
        if let Some(watchers) = registry.by_user.get_mut(&event.user_id) {
            offer(watchers, &event);
            if watchers.is_empty() {
                registry.by_user.remove(&event.user_id);
            }
        }
    }

    fn join(&self, user: Option<&str>) -> EventStream {
        let (queue, events) = mpsc::channel(self.shared.capacity);
        let lost = Arc::new(AtomicBool::new(false));
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let subscriber = Subscriber {
            id,
            queue,
            lost: lost.clone(),
        };
        {
            let mut registry = self.shared.lock();
            match user {
                None => registry.everyone.push(subscriber),
                Some(user) => registry
                    .by_user
                    .entry(user.to_owned())
                    .or_default()
                    .push(subscriber),
            }
        }
        self.shared.alive.fetch_add(1, Ordering::Relaxed);
        let state = Reader {
            events,
            lost,
            _leave: Leave {
                bus: self.shared.clone(),
                id,
                user: user.map(str::to_owned),
            },
        };
        // `None` state: the stream has ended (after a `Lost`).
        Box::pin(futures_util::stream::unfold(
            Some(state),
            |state| async move {
                let mut state = state?;
                match state.events.recv().await {
                    Some(event) => Some((Delivery::Event((*event).clone()), Some(state))),
                    // The bus let go of this subscriber: cut off, or the bus is gone.
                    None if state.lost.load(Ordering::Acquire) => Some((Delivery::Lost, None)),
                    None => None,
                }
            },
        ))
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Queue `event` for each of `subscribers`; drop those that are gone, and cut off those
/// whose queue is full.
fn offer(subscribers: &mut Vec<Subscriber>, event: &Arc<SessionEvent>) {
    subscribers.retain(
        |subscriber| match subscriber.queue.try_send(event.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                subscriber.lost.store(true, Ordering::Release);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        },
    );
}

/// A subscription's end of the bus.
struct Reader {
    events: mpsc::Receiver<Arc<SessionEvent>>,
    lost: Arc<AtomicBool>,
    _leave: Leave,
}

/// Takes the subscriber off the bus when its stream is dropped.
struct Leave {
    bus: Arc<Shared>,
    id: u64,
    user: Option<String>,
}

impl Drop for Leave {
    fn drop(&mut self) {
        self.bus.alive.fetch_sub(1, Ordering::Relaxed);
        let mut registry = self.bus.lock();
        match &self.user {
            None => registry.everyone.retain(|s| s.id != self.id),
            Some(user) => {
                if let Some(watchers) = registry.by_user.get_mut(user) {
                    watchers.retain(|s| s.id != self.id);
                    if watchers.is_empty() {
                        registry.by_user.remove(user);
                    }
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl EventBus for LocalBus {
    async fn publish(&self, event: SessionEvent) {
        self.send(event);
    }

    fn subscribe(&self, user: Option<&str>) -> EventStream {
        self.join(user)
    }

    fn subscribers(&self) -> usize {
        self.shared.alive.load(Ordering::Relaxed)
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
        let mut events = bus.subscribe(None);
        let (one, two) = (event(1), event(2));
        bus.publish(one.clone()).await;
        bus.publish(two.clone()).await;
        assert_eq!(events.next().await, Some(Delivery::Event(one)));
        assert_eq!(events.next().await, Some(Delivery::Event(two)));
    }

    #[tokio::test]
    async fn a_users_subscriber_receives_that_users_events_only() {
        let bus = LocalBus::new(8);
        let mut sevens = bus.subscribe(Some("7"));
        let mut everyone = bus.subscribe(None);
        for n in [6, 7, 8, 7] {
            bus.publish(event(n)).await;
        }
        for _ in 0..2 {
            let Some(Delivery::Event(got)) = sevens.next().await else {
                panic!("an event");
            };
            assert_eq!(got.user_id, "7");
        }
        let mut users = Vec::new();
        for _ in 0..4 {
            let Some(Delivery::Event(got)) = everyone.next().await else {
                panic!("an event");
            };
            users.push(got.user_id);
        }
        assert_eq!(users, ["6", "7", "8", "7"]);
    }

    #[tokio::test]
    async fn a_subscriber_that_falls_behind_gets_what_it_queued_then_lost_then_nothing() {
        let bus = LocalBus::new(2);
        let mut events = bus.subscribe(None);
        let sent: Vec<_> = (0..5).map(event).collect();
        for event in &sent {
            bus.publish(event.clone()).await;
        }
        assert_eq!(events.next().await, Some(Delivery::Event(sent[0].clone())));
        assert_eq!(events.next().await, Some(Delivery::Event(sent[1].clone())));
        assert_eq!(events.next().await, Some(Delivery::Lost));
        bus.publish(event(9)).await;
        assert_eq!(events.next().await, None);
    }

    #[tokio::test]
    async fn a_lost_feed_ends_every_subscription_and_new_ones_still_work() {
        let bus = LocalBus::new(8);
        let mut everyone = bus.subscribe(None);
        let mut one = bus.subscribe(Some("1"));
        bus.lost();
        assert_eq!(everyone.next().await, Some(Delivery::Lost));
        assert_eq!(one.next().await, Some(Delivery::Lost));
        let mut fresh = bus.subscribe(Some("1"));
        let sent = event(1);
        bus.publish(sent.clone()).await;
        assert_eq!(fresh.next().await, Some(Delivery::Event(sent)));
    }

    #[tokio::test]
    async fn the_bus_counts_its_subscribers_and_forgets_those_that_left() {
        let bus = LocalBus::new(2);
        let everyone = bus.subscribe(None);
        let one = bus.subscribe(Some("1"));
        assert_eq!(bus.subscribers(), 2);
        drop(everyone);
        drop(one);
        assert_eq!(bus.subscribers(), 0);
        let registry = bus.shared.lock();
        assert!(registry.everyone.is_empty());
        assert!(registry.by_user.is_empty());
    }
}
