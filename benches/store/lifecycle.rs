//! The cleanup at scale: `close_expired` and the retention purge over a store of 1,000,000
//! sessions of which 900,000 are closed. Their cost must follow the sessions they act on,
//! not the closed ones they skip: compare `close_expired_100k_among_900k_closed` with the
//! plain `close_expired_100k`, and the `nothing_due` runs (a cleanup with nothing to do)
//! with zero.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use criterion::{BenchmarkGroup, SamplingMode, measurement::WallTime};
use sessions::clock::{Clock, ManualClock};
use sessions::model::{CloseReason, truncate_to_millis};
use sessions::{ControllerOptions, Paging, Session, SessionFilter, SessionId, SessionsController};
use tokio::runtime::Runtime;

use crate::backends::{Backend, Fresh};
use crate::new_session;

/// Closed sessions in the store.
const CLOSED: usize = 900_000;
/// Open sessions that expire (or closed ones that come due) per iteration.
const ACTED_ON: usize = 100_000;
/// How long closed sessions are kept.
const RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// A store holding `CLOSED` closed sessions, closed within the retention.
struct Scaled {
    fresh: Fresh,
    controller: SessionsController,
    clock: Arc<ManualClock>,
}

impl Scaled {
    async fn new(backend: &Backend) -> Self {
        let fresh = backend.fresh().await;
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let options = ControllerOptions {
            expire_timeout: Duration::from_secs(3600),
            retention: Some(RETENTION),
            ..ControllerOptions::default()
        };
        let controller =
            SessionsController::with_clock(fresh.store.clone(), options, clock.clone());
        let scaled = Self {
            fresh,
            controller,
            clock,
        };
        scaled.load(CLOSED, Some(TimeDelta::zero())).await;
        scaled
    }

    /// Add `n` sessions opened now: open, or closed `closed_ago` before now.
    async fn load(&self, n: usize, closed_ago: Option<TimeDelta>) {
        let now = truncate_to_millis(self.clock.now());
        // A closed session opened and closed at the same moment, `closed_ago` before now.
        let at = closed_ago.map_or(now, |ago| now - ago);
        let sessions: Vec<Session> = (0..n)
            .map(|i| {
                let mut session = Session::open(SessionId::random(), new_session(i % 10_000), at);
                if closed_ago.is_some() {
                    session.close(at, CloseReason::Logout);
                }
                session
            })
            .collect();
        self.fresh.load(&sessions).await;
    }
}

/// Time `run` over `iterations` fresh rounds, each prepared (untimed) by `prepare`.
async fn timed<P, R>(iterations: u64, mut prepare: P, mut run: R) -> Duration
where
    P: AsyncFnMut(),
    R: AsyncFnMut() -> u64,
{
    let mut measured = Duration::ZERO;
    for _ in 0..iterations {
        prepare().await;
        let started = Instant::now();
        std::hint::black_box(run().await);
        measured += started.elapsed();
    }
    measured
}

/// The lifecycle benches of one backend, in `group`.
pub fn bench(group: &mut BenchmarkGroup<'_, WallTime>, rt: &Runtime, backend: &Backend) {
    let scaled = rt.block_on(Scaled::new(backend));
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(1));
    rt.block_on(scaled.load(1_000, None));
    group.bench_function("list_20_open_among_900k_closed", |b| {
        let filter = SessionFilter {
            active: Some(true),
            ..SessionFilter::default()
        };
        let paging = Paging {
            skip: None,
            take: Some(20),
            total: false,
        };
        b.to_async(rt)
            .iter(|| scaled.controller.list(&filter, paging));
    });
    group.bench_function("close_expired_100k_among_900k_closed", |b| {
        b.to_async(rt).iter_custom(|iterations| {
            let scaled = &scaled;
            async move {
                timed(
                    iterations,
                    async || {
                        scaled.load(ACTED_ON, None).await;
                        scaled.clock.advance(TimeDelta::hours(2));
                    },
                    async || scaled.controller.close_expired().await.expect("closes"),
                )
                .await
            }
        });
    });
    group.bench_function("close_expired_nothing_due_among_900k_closed", |b| {
        b.to_async(rt).iter_custom(|iterations| {
            let scaled = &scaled;
            async move {
                timed(
                    iterations,
                    async || {},
                    async || {
                        let closed = scaled.controller.close_expired().await.expect("closes");
                        assert_eq!(closed, 0, "nothing is due");
                        closed
                    },
                )
                .await
            }
        });
    });
    group.bench_function("purge_nothing_due_among_900k_closed", |b| {
        b.to_async(rt).iter_custom(|iterations| {
            let scaled = &scaled;
            async move {
                timed(
                    iterations,
                    async || {},
                    async || {
                        let purged = scaled.controller.purge_closed().await.expect("purges");
                        assert_eq!(purged, 0, "nothing is due");
                        purged
                    },
                )
                .await
            }
        });
    });
    group.bench_function("purge_100k_due_among_900k_closed", |b| {
        b.to_async(rt).iter_custom(|iterations| {
            let scaled = &scaled;
            async move {
                let long_ago =
                    TimeDelta::from_std(RETENTION).unwrap_or(TimeDelta::MAX) + TimeDelta::hours(1);
                timed(
                    iterations,
                    async || scaled.load(ACTED_ON, Some(long_ago)).await,
                    async || {
                        let purged = scaled.controller.purge_closed().await.expect("purges");
                        assert_eq!(purged, ACTED_ON as u64, "exactly the due ones");
                        purged
                    },
                )
                .await
            }
        });
    });
    rt.block_on(async {
        let Scaled {
            fresh, controller, ..
        } = scaled;
        drop(controller);
        fresh.discard().await;
    });
}
