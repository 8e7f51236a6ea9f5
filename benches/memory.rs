//! The memory store's hot paths at the scale of a million sessions, on the store itself (no
//! controller), so that a regression in its own work shows: get by id, open (insert) and
//! one batch of expiry closes. Sessions have the shape `scale.py` opens (userName, address,
//! client, a 3-field `user` and a 2-field `data`; 10 per user).
//!
//! Run: `cargo bench --bench memory`. Loading the million sessions takes a few seconds.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use serde_json::json;
use sessions::model::{Cutoffs, NewSession, TokenHash, truncate_to_millis};
use sessions::{MemoryStore, Session, SessionId, SessionStore};
use tokio::runtime::Runtime;

/// Sessions in the store.
const SESSIONS: usize = 1_000_000;
/// Sessions per user.
const PER_USER: usize = 10;
/// Sessions closed by one `close_expired` in `close_expired_256`: as many as opened in one
/// millisecond of the loaded sessions' times.
const CLOSED_PER_ITERATION: usize = 256;

/// A session of user `n`, opened at `at`, as `scale.py` opens them.
fn scale_session(n: usize, at: DateTime<Utc>) -> Session {
    let new = NewSession {
        user_id: format!("u-scale-{}", n / PER_USER),
        user_name: Some("Bench User".into()),
        address: Some("127.0.0.1".into()),
        client: Some("wrk".into()),
        user: Some(json!({"id": "u-bench", "name": "Bench User", "roles": ["user"]})),
        data: Some(json!({"theme": "dark", "counter": 1})),
    };
    Session {
        token_hash: Some(TokenHash::of(&format!("token-{n}"))),
        ..Session::open(SessionId::random(), new, at)
    }
}

/// The memory store's benches at a million sessions.
fn bench(c: &mut Criterion) {
    let rt = &Runtime::new().expect("tokio runtime");
    let mut group = c.benchmark_group("memory_1m");
    let store = &MemoryStore::new();
    let start = truncate_to_millis(Utc::now());
    let mut ids = Vec::with_capacity(SESSIONS);
    // The longest single insert while the store grows: a growth step that rehashes or
    // copies much of the store shows here (it is what a request waits for behind the lock).
    let (mut longest, mut over_1ms) = (Duration::ZERO, 0);
    rt.block_on(async {
        for n in 0..SESSIONS {
            let session = scale_session(n, start + TimeDelta::milliseconds((n / 256) as i64));
            ids.push(session.id);
            let started = Instant::now();
            store.insert(&session).await.expect("inserts");
            let took = started.elapsed();
            longest = longest.max(took);
            over_1ms += usize::from(took > Duration::from_millis(1));
        }
    });
    println!("loading {SESSIONS} sessions: longest insert {longest:?}, {over_1ms} over 1 ms");
    // Ids in a scattered order, so each get misses the cache as a real one would.
    let mut order: Vec<usize> = (0..SESSIONS).map(|n| n * 7_919 % SESSIONS).collect();
    order.dedup();

    group.bench_function("get_by_id", |b| {
        let mut next = order.iter().cycle();
        b.to_async(rt).iter(|| {
            let id = &ids[*next.next().expect("cycle never ends")];
            async move { black_box(store.get(id).await.expect("gets")) }
        });
    });
    // Counters outside the bench closures: criterion calls each closure again for every
    // sample, and the sessions opened or closed before must stay counted.
    let mut n = SESSIONS;
    group.bench_function("open", |b| {
        let now = start + TimeDelta::hours(1);
        b.to_async(rt).iter(|| {
            n += 1;
            let session = scale_session(n, now);
            async move { store.insert(&session).await.expect("inserts") }
        });
    });

    group
        .sample_size(20)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1));
    // Each iteration closes the 256 oldest open sessions, as one batch of expiry does.
    let mut closed = 0usize;
    group.bench_function("close_expired_256", |b| {
        b.to_async(rt).iter_custom(|iterations| {
            let mut measured = Duration::ZERO;
            let rounds: Vec<usize> = (0..iterations)
                .map(|_| {
                    closed += CLOSED_PER_ITERATION;
                    closed
                })
                .collect();
            async move {
                for closed in rounds {
                    // Session n was active at start + n/256 ms: 256 more are idle each round.
                    let idle = start + TimeDelta::milliseconds((closed / 256) as i64);
                    let cutoffs = Cutoffs {
                        idle,
                        lifetime: None,
                    };
                    let now = start + TimeDelta::hours(2);
                    let started = Instant::now();
                    let closed = store.close_expired(cutoffs, now).await.expect("closes");
                    measured += started.elapsed();
                    black_box(closed);
                }
                measured
            }
        });
    });
    group.finish();
}

criterion_group!(memory, bench);
criterion_main!(memory);
