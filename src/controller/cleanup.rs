//! The background cleanup task and the open-sessions gauge it refreshes.

use super::*;

impl SessionsController {
    /// Set the open-sessions gauge from the store's count (at start, and after each cleanup,
    /// so it also reflects what other instances sharing the store did).
    pub async fn refresh_active_gauge(&self) {
        match self.store.counts().await {
            Ok(counts) => metrics::set_active_sessions(counts.active),
            Err(error) => tracing::warn!(error = ?error, "cannot count open sessions"),
        }
    }

    /// Start the background task that runs [`Self::close_expired`] and then
    /// [`Self::purge_closed`] every cleanup interval.
    ///
    /// The first run happens one interval after the start. Stop it with
    /// [`CleanupTask::stop`]; a run in progress finishes first.
    pub fn spawn_cleanup(&self) -> CleanupTask {
        let (stop, mut stopped) = watch::channel(false);
        let controller = self.clone();
        let period = self.options.cleanup_interval;
        let handle = tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    _ = ticks.tick() => {
                        let started = std::time::Instant::now();
                        // Failures are logged by each step; the next tick tries again.
                        let closed = controller.close_expired().await.unwrap_or(0);
                        let _ = controller.purge_closed().await;
                        metrics::cleanup_run(started.elapsed(), closed);
                        controller.refresh_active_gauge().await;
                    }
                }
            }
        });
        CleanupTask { stop, handle }
    }
}

/// The running background cleanup; see [`SessionsController::spawn_cleanup`].
#[derive(Debug)]
pub struct CleanupTask {
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

impl CleanupTask {
    /// Ask the task to stop and wait until it has.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.handle.await {
            tracing::error!(%error, "cleanup task failed");
        }
    }
}
