//! Wiring: build the store, controller, schema and router; bind; serve until shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use tokio::net::TcpListener;

use crate::auth::Authenticator;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::controller::SessionsController;
use crate::events::{EventBus, LocalBus, PgBus};
use crate::graphql::build_schema;
use crate::http::ws::Sockets;
use crate::http::{HttpOptions, router_and_sockets};
use crate::server::{self, ConnectionLimits};
use crate::store::{self, InstrumentedStore, StoreKind};

/// How long shutdown waits for WebSocket connections to close once told to.
const SOCKETS_PATIENCE: Duration = Duration::from_secs(5);

/// A service bound to its address, ready to serve.
pub struct App {
    listener: TcpListener,
    router: Router,
    sockets: Sockets,
    controller: SessionsController,
    limits: ConnectionLimits,
    addr: SocketAddr,
    auth: Authenticator,
    reloads: Option<Reloads>,
}

/// Build the service from `config` and bind its listener.
///
/// # Errors
/// When the store cannot be opened, or the address cannot be bound (in use, not local, no
/// permission).
pub async fn build(config: &Config) -> anyhow::Result<App> {
    build_with_clock(config, Arc::new(SystemClock)).await
}

/// Like [`build`], with the controller reading time from `clock` (tests pass a
/// [`crate::clock::ManualClock`] to check expiry without waiting).
///
/// # Errors
/// When the store cannot be opened, or the address cannot be bound.
pub async fn build_with_clock(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
    config.check_exposure().map_err(anyhow::Error::msg)?;
    let auth = config.authenticator()?;
    // Registered now, before serving: from here on SIGHUP reloads keys and cannot kill us.
    let reloads = reload_signal(&auth);
    // The URL prints with its password hidden.
    let store = store::open(&config.store)
        .await
        .with_context(|| format!("--store {}", config.store))?;
    tracing::info!(store = %config.store, kind = store.kind(), "session store opened");
    // Before any metric handle is made: handles made earlier would record nowhere.
    crate::metrics::install();
    let store = Arc::new(InstrumentedStore::new(store));
    let events = events(config).await?;
    let controller = SessionsController::with_clock(store, config.controller_options(), clock)
        .with_events(events);
    controller.refresh_active_gauge().await;
    let schema = build_schema(controller.clone());
    let http = HttpOptions {
        auth: auth.clone(),
        ..config.http_options()
    };
    let (router, sockets) = router_and_sockets(schema, controller.clone(), &http);
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    Ok(App {
        listener,
        router,
        sockets,
        controller,
        limits: config.connection_limits(),
        addr,
        auth,
        reloads,
    })
}

/// The event bus for `config`'s store: PostgreSQL carries events between the instances sharing
/// it; the other stores belong to one process, so in-process fan-out is all they need.
async fn events(config: &Config) -> anyhow::Result<Arc<dyn EventBus>> {
    Ok(match config.store.kind() {
        Ok(StoreKind::Postgres) => Arc::new(
            PgBus::connect(config.store.expose(), config.event_buffer)
                .await
                .context("cannot listen for session events")?,
        ),
        _ => Arc::new(LocalBus::new(config.event_buffer)),
    })
}

#[cfg(unix)]
type Reloads = tokio::signal::unix::Signal;
#[cfg(not(unix))]
type Reloads = std::convert::Infallible;

/// The SIGHUP stream that reloads the keys file, when there is one to reload.
fn reload_signal(auth: &Authenticator) -> Option<Reloads> {
    if !auth.is_on() {
        tracing::warn!("authentication is off: every client may read and change every session");
        return None;
    }
    tracing::info!(keys = auth.key_count(), "authentication is on");
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::hangup()) {
            Ok(signal) => Some(signal),
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGHUP; keys reload only on restart");
                None
            }
        }
    }
    #[cfg(not(unix))]
    None
}

/// Reload the keys file on every SIGHUP; a bad file is logged and the old keys stay.
#[cfg(unix)]
async fn reload_keys(auth: Authenticator, mut signals: Reloads) {
    while signals.recv().await.is_some() {
        match auth.reload() {
            Ok(keys) => tracing::info!(keys, "API keys reloaded"),
            Err(error) => tracing::error!(
                error = %error,
                "API keys not reloaded; the previous keys stay in use"
            ),
        }
    }
}

impl App {
    /// The address the service listens on (the real port when configured with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The controller behind the service.
    pub fn controller(&self) -> &SessionsController {
        &self.controller
    }

    /// Serve until `shutdown` completes; then stop accepting, close WebSocket connections
    /// (1001), finish the requests in flight, and stop the background cleanup. See [`server::serve`] for the connection cap and the
    /// timeouts for slow and idle clients.
    ///
    /// # Errors
    /// None today: failures to accept a connection (such as running out of file descriptors)
    /// are logged and retried. The `Result` leaves room for failures that must stop the server.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let cleanup = self.controller.spawn_cleanup();
        #[cfg(unix)]
        let reloader = self
            .reloads
            .map(|signals| tokio::spawn(reload_keys(self.auth.clone(), signals)));
        tracing::info!(
            addr = %self.addr,
            graphql = %format!("http://{}/graphql", self.addr),
            playground = %format!("http://{}/", self.addr),
            "sessions listening"
        );
        let sockets = self.sockets.clone();
        let shutdown = async move {
            shutdown.await;
            // At once, so subscribers hear of it while the HTTP requests in flight finish.
            sockets.begin_close();
        };
        server::serve(self.listener, self.router, self.limits, shutdown).await;
        self.sockets.close_all(SOCKETS_PATIENCE).await;
        #[cfg(unix)]
        if let Some(reloader) = reloader {
            reloader.abort();
        }
        cleanup.stop().await;
        tracing::info!("sessions stopped");
        Ok(())
    }
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM.
///
/// The handlers are registered when this is called, not when the future is first polled:
/// a SIGTERM that arrives between start-up and the first poll (after "sessions listening" is
/// logged, say) is then a clean shutdown rather than the default action, which kills the
/// process.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let listen = |kind: tokio::signal::unix::SignalKind, name: &'static str| {
        let signal = tokio::signal::unix::signal(kind);
        async move {
            match signal {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(error) => {
                    tracing::error!(%error, "cannot listen for {name}");
                    std::future::pending::<()>().await;
                }
            }
        }
    };
    #[cfg(unix)]
    let (interrupt, terminate) = (
        listen(tokio::signal::unix::SignalKind::interrupt(), "Ctrl-C"),
        listen(tokio::signal::unix::SignalKind::terminate(), "SIGTERM"),
    );
    #[cfg(not(unix))]
    let (interrupt, terminate) = (
        async {
            if let Err(error) = tokio::signal::ctrl_c().await {
                tracing::error!(%error, "cannot listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
        },
        std::future::pending::<()>(),
    );
    async move {
        tokio::select! {
            () = interrupt => {},
            () = terminate => {},
        }
        tracing::info!("shutdown requested; finishing requests in flight");
    }
}
