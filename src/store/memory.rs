//! `MemoryStore`: sessions in a `HashMap`, with ordered indexes for listing, expiry and
//! retention.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Closing, SessionStore, StoreError};
use crate::model::{
    Admission, CloseReason, Closed, Cutoffs, LimitPolicy, Page, PageRequest, Session,
    SessionChange, SessionCounts, SessionFilter, SessionId, SortKey, TokenHash, UserLimit,
};

/// Most sessions closed under one hold of the write lock by `close_expired`: each close
/// updates six ordered indexes (a few microseconds at a million sessions), so a batch holds
/// the lock for a millisecond or so, and readers get in between batches.
const BATCH: usize = 256;

/// A time and an id, ordered oldest first: the key of the expiry and retention indexes.
type TimeKey = (DateTime<Utc>, SessionId);

/// Keeps sessions in process memory; they are lost when the process stops.
///
/// Lookups by id are hash lookups. Listings walk an ordered index (the global one, or the
/// user's own when the filter names a user), so they never sort and never scan other users'
/// sessions; time bounds become a range of that index. Expiry reads indexes of open sessions
/// only, and retention one of closed sessions only, so neither grows with the other kind.
#[derive(Debug, Default)]
pub struct MemoryStore {
    // A std lock on purpose: every critical section is short, synchronous, and never held
    // across an `.await`; readers (get, list) far outnumber writers. Bulk work takes it a
    // batch at a time and yields the thread between batches.
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<SessionId, Session>,
    indexes: Indexes,
}

/// Every index holds exactly the current key of each stored session it covers.
#[derive(Debug, Default)]
struct Indexes {
    /// Every session, in listing order.
    order: BTreeSet<SortKey>,
    /// Each user's sessions, in listing order.
    by_user: HashMap<String, BTreeSet<SortKey>>,
    /// Open sessions in listing order (most recent activity first): listings of open
    /// sessions, and, read from the end, the idle-expiry scan.
    open_by_activity: BTreeSet<SortKey>,
    /// Open sessions by open time: the max-lifetime scan.
    open_by_age: BTreeSet<TimeKey>,
    /// Closed sessions by close time: the retention purge.
    closed_by_time: BTreeSet<TimeKey>,
    /// Sessions by the hash of their token.
    by_token: HashMap<TokenHash, SessionId>,
    /// How many sessions are open.
    active: u64,
}

impl Indexes {
    fn add(&mut self, s: &Session) {
        let key = s.sort_key();
        self.order.insert(key);
        if let Some(hash) = s.token_hash {
            self.by_token.insert(hash, s.id);
        }
        match self.by_user.get_mut(&s.user_id) {
            Some(keys) => {
                keys.insert(key);
            }
            None => {
                self.by_user
                    .insert(s.user_id.clone(), BTreeSet::from([key]));
            }
        }
        if s.active {
            self.open_by_activity.insert(key);
            self.open_by_age.insert((s.open_time, s.id));
            self.active += 1;
        } else if let Some(closed) = s.close_time {
            self.closed_by_time.insert((closed, s.id));
        }
    }

    /// Take `s` out of every index; an emptied per-user set stays (see [`Self::prune`]).
    fn remove(&mut self, s: &Session) {
        let key = s.sort_key();
        self.order.remove(&key);
        if let Some(hash) = &s.token_hash {
            self.by_token.remove(hash);
        }
        if let Some(keys) = self.by_user.get_mut(&s.user_id) {
            keys.remove(&key);
        }
        if s.active {
            self.open_by_activity.remove(&key);
            self.open_by_age.remove(&(s.open_time, s.id));
            self.active -= 1;
        } else if let Some(closed) = s.close_time {
            self.closed_by_time.remove(&(closed, s.id));
        }
    }

