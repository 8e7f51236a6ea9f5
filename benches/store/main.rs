//! Criterion benches of the controller over each store: open, get by id, store data, list
//! by user, and close-expired over 100 000 sessions; and the cleanup at the scale of a
//! million sessions (`lifecycle`).
//!
//! The `*_64_concurrent` benches run 64 writes at once (as 64 HTTP clients would) and report
//! the time per write: on SQLite they show what committing concurrent writes together saves.
//!
//! Run: `cargo bench --bench store` (add `-- memory` to run one store's benches only). The
//! PostgreSQL benches run when `SESSIONS_BENCH_DATABASE_URL` (or `SESSIONS_TEST_DATABASE_URL`)
//! names a database where the role may create schemas; each store gets a schema of its own.
//! Medians go in the README's "Benchmarks" table.

mod backends;
mod lifecycle;

use std::cell::OnceCell;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use futures::future::join_all;
use serde_json::json;
use sessions::clock::{Clock, ManualClock};
use sessions::model::truncate_to_millis;
use sessions::{
    ControllerOptions, NewSession, Paging, Session, SessionFilter, SessionId, SessionStore,
    SessionsController,
};
use tokio::runtime::Runtime;

use backends::{Backend, Fresh};

/// Sessions in the populated store.
const POPULATION: usize = 100_000;
/// Sessions per user in the populated store.
const PER_USER: usize = 50;
/// Users in the populated store.
const USERS: usize = POPULATION / PER_USER;
/// Clients writing at once in the concurrent benches.
const CONCURRENT: usize = 64;
/// The user whose sessions are listed.
const LISTED_USER: &str = "user-42";

/// A store of one backend holding the population, and a controller over it.
struct Populated {
    fresh: Fresh,
    controller: SessionsController,
    clock: Arc<ManualClock>,
    ids: Vec<SessionId>,
}

impl Populated {
    /// A fresh store of `backend` with `POPULATION` sessions, checked through the controller.
    async fn new(backend: &Backend) -> Self {
        let fresh = backend.fresh().await;
        let (controller, clock) = controller_over(fresh.store.clone());
        let sessions = population(&clock);
        fresh.load(&sessions).await;
        check(&controller, &sessions).await;
        let ids = sessions.iter().map(|s| s.id).collect();
        Self {
            fresh,
            controller,
            clock,
            ids,
        }
    }

    async fn discard(self) {
        drop(self.controller);
        self.fresh.discard().await;
    }
}

/// A controller over `store` whose clock only moves when the bench moves it.
fn controller_over(store: Arc<dyn SessionStore>) -> (SessionsController, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let options = ControllerOptions {
        expire_timeout: Duration::from_secs(3600),
        ..ControllerOptions::default()
    };
    (
        SessionsController::with_clock(store, options, clock.clone()),
        clock,
    )
}

pub(crate) fn new_session(user: usize) -> NewSession {
    NewSession {
        user_id: format!("user-{user}"),
        user_name: Some(format!("User {user}")),
        address: Some("127.0.0.1".into()),
        client: Some("bench".into()),
        user: Some(json!({ "id": user, "roles": ["reader"] })),
        data: Some(json!({ "cart": [1, 2, 3] })),
    }
}

/// `POPULATION` sessions as the controller would open them, `PER_USER` for each of `USERS`
/// users, one millisecond apart; leaves `clock` at the last one.
fn population(clock: &ManualClock) -> Vec<Session> {
    (0..POPULATION)
        .map(|n| {
            clock.advance(TimeDelta::milliseconds(1));
            let now = truncate_to_millis(clock.now());
            Session::open(SessionId::random(), new_session(n % USERS), now)
        })
        .collect()
}

fn by_user(user: &str) -> SessionFilter {
    SessionFilter {
        user_id: Some(user.into()),
        ..SessionFilter::default()
    }
}

