//! Authentication at the edge: read the `Authorization` header once, decide the request's
//! [`Actor`], and answer 401 when a credential is needed and missing or wrong. Handlers find
//! the actor in the request's extensions; nothing below this module reads the header.

use axum::Extension;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::body;
use super::correlation::CorrelationId;
use super::errors::error_response;
use crate::auth::{Actor, AuthError, Credential};
use crate::error::SessionError;
use crate::graphql::errors::code;
use crate::rest::errors::{ErrorDescription, session_error};

/// The message of every 401: what to send instead.
pub const UNAUTHENTICATED_MESSAGE: &str =
    "a valid API key or session token is required: send Authorization: Bearer <secret>";

/// The credential in `headers`: `Authorization: Bearer <secret>`, nothing, or something else.
pub fn credential(headers: &HeaderMap) -> Credential {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Credential::None;
    };
    match value.to_str() {
        Ok(text) => bearer(text),
        Err(_) => Credential::Malformed,
    }
}

/// The credential in an `Authorization` value: `Bearer <secret>`, or something else.
pub fn bearer(text: &str) -> Credential {
    match text.split_once(' ') {
        Some((scheme, secret))
            if scheme.eq_ignore_ascii_case("bearer") && !secret.trim().is_empty() =>
        {
            Credential::Bearer(secret.trim().to_owned())
        }
        _ => Credential::Malformed,
    }
}

/// Middleware of the API routes (`/graphql`, `/v1/...`): put the request's [`Actor`] in its
/// extensions and its label in the request's log span, or answer 401 (`WWW-Authenticate:
/// Bearer`) for a bad credential, and for a missing one unless the route may run without
/// (GraphQL introspection with `public_introspection`).
///
/// A WebSocket handshake passes with its header's credential unchecked
/// ([`ws::Handshake`](super::ws::Handshake)): subscriptions authenticate at
/// `connection_init`, since browsers cannot set headers on a WebSocket.
pub async fn authenticate(
    State(state): State<AppState>,
    Extension(id): Extension<CorrelationId>,
    mut request: Request,
    next: Next,
) -> Response {
    let rest = request.uri().path().starts_with(crate::rest::PREFIX);
    let credential = credential(request.headers());
    if !rest && super::ws::is_upgrade(&request) {
        request
            .extensions_mut()
            .insert(super::ws::Handshake(credential));
        return next.run(request).await;
    }
    let actor = match state
        .auth
        .authenticate(&credential, &state.controller)
        .await
    {
        Ok(actor) => actor,
        Err(AuthError::Denied(_)) => {
            body::discard(request.into_body()).await;
            return unauthenticated(rest, true, &id);
        }
        Err(AuthError::Store(error)) => {
            body::discard(request.into_body()).await;
            return store_failed(rest, &error, &id);
        }
    };
    tracing::Span::current().record("actor", tracing::field::display(&actor));
    if actor == Actor::Unauthenticated && (rest || !state.public_introspection) {
        body::discard(request.into_body()).await;
        return unauthenticated(rest, false, &id);
    }
    request.extensions_mut().insert(actor);
    next.run(request).await
}

/// The 401 answer: a GraphQL error `UNAUTHENTICATED`, or under `/v1/` a Pip.Services error
/// description of category `Unauthorized`; `WWW-Authenticate: Bearer` either way (with
/// `error="invalid_token"` when a credential was sent, as RFC 6750 says).
pub fn unauthenticated(rest: bool, invalid: bool, id: &CorrelationId) -> Response {
    let mut response = if rest {
        ErrorDescription::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            UNAUTHENTICATED_MESSAGE,
            id,
        )
        .into_response()
    } else {
        error_response(
            StatusCode::UNAUTHORIZED,
            code::UNAUTHENTICATED,
            UNAUTHENTICATED_MESSAGE,
            id,
        )
    };
    let challenge = if invalid {
        "Bearer error=\"invalid_token\""
    } else {
        "Bearer"
    };
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

fn store_failed(rest: bool, error: &SessionError, id: &CorrelationId) -> Response {
    tracing::warn!(error = ?error, "authentication: token lookup failed");
    if rest {
        return session_error(error, id);
    }
    let (status, code, message) = match error {
        SessionError::Store(crate::store::StoreError::Unavailable(_)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            code::STORE_UNAVAILABLE,
            "the session store is unavailable; try again later",
        ),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            code::INTERNAL_SERVER_ERROR,
            "internal error",
        ),
    };
    error_response(status, code, message, id)
}