    /// Forget `user`'s set once it is empty, so deleted users leave nothing behind.
    fn prune(&mut self, user: &str) {
        if self.by_user.get(user).is_some_and(BTreeSet::is_empty) {
            self.by_user.remove(user);
        }
    }
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
    /// Run `change` on a stored session and keep the indexes in step with it.
    fn modify<R>(&mut self, id: &SessionId, change: impl FnOnce(&mut Session) -> R) -> Option<R> {
        let session = self.sessions.get_mut(id)?;
        self.indexes.remove(session);
        let result = change(session);
        self.indexes.add(session);
        Some(result)
    }

    fn close(&mut self, id: &SessionId, now: DateTime<Utc>, reason: CloseReason) -> bool {
        self.modify(id, |s| s.close(now, reason)).unwrap_or(false)
    }

    fn close_by(
        &mut self,
        id: &SessionId,
        now: DateTime<Utc>,
        reason: CloseReason,
        by: &str,
    ) -> bool {
        self.modify(id, |s| s.close_by(now, reason, by))
            .unwrap_or(false)
    }

    fn insert(&mut self, session: &Session) -> Result<(), StoreError> {
        if self.sessions.contains_key(&session.id) {
            return Err(StoreError::Duplicate(session.id));
        }
        self.indexes.add(session);
        self.sessions.insert(session.id, session.clone());
        Ok(())
    }

    /// The ids of `user_id`'s open sessions.
    fn open_of(&self, user_id: &str) -> Vec<SessionId> {
        let Some(keys) = self.indexes.by_user.get(user_id) else {
            return Vec::new();
        };
        keys.iter()
            .map(|(_, id)| *id)
            .filter(|id| self.sessions.get(id).is_some_and(|s| s.active))
            .collect()
    }

    /// Up to [`BATCH`] open sessions expired at `cutoffs`, with their reasons.
    fn expired_batch(&self, cutoffs: Cutoffs) -> Vec<(SessionId, CloseReason)> {
        // Keys sort newest first, so the idle ones (activity before the cutoff) are the tail.
        let idle_tail = (
            Bound::Excluded((Reverse(cutoffs.idle), SessionId::MAX)),
            Bound::Unbounded,
        );
        let idle = self.indexes.open_by_activity.range(idle_tail).rev();
        let old = cutoffs
            .lifetime
            .map(|cutoff| self.indexes.open_by_age.range(..(cutoff, SessionId::MIN)));
        // The lifetime scan skips what the idle scan covers: when it runs, the idle scan
        // took every idle session without filling the batch.
        let not_idle = |id: &SessionId| {
            self.sessions
                .get(id)
                .is_some_and(|s| s.request_time >= cutoffs.idle)
        };
        idle.map(|(_, id)| id)
            .chain(
                old.into_iter()
                    .flatten()
                    .map(|(_, id)| id)
                    .filter(|id| not_idle(id)),
            )
            .filter_map(|id| {
                let reason = cutoffs.reason(self.sessions.get(id)?)?;
                Some((*id, reason))
            })
            .take(BATCH)
            .collect()
    }