/// The store gives back the loaded sessions as they were, and lists a user's 50 newest first.
async fn check(controller: &SessionsController, sessions: &[Session]) {
    for session in [&sessions[0], &sessions[POPULATION - 1]] {
        let stored = controller.get(&session.id).await.expect("get succeeds");
        assert_eq!(stored.as_ref(), Some(session), "read back as loaded");
    }
    let paging = Paging {
        skip: None,
        take: Some(100),
        total: true,
    };
    let page = controller.list(&by_user(LISTED_USER), paging).await;
    let page = page.expect("list succeeds");
    let listed: Vec<SessionId> = page.data.iter().map(|s| s.id).collect();
    let newest_first = sessions.iter().rev();
    let expected: Vec<SessionId> = newest_first
        .filter(|s| s.user_id == LISTED_USER)
        .map(|s| s.id)
        .collect();
    assert_eq!(page.total, Some(PER_USER as u64));
    assert_eq!(listed, expected);
}

/// Close every session of a freshly populated store, two hours on; times only the closing.
async fn close_all_expired(backend: &Backend) -> Duration {
    let populated = Populated::new(backend).await;
    populated.clock.advance(TimeDelta::hours(2));
    let started = Instant::now();
    let closed = populated.controller.close_expired().await;
    let elapsed = started.elapsed();
    assert_eq!(closed.expect("close expired"), POPULATION as u64);
    populated.discard().await;
    elapsed
}

fn benches(c: &mut Criterion) {
    let rt = Runtime::new().expect("tokio runtime");
    for backend in Backend::all() {
        bench_backend(c, &rt, &backend);
    }
}

fn bench_backend(c: &mut Criterion, rt: &Runtime, backend: &Backend) {
    let mut group = c.benchmark_group(backend.name());
    // Populated on first use, so a backend whose benches are filtered out costs nothing.
    let shared = OnceCell::new();
    let populated = || shared.get_or_init(|| rt.block_on(Populated::new(backend)));

    group.bench_function("get_by_id", |b| {
        let Populated {
            controller, ids, ..
        } = populated();
        let mut next = ids.iter().cycle();
        b.to_async(rt)
            .iter(|| controller.get(next.next().expect("cycle never ends")));
    });
    group.bench_function("store_data", |b| {
        let Populated {
            controller, ids, ..
        } = populated();
        let mut next = ids.iter().cycle();
        b.to_async(rt).iter(|| {
            let id = next.next().expect("cycle never ends");
            controller.store_data(id, Some(json!({ "step": 1 })))
        });
    });
    // 64 clients at once, as over HTTP: what group commit is for. One iteration is all 64
    // writes answered; criterion reports it per write (`Throughput::Elements`).
    group.throughput(Throughput::Elements(CONCURRENT as u64));
    group.bench_function("store_data_64_concurrent", |b| {
        let Populated {
            controller, ids, ..
        } = populated();
        let mut next = ids.chunks(CONCURRENT).cycle();
        b.to_async(rt).iter(|| {
            let chunk = next.next().expect("cycle never ends");
            join_all(
                chunk
                    .iter()
                    .map(|id| controller.store_data(id, Some(json!({ "step": 1 })))),
            )
        });
    });
    group.bench_function("open_64_concurrent", |b| {
        let controller = &populated().controller;
        b.to_async(rt)
            .iter(|| join_all((0..CONCURRENT).map(|n| controller.open(black_box(new_session(n))))));
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("list_by_user_page_of_20", |b| {
        let controller = &populated().controller;
        let filter = by_user(LISTED_USER);
        let paging = Paging {
            skip: Some(10),
            take: Some(20),
            total: true,
        };
        b.to_async(rt).iter(|| controller.list(&filter, paging));
    });
    // Last on the shared store, as it grows the store (by a million sessions on memory).
    group.bench_function("open", |b| {
        let controller = &populated().controller;
        b.to_async(rt)
            .iter(|| controller.open(black_box(new_session(7))));
    });
    if let Some(populated) = shared.into_inner() {
        rt.block_on(populated.discard());
    }

    // Each iteration loads a fresh store (seconds on SQL stores), and only the closing counts:
    // ten samples of one or two iterations each. Criterion warns that they take longer than
    // the 1 s asked for; that is expected.
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(1));
    group.bench_function("close_expired_100k", |b| {
        b.to_async(rt).iter_custom(|iterations| async move {
            let mut measured = Duration::ZERO;
            for _ in 0..iterations {
                measured += close_all_expired(backend).await;
            }
            measured
        });
    });
    group.finish();

    let mut group = c.benchmark_group(format!("{}/lifecycle_1m", backend.name()));
    lifecycle::bench(&mut group, rt, backend);
    group.finish();
}

criterion_group!(store, benches);
criterion_main!(store);
