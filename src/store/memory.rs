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

/// Most sessions closed under one hold of the write lock by `close_expired`.
const EXPIRY_BATCH: usize = 1024;

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
        // In batches, so a large expiry never holds the write lock for long: other requests
        // get in between batches.
        let mut closed = 0;
        // Where the previous batch stopped: keys from there on (older ones) were looked at.
        let mut resume: Option<SortKey> = None;
        loop {
            let mut inner = self.write();
            let candidates = match resume {
                Some(key) => inner.order.range(..key),
                None => inner.order.range(..),
            };
            // Oldest first, stopping at the first key at or after the cutoff.
            let mut seen = None;
            let batch: Vec<SessionId> = candidates
                .rev()
                .take_while(|(Reverse(time), _)| *time < cutoff)
                .inspect(|key| seen = Some(**key))
                .map(|(_, id)| *id)
                .filter(|id| inner.sessions.get(id).is_some_and(|s| s.is_expired(cutoff)))
                .take(EXPIRY_BATCH)
                .collect();
            for id in &batch {
                inner.modify(id, |s| s.close(now));
            }
            closed += batch.len() as u64;
            if batch.len() < EXPIRY_BATCH {
                return Ok(closed);
            }
            resume = seen;
        }
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

#[cfg(test)]
mod tests {
    //! Index invariants listings cannot show: a stale key of a deleted session is skipped by
    //! `list`, and an empty per-user set is invisible, yet both would leak memory.

    use serde_json::json;

    use super::*;
    use crate::model::NewSession;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).expect("valid time")
    }

    fn session(user: &str, ms: i64) -> Session {
        let new = NewSession {
            user_id: user.into(),
            ..NewSession::default()
        };
        Session::open(SessionId::random(), new, at(ms))
    }

    /// Each index holds exactly the current key of each stored session, no user set is empty,
    /// and the active counter matches.
    #[track_caller]
    fn assert_indexes_match(store: &MemoryStore) {
        let inner = store.read();
        let current: BTreeSet<SortKey> = inner.sessions.values().map(Session::sort_key).collect();
        assert_eq!(inner.order, current);
        for (user, keys) in &inner.by_user {
            assert!(!keys.is_empty(), "empty index left for {user}");
            for key in keys {
                let session = &inner.sessions[&key.1];
                assert_eq!((&session.user_id, session.sort_key()), (user, *key));
            }
        }
        let indexed: usize = inner.by_user.values().map(BTreeSet::len).sum();
        assert_eq!(indexed, inner.sessions.len());
        let active = inner.sessions.values().filter(|s| s.active).count() as u64;
        assert_eq!(inner.active, active);
    }

    #[tokio::test]
    async fn indexes_keep_only_current_keys_through_updates_closes_expiry_and_deletes() {
        let store = MemoryStore::new();
        let users = ["alice", "bob", "alice", "bob", "alice", "bob"];
        let sessions: Vec<Session> = (0..6).map(|i| session(users[i], i as i64)).collect();
        for s in &sessions {
            store.insert(s).await.expect("inserts");
        }

        for round in 0..30 {
            let id = sessions[round % 6].id;
            let change = SessionChange::Data(Some(json!(round)));
            store
                .update_open(&id, change, at(100 + round as i64))
                .await
                .expect("updates");
            assert_indexes_match(&store);
        }
        store.close(&sessions[0].id, at(200)).await.expect("closes");
        assert_indexes_match(&store);
        let expired = store
            .close_expired(at(127), at(300))
            .await
            .expect("expires");
        assert_indexes_match(&store);
        for bob in [1, 3, 5] {
            store.delete(&sessions[bob].id).await.expect("deletes");
            assert_indexes_match(&store);
        }

        // Rounds 24..=29 last touched sessions 0..=5 at 124..=129; session 0 was closed since,
        // so only those at 125 and 126 are before the cutoff and still open.
        assert_eq!(expired, 2);
        assert!(!store.read().by_user.contains_key("bob"));
        assert_eq!(store.read().order.len(), 3);
    }

    #[tokio::test]
    async fn inserting_an_id_twice_fails_and_leaves_the_indexes_alone() {
        let store = MemoryStore::new();
        let first = session("alice", 1);
        store.insert(&first).await.expect("inserts");
        let twin = Session {
            user_id: "bob".into(),
            request_time: at(2),
            ..first.clone()
        };

        let result = store.insert(&twin).await;

        assert!(matches!(result, Err(StoreError::Duplicate(id)) if id == first.id));
        assert_eq!(store.get(&first.id).await.expect("gets"), Some(first));
        assert_indexes_match(&store);
        assert!(!store.read().by_user.contains_key("bob"));
    }

    #[tokio::test]
    async fn expiry_larger_than_one_batch_closes_every_expired_session_once() {
        let store = MemoryStore::new();
        let count = EXPIRY_BATCH * 2 + 7;
        let mut sampled = Vec::new();
        for n in 0..count {
            let s = session("u", n as i64);
            store.insert(&s).await.expect("inserts");
            // Old sessions closed long ago sit among the expired ones and must be skipped.
            if n % 3 == 0 {
                store.close(&s.id, at(n as i64)).await.expect("closes");
            }
            if n % 5 == 0 {
                sampled.push(s.id);
            }
        }
        let fresh = session("u", 10_000_000);
        store.insert(&fresh).await.expect("inserts");
        let open_before = store.counts().await.expect("counts").active;

        let closed = store
            .close_expired(at(count as i64), at(20_000_000))
            .await
            .expect("expires");

        assert_eq!(closed, open_before - 1);
        assert_eq!(store.counts().await.expect("counts").active, 1);
        assert!(
            store
                .get(&fresh.id)
                .await
                .expect("gets")
                .is_some_and(|s| s.active)
        );
        for id in sampled {
            let s = store.get(&id).await.expect("gets").expect("exists");
            assert!(!s.active);
        }
        assert_indexes_match(&store);
    }
}
