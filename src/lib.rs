//! # sessions
//!
//! A user-sessions service: it opens and closes user sessions, keeps per-session data and a
//! cached user object, and closes sessions left idle. Its API is GraphQL (with a GraphiQL
//! playground) plus the REST protocol of the Pip.Services "sessions" microservice it
//! re-creates in Rust.
//!
//! Layers, each depending only on the ones after it:
//!
//! - [`http`]: routes, correlation ids, limits, JSON error bodies, GraphiQL and its files,
//!   probes (`/heartbeat`, `/ready`, `/status`), `/metrics`.
//! - [`graphql`]: the schema, its types and scalars, and error codes.
//! - [`rest`]: the original Pip.Services v1 REST protocol, for existing clients.
//! - [`controller`]: the business rules (ids, times, limits, expiry), shared by every API.
//! - [`store`]: the [`SessionStore`] trait and its backends.
//! - [`events`]: session events and the bus carrying them to subscribers (in process, or
//!   between instances over PostgreSQL).
//! - [`model`]: plain session data and the pure rules acting on it.
//!
//! [`app`] wires them together for the `sessions` binary, [`server`] serves them over HTTP/1.1
//! with a connection cap and timeouts for slow and idle clients, [`config`] reads its command line,
//! [`nesting`] bounds how deep untrusted input may nest, [`telemetry`] sets up logs,
//! [`metrics`] holds the Prometheus series every layer records to, and [`client`] (feature
//! `client`, on by default) calls a running service.
//!
//! ## Embedding the service
//!
//! Build a store, a controller and the router, then serve the router or nest it in your
//! own axum app. The background cleanup runs only while you hold its [`CleanupTask`].
//!
//! ```
//! use std::sync::Arc;
//! use sessions::{ControllerOptions, HttpOptions, MemoryStore, SessionsController};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let store = Arc::new(MemoryStore::new());
//! let controller = SessionsController::new(store, ControllerOptions::default());
//! let http = HttpOptions { base_path: "/sessions".into(), ..HttpOptions::default() };
//! let api = sessions::router(sessions::build_schema(controller.clone()), controller.clone(), &http);
//! let app: axum::Router = axum::Router::new().nest("/sessions", api);
//!
//! let cleanup = controller.spawn_cleanup();
//! // axum::serve(listener, app).with_graceful_shutdown(signal).await?;
//! # drop(app);
//! cleanup.stop().await;
//! # }
//! ```
//!
//! The controller is usable directly, too:
//!
//! ```
//! use std::sync::Arc;
//! use sessions::{ControllerOptions, MemoryStore, NewSession, SessionsController};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), sessions::SessionError> {
//! let controller = SessionsController::new(Arc::new(MemoryStore::new()), ControllerOptions::default());
//! let new = NewSession { user_id: "1".into(), ..NewSession::default() };
//! let session = controller.open(new).await?;
//! let closed = controller.close(&session.id).await?;
//! assert!(!closed.active);
//! # Ok(()) }
//! ```

pub mod app;
pub mod auth;
#[cfg(feature = "client")]
pub mod client;
pub mod clock;
pub mod config;
pub mod controller;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod model;
pub mod nesting;
pub mod rest;
pub mod server;
pub mod store;
pub mod telemetry;

#[cfg(feature = "client")]
pub use client::{ClientError, SessionsClient};
pub use controller::{CleanupTask, ControllerOptions, Paging, SessionsController};
pub use error::SessionError;
pub use graphql::{AppSchema, build_schema};
pub use http::{HttpOptions, router};
pub use model::{NewSession, Page, Session, SessionFilter, SessionId};
pub use store::{MemoryStore, SessionStore, StoreError};

/// The Rust examples in README.md, compiled as doc tests so they cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
