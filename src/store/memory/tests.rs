//! Index invariants listings cannot show: a stale key of a deleted session is skipped by
//! `list`, and an empty per-user set is invisible, yet both would leak memory.

use std::collections::{BTreeSet, HashMap};

use serde_json::json;

use super::inner::TimeKey;
use super::*;
use crate::model::{NewSession, SortKey};

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
    Session {
        token_hash: Some(TokenHash::of(&format!("{user}{ms}{}", SessionId::random()))),
        ..Session::open(SessionId::random(), new, at(ms))
    }
}

/// Every stored session, as `get` reads it.
fn sessions(store: &MemoryStore) -> Vec<Session> {
    let inner = store.read();
    inner
        .records
        .values()
        .map(|r| inner.full(r).expect("reads"))
        .collect()
}

/// Each index holds exactly the current key of each stored session, no user is kept
/// without sessions, and the active counter matches.
#[track_caller]
fn assert_indexes_match(store: &MemoryStore) {
    let all = sessions(store);
    let inner = store.read();
    let indexes = &inner.indexes;
    assert_eq!(inner.slots.len(), all.len());
    for s in &all {
        assert_eq!(inner.record(&s.id).map(|r| r.id), Some(s.id));
    }
    let keys = |active: bool| -> BTreeSet<SortKey> {
        all.iter()
            .filter(|s| s.active == active)
            .map(Session::sort_key)
            .collect()
    };
    assert_eq!(indexes.open, keys(true));
    assert_eq!(indexes.closed, keys(false));
    let by_age: BTreeSet<TimeKey> = all
        .iter()
        .filter(|s| s.active)
        .map(|s| (s.open_time, s.id))
        .collect();
    assert_eq!(indexes.open_by_age, by_age);
    let apart: BTreeSet<TimeKey> = all
        .iter()
        .filter(|s| !s.active && s.close_time.is_some_and(|c| c != s.request_time))
        .filter_map(|s| Some((s.close_time?, s.id)))
        .collect();
    assert_eq!(indexes.closed_apart, apart);
    assert_eq!(
        indexes.active,
        all.iter().filter(|s| s.active).count() as u64
    );
    let tokens: HashMap<TokenHash, SessionId> = all
        .iter()
        .filter_map(|s| Some((s.token_hash?, s.id)))
        .collect();
    assert_eq!(indexes.tokens.len(), tokens.len());
    for (hash, slot) in indexes.tokens.iter() {
        assert_eq!(
            inner.records.get(*slot).map(|r| r.id),
            tokens.get(hash).copied()
        );
    }
    let mut per_user: HashMap<&str, (BTreeSet<SortKey>, BTreeSet<SortKey>)> = HashMap::new();
    for s in &all {
        let (open, closed) = per_user.entry(&s.user_id).or_default();
        (if s.active { open } else { closed }).insert(s.sort_key());
    }
    assert_eq!(
        indexes.users.len(),
        per_user.len(),
        "users kept without sessions"
    );
    for user in indexes.users.iter() {
        let (open, closed) = &per_user[&*user.id];
        assert_eq!((&user.open, &user.closed), (open, closed), "{}", user.id);
    }
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
        .set_token(&sessions[2].id, &TokenHash::of("new"))
        .await
        .expect("sets the token");
    assert_indexes_match(&store);
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
    assert!(store.read().indexes.users.find("bob").is_none());
    assert_eq!(store.counts().await.expect("counts").total, 3);
    let found = store
        .get_by_token(&TokenHash::of("new"))
        .await
        .expect("finds");
    assert_eq!(found.map(|s| s.id), Some(sessions[2].id));
}

/// The sizes of the expiry indexes (open by activity, open by age) and of the retention
/// index (closed sessions).
fn index_sizes(store: &MemoryStore) -> (usize, usize, usize) {
    let inner = store.read();
    let indexes = &inner.indexes;
    (
        indexes.open.len(),
        indexes.open_by_age.len(),
        indexes.closed.len(),
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
    let reason = |id| store.read().record(&id).and_then(|r| r.close_reason);
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
    assert!(old_closed.iter().all(|id| inner.record(id).is_none()));
    assert!(
        fresh
            .iter()
            .all(|s| inner.record(&s.id).is_some_and(|r| r.active))
    );
    assert_eq!(inner.records.len(), 10);
}

#[tokio::test]
async fn retention_finds_sessions_inserted_closed_at_another_time_than_their_activity() {
    let store = MemoryStore::new();
    let mut apart = session("alice", 1_000);
    apart.close(at(2_000), CloseReason::Logout);
    apart.request_time = at(1_500);
    let mut ordinary = session("alice", 1_000);
    ordinary.close(at(3_000), CloseReason::Logout);
    let mut never = session("alice", 1_000);
    never.active = false;
    let open = session("alice", 1_000);
    for s in [&apart, &ordinary, &never, &open] {
        store.insert(s).await.expect("inserts");
    }
    assert_indexes_match(&store);

    // Closed at 2,000 though last active at 1,500: not due before 2,000, due after; oldest
    // first, then the one closed at 3,000. A closed session without a close time never is.
    assert_eq!(store.purge_closed(at(2_000), 10).await.expect("purges"), 0);
    assert_eq!(store.purge_closed(at(5_000), 1).await.expect("purges"), 1);
    assert!(store.get(&apart.id).await.expect("gets").is_none());
    assert_eq!(store.purge_closed(at(5_000), 10).await.expect("purges"), 1);
    assert_indexes_match(&store);
    let left: BTreeSet<SessionId> = sessions(&store).iter().map(|s| s.id).collect();
    assert_eq!(left, BTreeSet::from([never.id, open.id]));
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
    assert!(store.read().indexes.users.find("bob").is_none());
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
        .expect("expires");

    assert_eq!(closed.len() as u64, open_before - 1);
    let unique: BTreeSet<SessionId> = closed.iter().map(|c| c.id).collect();
    assert_eq!(unique.len(), closed.len());
    assert!(closed.iter().all(|c| c.user_id == "u"));
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

#[tokio::test]
async fn listings_merge_open_and_closed_sessions_in_listing_order() {
    let store = MemoryStore::new();
    let mut all = Vec::new();
    for n in 0..40 {
        // Pairs share a time, so ties (broken by id) come up.
        let s = session(if n % 2 == 0 { "alice" } else { "bob" }, n / 2);
        store.insert(&s).await.expect("inserts");
        if n % 3 == 0 {
            store
                .close(&s.id, at(n / 2), CloseReason::Logout, "anonymous")
                .await
                .expect("closes");
        }
        all.push(s.id);
    }
    let stored = sessions(&store);
    for user in [None, Some("alice")] {
        for active in [None, Some(true), Some(false)] {
            let filter = SessionFilter {
                user_id: user.map(str::to_owned),
                active,
                from_time: Some(at(3)),
                to_time: Some(at(17)),
                ..SessionFilter::default()
            };
            let mut expected: Vec<&Session> = stored.iter().filter(|s| filter.matches(s)).collect();
            expected.sort_by_key(|s| s.sort_key());
            let page = PageRequest {
                skip: 2,
                take: 5,
                total: true,
            };
            let listed = store.list(&filter, &page).await.expect("lists");
            let ids: Vec<SessionId> = listed.data.iter().map(|s| s.id).collect();
            let want: Vec<SessionId> = expected.iter().skip(2).take(5).map(|s| s.id).collect();
            assert_eq!(ids, want, "{user:?} {active:?}");
            assert_eq!(
                listed.total,
                Some(expected.len() as u64),
                "{user:?} {active:?}"
            );
        }
    }
}
