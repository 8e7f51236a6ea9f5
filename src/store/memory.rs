//! `MemoryStore`: sessions in a `HashMap`, with ordered indexes for listing and expiry.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{SessionStore, StoreError};
use crate::model::{
    Page, PageRequest, Session, SessionChange, SessionCounts, SessionFilter, SessionId, SortKey,
};

/// Keeps sessions in process memory; they are lost when the process stops.
///
/// Lookups by id are hash lookups. Listings walk an ordered index (the global one, or the
/// user's own when the filter names a user), so they never sort and never scan other users'
/// sessions; time bounds become a range of that index.
#[derive(Debug, Default)]
pub struct MemoryStore {
    // A std lock on purpose: every critical section is short, synchronous, and never held
    // across an `.await`; readers (get, list) far outnumber writers.
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<SessionId, Session>,
    /// Every session, in listing order.
    order: BTreeSet<SortKey>,
    /// Each user's sessions, in listing order.
    by_user: HashMap<String, BTreeSet<SortKey>>,
    /// How many sessions are open.
    active: u64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    // A panic cannot leave `Inner` half-updated in a way later calls would trip on (every
    // section below either finishes or changes nothing), so a poisoned lock is still usable.
    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    /// Run `change` on a stored session and keep the indexes and counters in step with it.
    fn modify<R>(&mut self, id: &SessionId, change: impl FnOnce(&mut Session) -> R) -> Option<R> {
        let session = self.sessions.get_mut(id)?;
        let (old_key, was_active) = (session.sort_key(), session.active);
        let result = change(session);
        let new_key = session.sort_key();
        if old_key != new_key {
            self.order.remove(&old_key);
            self.order.insert(new_key);
            if let Some(keys) = self.by_user.get_mut(&session.user_id) {
                keys.remove(&old_key);
                keys.insert(new_key);
            }
        }
        if was_active && !session.active {
            self.active -= 1;
        }
        Some(result)
    }

    /// The keys a listing has to look at, newest first, already cut to the time bounds.
    fn candidates<'a>(
        &'a self,
        filter: &SessionFilter,
    ) -> Box<dyn Iterator<Item = &'a SortKey> + 'a> {
        let index = match &filter.user_id {
            Some(user) => match self.by_user.get(user) {
                Some(keys) => keys,
                None => return Box::new(std::iter::empty()),
            },
            None => &self.order,
        };
        // Keys sort newest first, so `to_time` (exclusive) bounds the start of the range and
        // `from_time` (inclusive) its end; `SessionId::MAX` places a bound after every id.
        let start = filter.to_time.map_or(Bound::Unbounded, |to| {
            Bound::Excluded((Reverse(to), SessionId::MAX))
        });
        let end = filter.from_time.map_or(Bound::Unbounded, |from| {
            Bound::Included((Reverse(from), SessionId::MAX))
        });
        if let (Some(from), Some(to)) = (filter.from_time, filter.to_time)
            && from >= to
        {
            return Box::new(std::iter::empty());
        }
        Box::new(index.range((start, end)))
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn insert(&self, session: &Session) -> Result<(), StoreError> {
        let mut inner = self.write();
        if inner.sessions.contains_key(&session.id) {
            return Err(StoreError::Duplicate(session.id));
        }
        let key = session.sort_key();
        inner.order.insert(key);
        inner
            .by_user
            .entry(session.user_id.clone())
            .or_default()
            .insert(key);
        if session.active {
            inner.active += 1;
        }
        inner.sessions.insert(session.id, session.clone());
        Ok(())
    }

    async fn get(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        Ok(self.read().sessions.get(id).cloned())
    }

    async fn list(
        &self,
        filter: &SessionFilter,
        page: &PageRequest,
    ) -> Result<Page<Session>, StoreError> {
        let inner = self.read();
        if let Some(id) = filter.id {
            // One candidate at most: no index walk needed.
            let found = inner.sessions.get(&id).filter(|s| filter.matches(s));
            let total = page.total.then_some(u64::from(found.is_some()));
            let data = found
                .into_iter()
                .skip(page.skip)
                .take(page.take)
                .cloned()
                .collect();
            return Ok(Page { total, data });
        }
        let matches = inner
            .candidates(filter)
            .filter_map(|(_, id)| inner.sessions.get(id))
            .filter(|s| filter.matches(s));
        if !page.total {
            let data = matches.skip(page.skip).take(page.take).cloned().collect();
            return Ok(Page { total: None, data });
        }
        let mut data = Vec::with_capacity(page.take.min(64));
        let mut total = 0u64;
        for (position, session) in matches.enumerate() {
            if position >= page.skip && data.len() < page.take {
                data.push(session.clone());
            }
            total += 1;
        }
        let total = Some(total);
        Ok(Page { total, data })
    }

    async fn update_open(
        &self,
        id: &SessionId,
        change: SessionChange,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        let mut inner = self.write();
        if !inner.sessions.get(id).is_some_and(|s| s.active) {
            return Ok(None);
        }
        Ok(inner.modify(id, |s| {
            s.apply(change, now);
            s.clone()
        }))
    }

    async fn close(
        &self,
        id: &SessionId,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        Ok(self.write().modify(id, |s| {
            s.close(now);
            s.clone()
        }))
    }

    async fn close_expired(
        &self,
        cutoff: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut inner = self.write();
        // Oldest first, stopping at the first key at or after the cutoff.
        let expired: Vec<SessionId> = inner
            .order
            .iter()
            .rev()
            .take_while(|(Reverse(time), _)| *time < cutoff)
            .map(|(_, id)| *id)
            .filter(|id| inner.sessions.get(id).is_some_and(|s| s.is_expired(cutoff)))
            .collect();
        for id in &expired {
            inner.modify(id, |s| s.close(now));
        }
        Ok(expired.len() as u64)
    }

    async fn delete(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let mut inner = self.write();
        let Some(session) = inner.sessions.remove(id) else {
            return Ok(None);
        };
        let key = session.sort_key();
        inner.order.remove(&key);
        if let Some(keys) = inner.by_user.get_mut(&session.user_id) {
            keys.remove(&key);
            if keys.is_empty() {
                inner.by_user.remove(&session.user_id);
            }
        }
        if session.active {
            inner.active -= 1;
        }
        Ok(Some(session))
    }

    async fn counts(&self) -> Result<SessionCounts, StoreError> {
        let inner = self.read();
        Ok(SessionCounts {
            active: inner.active,
            total: inner.sessions.len() as u64,
        })
    }
}