    /// The keys a listing has to look at, newest first, already cut to the time bounds.
    fn candidates<'a>(
        &'a self,
        filter: &SessionFilter,
    ) -> Box<dyn Iterator<Item = &'a SortKey> + 'a> {
        let index = match (&filter.user_id, filter.active) {
            (Some(user), _) => match self.indexes.by_user.get(user) {
                Some(keys) => keys,
                None => return Box::new(std::iter::empty()),
            },
            // Open sessions only: never walks the closed ones, however many there are.
            (None, Some(true)) => &self.indexes.open_by_activity,
            (None, _) => &self.indexes.order,
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
        self.write().insert(session)
    }

    async fn insert_limited(
        &self,
        session: &Session,
        limit: UserLimit,
        cutoffs: Cutoffs,
    ) -> Result<Admission, StoreError> {
        let now = session.open_time;
        let mut inner = self.write();
        let mut open = Vec::new();
        let mut expired = Vec::new();
        for id in inner.open_of(&session.user_id) {
            match inner.sessions.get(&id).and_then(|s| cutoffs.reason(s)) {
                Some(reason) => {
                    inner.close(&id, now, reason);
                    let user_id = session.user_id.clone();
                    expired.push(Closed {
                        id,
                        user_id,
                        reason,
                    });
                }
                None => open.push(id),
            }
        }
        if open.len() >= limit.max && limit.policy == LimitPolicy::Deny {
            return Ok(Admission::Denied { expired });
        }
        let excess = (open.len() + 1).saturating_sub(limit.max);
        let mut oldest: Vec<(DateTime<Utc>, SessionId)> = open
            .iter()
            .filter_map(|id| inner.sessions.get(id).map(|s| (s.request_time, s.id)))
            .collect();
        oldest.sort_unstable();
        let evicted: Vec<SessionId> = oldest.into_iter().take(excess).map(|(_, id)| id).collect();
        inner.insert(session)?;
        for id in &evicted {
            inner.close(id, now, CloseReason::Evicted);
        }
        Ok(Admission::Opened { evicted, expired })
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
        cutoffs: Cutoffs,
    ) -> Result<Option<Session>, StoreError> {
        let mut inner = self.write();
        let open = inner
            .sessions
            .get(id)
            .is_some_and(|s| s.active && cutoffs.reason(s).is_none());
        if !open {
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
        reason: CloseReason,
        by: &str,
    ) -> Result<Option<Closing>, StoreError> {
        Ok(self.write().modify(id, |s| {
            let closed_now = s.active;
            s.close_by(now, reason, by);
            Closing {
                session: s.clone(),
                closed_now,
            }
        }))
    }

    async fn close_if_expired(
        &self,
        id: &SessionId,
        now: DateTime<Utc>,
        cutoffs: Cutoffs,
    ) -> Result<bool, StoreError> {
        let mut inner = self.write();
        let reason = inner.sessions.get(id).and_then(|s| cutoffs.reason(s));
        Ok(reason.is_some_and(|reason| inner.close(id, now, reason)))
    }

    async fn close_expired(
        &self,
        cutoffs: Cutoffs,
        now: DateTime<Utc>,
    ) -> Result<Vec<Closed>, StoreError> {
        // A batch at a time, yielding between batches, so a large expiry never holds the
        // write lock or the worker thread for long. The indexes hold open sessions only, so
        // each batch costs the same however many sessions are closed.
        let mut closed = Vec::new();
        loop {
            let done = {
                let mut inner = self.write();
                let batch = inner.expired_batch(cutoffs);
                for &(id, reason) in &batch {
                    inner.close(&id, now, reason);
                    if let Some(session) = inner.sessions.get(&id) {
                        let user_id = session.user_id.clone();
                        closed.push(Closed {
                            id,
                            user_id,
                            reason,
                        });
                    }
                }
                batch.len() < BATCH
            };
            if done {
                return Ok(closed);
            }
            tokio::task::yield_now().await;
        }
    }

    async fn close_user(
        &self,
        user_id: &str,
        except: Option<SessionId>,
        now: DateTime<Utc>,
        by: &str,
    ) -> Result<Vec<Closed>, StoreError> {
        // One hold of the write lock: an open of this user happens wholly before or after.
        let mut inner = self.write();
        let mut closed = Vec::new();
        for id in inner.open_of(user_id) {
            if Some(id) != except && inner.close_by(&id, now, CloseReason::Revoked, by) {
                let (user_id, reason) = (user_id.to_owned(), CloseReason::Revoked);
                closed.push(Closed {
                    id,
                    user_id,
                    reason,
                });
            }
        }
        Ok(closed)
    }

    async fn get_by_token(&self, hash: &TokenHash) -> Result<Option<Session>, StoreError> {
        let inner = self.read();
        let id = inner.indexes.by_token.get(hash);
        Ok(id.and_then(|id| inner.sessions.get(id)).cloned())
    }

    async fn set_token(
        &self,
        id: &SessionId,
        hash: &TokenHash,
    ) -> Result<Option<Session>, StoreError> {
        let mut inner = self.write();
        if !inner.sessions.get(id).is_some_and(|s| s.active) {
            return Ok(None);
        }
        Ok(inner.modify(id, |s| {
            s.token_hash = Some(*hash);
            s.clone()
        }))
    }

    async fn purge_closed(
        &self,
        closed_before: DateTime<Utc>,
        max: usize,
    ) -> Result<u64, StoreError> {
        let mut inner = self.write();
        let ids: Vec<SessionId> = inner
            .indexes
            .closed_by_time
            .range(..(closed_before, SessionId::MIN))
            .take(max)
            .map(|(_, id)| *id)
            .collect();
        for id in &ids {
            if let Some(session) = inner.sessions.remove(id) {
                inner.indexes.remove(&session);
                inner.indexes.prune(&session.user_id);
            }
        }
        Ok(ids.len() as u64)
    }

    async fn delete(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let mut inner = self.write();
        let Some(session) = inner.sessions.remove(id) else {
            return Ok(None);
        };
        inner.indexes.remove(&session);
        inner.indexes.prune(&session.user_id);
        Ok(Some(session))
    }

    async fn counts(&self) -> Result<SessionCounts, StoreError> {
        let inner = self.read();
        Ok(SessionCounts {
            active: inner.indexes.active,
            total: inner.sessions.len() as u64,
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
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

    /// Cutoffs with no max lifetime and activity before `ms` counted idle.
    fn idle_before(ms: i64) -> Cutoffs {
        Cutoffs {
            idle: at(ms),
            lifetime: None,
        }
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
        assert_eq!(inner.indexes.order, current);
        for (user, keys) in &inner.indexes.by_user {
            assert!(!keys.is_empty(), "empty index left for {user}");
            for key in keys {
                let session = &inner.sessions[&key.1];
                assert_eq!((&session.user_id, session.sort_key()), (user, *key));
            }
        }
        let indexed: usize = inner.indexes.by_user.values().map(BTreeSet::len).sum();
        assert_eq!(indexed, inner.sessions.len());
        let active = inner.sessions.values().filter(|s| s.active).count() as u64;
        assert_eq!(inner.indexes.active, active);
        let open = || inner.sessions.values().filter(|s| s.active);
        let by_activity: BTreeSet<SortKey> = open().map(Session::sort_key).collect();
        let by_age: BTreeSet<TimeKey> = open().map(|s| (s.open_time, s.id)).collect();
        let closed: BTreeSet<TimeKey> = inner
            .sessions
            .values()
            .filter_map(|s| Some((s.close_time?, s.id)))
            .collect();
        assert_eq!(inner.indexes.open_by_activity, by_activity);
        assert_eq!(inner.indexes.open_by_age, by_age);
        assert_eq!(inner.indexes.closed_by_time, closed);
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
                .update_open(&id, change, at(100 + round as i64), idle_before(0))
                .await
                .expect("updates");
            assert_indexes_match(&store);
        }
        store
            .close(&sessions[0].id, at(200), CloseReason::Logout, "anonymous")
            .await
            .expect("closes");
        assert_indexes_match(&store);
        let expired = store
            .close_expired(idle_before(127), at(300))
            .await
            .expect("expires")
            .len();
        assert_indexes_match(&store);
        for bob in [1, 3, 5] {
            store.delete(&sessions[bob].id).await.expect("deletes");
            assert_indexes_match(&store);
        }

        // Rounds 24..=29 last touched sessions 0..=5 at 124..=129; session 0 was closed since,
        // so only those at 125 and 126 are before the cutoff and still open.
        assert_eq!(expired, 2);
        assert!(!store.read().indexes.by_user.contains_key("bob"));
        assert_eq!(store.read().indexes.order.len(), 3);
    }

    /// The sizes of the expiry indexes (open by activity, open by age) and of the retention
    /// index (closed by close time).
    fn index_sizes(store: &MemoryStore) -> (usize, usize, usize) {
        let inner = store.read();
        let indexes = &inner.indexes;
        (
            indexes.open_by_activity.len(),
            indexes.open_by_age.len(),
            indexes.closed_by_time.len(),
        )
    }

    #[tokio::test]
    async fn expiry_reads_only_open_sessions_and_retention_only_closed_ones() {
        // 10,000 sessions closed long ago, among 10 open ones: 3 idle, 3 past a max lifetime
        // though active, 4 fresh.
        let store = MemoryStore::new();
        let mut old_closed = Vec::new();
        for n in 0..10_000 {
            let s = session(&format!("user{}", n % 10), n);
            store.insert(&s).await.expect("inserts");
            store
                .close(&s.id, at(n), CloseReason::Logout, "anonymous")
                .await
                .expect("closes");
            old_closed.push(s.id);
        }
        let idle: Vec<Session> = (0..3).map(|_| session("alice", 20_000)).collect();
        let old: Vec<Session> = (0..3).map(|_| session("alice", 20_000)).collect();
        let fresh: Vec<Session> = (0..4).map(|_| session("bob", 50_000)).collect();
        for s in idle.iter().chain(&old).chain(&fresh) {
            store.insert(s).await.expect("inserts");
        }
        for s in &old {
            let change = SessionChange::Touch;
            store
                .update_open(&s.id, change, at(50_000), idle_before(0))
                .await
                .expect("touches");
        }
        let before = index_sizes(&store);
        let cutoffs = Cutoffs {
            idle: at(40_000),
            lifetime: Some(at(30_000)),
        };

        let expired = store
            .close_expired(cutoffs, at(60_000))
            .await
            .expect("expires")
            .len();
        let after_expiry = index_sizes(&store);
        assert_indexes_match(&store);
        let purged = store
            .purge_closed(at(55_000), usize::MAX)
            .await
            .expect("purges");

        // The expiry scans hold the open sessions only, so closed ones cost them nothing; the
        // retention index holds the closed ones only.
        assert_eq!(before, (10, 10, 10_000));
        assert_eq!(expired, 6);
        assert_eq!(after_expiry, (4, 4, 10_006));
        let reason = |id| store.read().sessions[&id].close_reason;
        for s in &idle {
            assert_eq!(reason(s.id), Some(CloseReason::IdleTimeout));
        }
        for s in &old {
            assert_eq!(reason(s.id), Some(CloseReason::MaxLifetime));
        }
        // Only the sessions closed before the cutoff went; the open ones, opened before it
        // too, and the ones closed after it stay.
        assert_eq!(purged, 10_000);
        assert_eq!(index_sizes(&store), (4, 4, 6));
        assert_indexes_match(&store);
        let inner = store.read();
        assert!(old_closed.iter().all(|id| !inner.sessions.contains_key(id)));
        assert!(fresh.iter().all(|s| inner.sessions[&s.id].active));
        assert_eq!(inner.sessions.len(), 10);
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
        assert!(!store.read().indexes.by_user.contains_key("bob"));
    }

    #[tokio::test]
    async fn expiry_larger_than_one_batch_closes_every_expired_session_once() {
        let store = MemoryStore::new();
        let count = BATCH * 2 + 7;
        let mut sampled = Vec::new();
        for n in 0..count {
            let s = session("u", n as i64);
            store.insert(&s).await.expect("inserts");
            // Old sessions closed long ago sit among the expired ones and must be skipped.
            if n % 3 == 0 {
                store
                    .close(&s.id, at(n as i64), CloseReason::Logout, "anonymous")
                    .await
                    .expect("closes");
            }
            if n % 5 == 0 {
                sampled.push(s.id);
            }
        }
        let fresh = session("u", 10_000_000);
        store.insert(&fresh).await.expect("inserts");
        let open_before = store.counts().await.expect("counts").active;

        let closed = store
            .close_expired(idle_before(count as i64), at(20_000_000))
            .await
            .expect("expires")
            .len();

        assert_eq!(closed as u64, open_before - 1);
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
