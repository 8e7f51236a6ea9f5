//! The HTTP surface: routes, middleware and limits around the GraphQL schema.

pub mod assets;
pub mod auth;
pub mod body;
pub mod correlation;
pub mod errors;
pub mod graphql;
pub mod metrics;
pub mod playground;
pub mod status;
pub mod ws;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::routing::get;
use axum::{Router, middleware};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::Authenticator;
use crate::controller::SessionsController;
use crate::graphql::AppSchema;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What every handler can reach: a handle on [`Shared`], whose fields it dereferences to.
///
/// One `Arc` rather than the fields themselves: axum clones the state for every request,
/// several times over (each route's service, each middleware holding it, each `State`
/// extractor), and a clone of the fields was a dozen atomic counts each time.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// The state holding `shared`.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The state every handler shares, behind [`AppState`].
pub struct Shared {
    /// The executable GraphQL schema.
    pub schema: AppSchema,
    /// The business layer, for the status report.
    pub controller: SessionsController,
    /// When the service started, for its uptime.
    pub started: Instant,
    /// The GraphiQL page, rendered once.
    pub playground: Bytes,
    /// The WebSocket connections open now, and their cap.
    pub sockets: ws::Sockets,
    /// Who requests run as; off unless keys are configured.
    pub auth: Authenticator,
    /// Whether introspection runs without a credential when authentication is on.
    pub public_introspection: bool,
}

/// How the HTTP layer behaves, beyond the routes.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// Longest a request may take before it is answered with 408.
    pub request_timeout: Duration,
    /// Browser origins allowed to call the API (CORS); empty allows none.
    pub allow_origins: Vec<HeaderValue>,
    /// The path this router is nested under in a larger app (e.g. `/sessions`), so the
    /// playground calls the right endpoint; empty when it is served at the root.
    pub base_path: String,
    /// Most WebSocket (subscription) connections open at once; more are refused with 503.
    pub max_websockets: usize,
    /// Who requests run as: API keys and session tokens, or everything open (the default).
    pub auth: Authenticator,
    /// With authentication on, let introspection (`__schema`, `__type`) run without a
    /// credential.
    pub public_introspection: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            allow_origins: Vec::new(),
            base_path: String::new(),
            max_websockets: ws::DEFAULT_MAX_WEBSOCKETS,
            auth: Authenticator::off(),
            public_introspection: false,
        }
    }
}

/// Every route with its methods, as the request metrics label them (before any prefix).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/graphql"),
    ("POST", "/graphql"),
    ("GET", "/"),
    ("GET", "/playground/{file}"),
    ("GET", "/heartbeat"),
    ("GET", "/ready"),
    ("GET", "/status"),
    ("GET", "/metrics"),
    ("POST", "/v1/sessions/{command}"),
];

/// The service's routes with their middleware:
/// `POST|GET /graphql` (and WebSocket subscriptions there), `GET /` (GraphiQL) and its files
/// under `/playground/`, `GET /heartbeat` (liveness), `GET /ready` (readiness), `GET /status`,
/// `GET /metrics` (Prometheus), and the v1 REST commands under `POST /v1/sessions/`.
///
/// The first router built installs the process-wide metrics recorder (see [`crate::metrics`]).
///
/// WebSocket connections outlive a graceful shutdown of the HTTP server; use
/// [`router_and_sockets`] to close them (with 1001) when the host shuts down.
pub fn router(schema: AppSchema, controller: SessionsController, options: &HttpOptions) -> Router {
    router_and_sockets(schema, controller, options).0
}

/// [`router`], with the handle of its WebSocket connections, to close them at shutdown
/// ([`ws::Sockets::close_all`]).
pub fn router_and_sockets(
    schema: AppSchema,
    controller: SessionsController,
    options: &HttpOptions,
) -> (Router, ws::Sockets) {
    let base_path = options.base_path.trim_end_matches('/');
    crate::metrics::install();
    for (method, route) in ROUTES {
        // Nested, a route is matched (and labelled) with its prefix; the root as the prefix.
        let route = match (base_path, *route) {
            ("", route) => route.to_owned(),
            (base, "/") => base.to_owned(),
            (base, route) => format!("{base}{route}"),
        };
        crate::metrics::register_route(method, &route, &[200, 500]);
    }
    for method in ["GET", "POST"] {
        crate::metrics::register_route(method, crate::metrics::UNMATCHED_ROUTE, &[404]);
    }
    let sockets = ws::Sockets::new(options.max_websockets);
    let state = AppState::new(Shared {
        schema,
        controller,
        started: Instant::now(),
        playground: Bytes::from(playground::page(base_path, options.auth.is_on())),
        sockets: sockets.clone(),
        auth: options.auth.clone(),
        public_introspection: options.public_introspection,
    });
    // The API routes, behind authentication; the rest below are public. The WebSocket
    // upgrade shares GET /graphql; it authenticates at `connection_init` (see `ws`).
    let api = Router::new()
        .route("/graphql", get(ws::get).post(graphql::post))
        .merge(crate::rest::routes())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ));
    let routes = Router::new()
        .merge(api)
        .route("/", get(playground::serve))
        .route("/playground/{file}", get(assets::serve))
        .route("/heartbeat", get(status::heartbeat))
        .route("/ready", get(status::ready))
        .route("/status", get(status::status))
        .route("/metrics", get(metrics::serve))
        .with_state(state);
    // Layers wrap what comes before them, so the last is outermost: the correlation id exists before the span is made and before any
    // error body is written; the error mapper sits outside the limits it reports on.
    let router = routes
        // Inside the request span, so the panic is logged with the correlation id; the
        // plain 500 it returns becomes a JSON error body in `json_errors`.
        .layer(CatchPanicLayer::custom(errors::panic_response))
        // Handlers refuse bodies over MAX_BODY_BYTES themselves, reading the rest so the
        // client sees the 413 (see `body`); this bound is where reading stops being worth it.
        .layer(RequestBodyLimitLayer::new(body::MAX_DRAIN_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            options.request_timeout,
        ));
    // No allowed origin, no CORS layer: browsers are refused either way, responses do not
    // say they vary by `Origin`, and requests skip its per-request clone (README
    // "Performance": REST get +21% side by side).
    let router = match cors(&options.allow_origins) {
        Some(cors) => router.layer(cors),
        None => router,
    };
    let router = router
        .layer(errors::JsonErrorsLayer)
        // Outside the limits and the error mapper, so it counts the statuses clients get.
        .layer(metrics::RecordLayer)
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(correlation::span::<axum::body::Body>)
                .on_response(correlation::completed),
        )
        .layer(correlation::AssignLayer)
        // Outermost: whatever logs headers below (tower-http at `debug`, say) sees
        // `Authorization` as "Sensitive", never its value.
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
        ]));
    (router, sockets)
}

/// The CORS layer allowing `origins`; none when no origin is allowed.
fn cors(origins: &[HeaderValue]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let layer = CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins.iter().cloned()))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            correlation::HEADER,
        ])
        .expose_headers([correlation::HEADER]);
    Some(layer)
}
