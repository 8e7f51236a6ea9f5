//! Criterion benches of the controller over each store: open, get by id, store data, list
//! by user, and close-expired over 100 000 sessions.
//!
//! Run: `cargo bench --bench store` (add `-- memory` to run one store's benches only).
//! Medians go in the README's store table.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use sessions::clock::ManualClock;
use sessions::{
    ControllerOptions, MemoryStore, NewSession, Paging, SessionFilter, SessionId, SessionStore,
    SessionsController,
};
use tokio::runtime::Runtime;

/// Sessions in the populated store.
const POPULATION: usize = 100_000;
/// Sessions per user in the populated store (so 2 000 users).
const PER_USER: usize = 50;

/// Makes an empty store (on the given runtime, for stores that connect asynchronously).
type MakeStore = Box<dyn Fn(&Runtime) -> Arc<dyn SessionStore>>;

/// A store to benchmark: its name and how to make an empty one.
struct Target {
    name: &'static str,
    make: MakeStore,
}

fn targets() -> Vec<Target> {
    vec![Target {
        name: "memory",
        make: Box::new(|_| Arc::new(MemoryStore::new())),
    }]
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

fn new_session(user: usize) -> NewSession {
    NewSession {
        user_id: format!("user-{user}"),
        user_name: Some(format!("User {user}")),
        address: Some("127.0.0.1".into()),
        client: Some("bench".into()),
        user: Some(json!({ "id": user, "roles": ["reader"] })),
        data: Some(json!({ "cart": [1, 2, 3] })),
    }
}

/// Open `POPULATION` sessions, `PER_USER` per user, one millisecond apart; returns their ids.
async fn populate(controller: &SessionsController, clock: &ManualClock) -> Vec<SessionId> {
    let mut ids = Vec::with_capacity(POPULATION);
    for n in 0..POPULATION {
        clock.advance(TimeDelta::milliseconds(1));
        let session = controller
            .open(new_session(n % (POPULATION / PER_USER)))
            .await;
        ids.push(session.expect("open succeeds").id);
    }
    ids
}

fn benches(c: &mut Criterion) {
    let rt = Runtime::new().expect("tokio runtime");
    for target in targets() {
        let mut group = c.benchmark_group(target.name);
        let (controller, clock) = controller_over((target.make)(&rt));
        let ids = rt.block_on(populate(&controller, &clock));

        group.bench_function("open", |b| {
            b.to_async(&rt)
                .iter(|| controller.open(black_box(new_session(7))));
        });
        group.bench_function("get_by_id", |b| {
            let mut next = ids.iter().cycle();
            b.to_async(&rt)
                .iter(|| controller.get(next.next().expect("cycle never ends")));
        });
        group.bench_function("store_data", |b| {
            let mut next = ids.iter().cycle();
            b.to_async(&rt).iter(|| {
                let id = next.next().expect("cycle never ends");
                controller.store_data(id, Some(json!({ "step": 1 })))
            });
        });
        group.bench_function("list_by_user_page_of_20", |b| {
            let filter = SessionFilter {
                user_id: Some("user-42".into()),
                ..SessionFilter::default()
            };
            let paging = Paging {
                skip: Some(10),
                take: Some(20),
                total: true,
            };
            b.to_async(&rt).iter(|| controller.list(&filter, paging));
        });
        group.sample_size(10);
        group.bench_function("close_expired_100k", |b| {
            b.to_async(&rt).iter_custom(|iterations| {
                let make = &target.make;
                let rt = &rt;
                async move {
                    let mut measured = Duration::ZERO;
                    for _ in 0..iterations {
                        // A fresh store each time: closing is not repeatable.
                        let (controller, clock) = controller_over(make(rt));
                        populate(&controller, &clock).await;
                        clock.advance(TimeDelta::hours(2));
                        let started = Instant::now();
                        let closed = controller.close_expired().await.expect("close expired");
                        measured += started.elapsed();
                        assert_eq!(closed as usize, POPULATION);
                    }
                    measured
                }
            });
        });
        group.finish();
    }
}

criterion_group!(store, benches);
criterion_main!(store);
