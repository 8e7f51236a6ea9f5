//! # sessions
//!
//! A user-sessions service: it opens and closes user sessions, keeps per-session data and a
//! cached user object, and closes sessions left idle. Its API is GraphQL (with a GraphiQL
//! playground); it re-creates the Pip.Services "sessions" microservice in Rust.
//!
//! Layers, each depending only on the ones after it:
//!
//! - [`http`]: routes, correlation ids, limits, JSON error bodies, GraphiQL, `/status`.
//! - [`graphql`]: the schema, its types and scalars, and error codes.
//! - [`rest`]: the original Pip.Services v1 REST protocol, for existing clients.
//! - [`controller`]: the business rules (ids, times, limits, expiry), shared by every API.
//! - [`store`]: the [`store::SessionStore`] trait and its backends.
//! - [`model`]: plain session data and the pure rules acting on it.
//!
//! [`app`] wires them together, [`config`] reads the command line, [`telemetry`] sets up logs.

pub mod app;
pub mod clock;
pub mod config;
pub mod controller;
pub mod error;
pub mod graphql;
pub mod http;
pub mod model;
pub mod rest;
pub mod store;
pub mod telemetry;
