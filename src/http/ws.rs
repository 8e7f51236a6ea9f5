//! `GET /graphql` with `Upgrade: websocket`: GraphQL subscriptions over the
//! `graphql-transport-ws` protocol (the `graphql-ws` library's), as Apollo Server serves them.
//!
//! async-graphql runs the protocol ([`async_graphql::http::WebSocket`]); this module screens
//! what the client sends before it gets there, because async-graphql's answers to a misbehaving
//! client differ from what the protocol asks for:
//!
//! | client does | protocol says | async-graphql alone |
//! |---|---|---|
//! | sends something that is not a protocol message, or over the body limit | close 4400 | close 1002 |
//! | subscribes before `connection_init` | close 4401 | close 1011 |
//! | sends no `connection_init` within 10 s | close 4408 | nothing |
//! | reuses the id of a running subscription | close 4409 | replaces it silently |
//! | sends a second `connection_init` | close 4429 | close 4429 |
//!
//! A connection holds at most [`MAX_SUBSCRIPTIONS`] subscriptions; one more is answered with
//! an `error` message for its id. The number of WebSocket connections is capped too
//! (`--max-websockets`); over the cap the upgrade is refused with 503.
//!
//! **Authentication** happens at `connection_init`, not at the upgrade: browsers cannot put
//! headers on a WebSocket. The credential is the payload's `Authorization` (or
//! `authorization`) field, `"Bearer <secret>"`; without one, the upgrade request's own
//! `Authorization` header counts. With authentication on, a missing or bad credential closes
//! the connection with 4403, and a failing token lookup with 4500. The actor is fixed for
//! the connection's life: a key removed by a reload keeps its open connections (close them
//! by restarting), while a session token's subscriptions end with its session.
//!
//! At shutdown every connection is closed with 1001 (going away).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::Data;
use async_graphql::http::{
    ClientMessage, WebSocket as Protocol, WebSocketProtocols as Protocols, WsMessage,
};
use axum::Extension;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt, TryFutureExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};

use super::AppState;
use super::auth;
use super::correlation::CorrelationId;
use super::errors::error_response;
use super::graphql::Params;
use crate::auth::{Actor, AuthError, Authenticator, Credential};
use crate::controller::SessionsController;
use crate::graphql::AppSchema;
use crate::graphql::errors::code;

/// How long a client has to send `connection_init`.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most subscriptions one connection may run at once.
pub const MAX_SUBSCRIPTIONS: usize = 100;
/// Default cap on WebSocket connections (`--max-websockets`).
pub const DEFAULT_MAX_WEBSOCKETS: usize = 1000;

/// Close codes of the `graphql-transport-ws` protocol.
mod close {
    pub const BAD_MESSAGE: u16 = 4400;
    pub const UNAUTHORIZED: u16 = 4401;
    pub const FORBIDDEN: u16 = 4403;
    pub const INIT_TIMEOUT: u16 = 4408;
    pub const DUPLICATE_ID: u16 = 4409;
    pub const TOO_MANY_INITS: u16 = 4429;
    pub const INTERNAL_ERROR: u16 = 4500;
    /// RFC 6455's "going away": the server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
}

/// The WebSocket connections open now, bounded, and the signal that closes them all.
/// A cheap `Clone` handle.
#[derive(Clone, Debug)]
pub struct Sockets {
    slots: Arc<Semaphore>,
    max: usize,
    closing: Arc<watch::Sender<bool>>,
}

impl Sockets {
    /// Room for `max` connections at once.
    pub fn new(max: usize) -> Self {
        let (closing, _) = watch::channel(false);
        Self {
            slots: Arc::new(Semaphore::new(max)),
            max,
            closing: Arc::new(closing),
        }
    }

    /// How many WebSocket connections are open now.
    pub fn open(&self) -> usize {
        self.max - self.slots.available_permits()
    }

    /// Tell every connection to close (with 1001); new upgrades are refused with 503.
    pub fn begin_close(&self) {
        self.closing.send_replace(true);
    }

    /// Close every connection (with 1001) and refuse new ones; returns once all have closed,
    /// or after `patience`.
    pub async fn close_all(&self, patience: Duration) {
        self.begin_close();
        let all = u32::try_from(self.max).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(patience, self.slots.acquire_many(all)).await;
    }
}

/// What the authentication middleware leaves for a WebSocket handshake instead of an
/// [`Actor`]: the handshake's own `Authorization` header, used when `connection_init` carries
/// no credential.
#[derive(Clone, Debug)]
pub struct Handshake(pub Credential);

/// Whether `request` asks to become a WebSocket (authentication waits for `connection_init`).
pub fn is_upgrade(request: &axum::extract::Request) -> bool {
    request.method() == axum::http::Method::GET
        && request
            .headers()
            .get(header::UPGRADE)
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"websocket"))
}

/// `GET /graphql`: a WebSocket upgrade when the client asks for one, else GraphQL over HTTP.
pub async fn get(
    State(state): State<AppState>,
    Extension(id): Extension<CorrelationId>,
    actor: Option<Extension<Actor>>,
    handshake: Option<Extension<Handshake>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    params: Result<Query<Params<String>>, QueryRejection>,
) -> Response {
    match (upgrade, actor, handshake) {
        (Ok(upgrade), _, handshake) => {
            let credential = handshake.map_or(Credential::None, |Extension(h)| h.0);
            accept(upgrade, &headers, &state, &id, credential)
        }
        // Not an upgrade request: GraphQL over HTTP, as the middleware authenticated it.
        (Err(_), Some(actor), _) => {
            super::graphql::get(State(state), Extension(id), actor, headers, params).await
        }
        // It said `Upgrade: websocket` (so it was not authenticated) but is no valid handshake.
        (Err(rejection), None, _) => error_response(
            StatusCode::BAD_REQUEST,
            code::BAD_REQUEST,
            format!("invalid WebSocket handshake: {rejection}"),
            &id,
        ),
    }
}

/// Accept the upgrade (when there is room and the client speaks the protocol) and serve it.
fn accept(
    upgrade: WebSocketUpgrade,
    headers: &HeaderMap,
    state: &AppState,
    id: &CorrelationId,
    credential: Credential,
) -> Response {
    let state = state.clone();
    let speaks = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|name| name.trim().parse::<Protocols>() == Ok(Protocols::GraphQLWS));
    if !speaks {
        let message = "WebSocket clients must ask for the graphql-transport-ws subprotocol";
        return error_response(StatusCode::BAD_REQUEST, code::BAD_REQUEST, message, id);
    }
    let closing = state.sockets.closing.subscribe();
    let permit = match state.sockets.slots.clone().try_acquire_owned() {
        Ok(permit) if !*closing.borrow() => Some(permit),
        _ => None,
    };
    let Some(permit) = permit else {
        let message = "too many WebSocket connections; retry later";
        return error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            code::BAD_REQUEST,
            message,
            id,
        );
    };
    upgrade
        .protocols(["graphql-transport-ws"])
        // Past the body limit the message is refused with 4400 (see `Screen`); the socket's own
        // bound only stops a client from making us buffer without end.
        .max_message_size(super::body::MAX_DRAIN_BYTES)
        .on_upgrade(move |socket| {
            let login = Login {
                auth: state.auth.clone(),
                controller: state.controller.clone(),
                header: credential,
            };
            serve(socket, state.schema.clone(), login, closing, permit)
        })
}

/// Serve one connection until either side closes it, or the server shuts down.
async fn serve(
    socket: WebSocket,
    schema: AppSchema,
    login: Login,
    mut closing: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let (mut sink, mut source) = socket.split();
    // Screened messages for async-graphql; bounded: when it is full, one message waits in
    // `waiting` and the socket is not read until it is handed over, so a client cannot make
    // us buffer without end. (Waiting in `reserve` inside the select keeps async-graphql
    // polled meanwhile: awaiting a send in the read branch would stop it and deadlock.)
    let (forward, screened) = mpsc::channel::<ClientMessage>(16);
    let mut waiting: Option<ClientMessage> = None;
    let screened = futures_util::stream::unfold(screened, |mut screened| async move {
        screened.recv().await.map(|message| (Ok(message), screened))
    });
    // The actor reaches async-graphql's connection data once `connection_init` has been
    // authenticated here; async-graphql only sees an init that passed.
    let (actor_found, actor) = oneshot::channel::<Actor>();
    let mut actor_found = Some(actor_found);
    let mut protocol =
        Protocol::from_message_stream(schema, Box::pin(screened), Protocols::GraphQLWS)
            .on_connection_init(move |_payload| async move {
                let actor = actor
                    .await
                    .map_err(|_| async_graphql::Error::new("not authenticated"))?;
                let mut data = Data::default();
                data.insert(actor);
                Ok(data)
            });
    let mut screen = Screen::default();
    let init_deadline = tokio::time::sleep(INIT_TIMEOUT);
    tokio::pin!(init_deadline);
    loop {
        let outgoing = tokio::select! {
            permit = forward.reserve(), if waiting.is_some() => {
                if let (Ok(permit), Some(message)) = (permit, waiting.take()) {
                    permit.send(message);
                }
                continue;
            }
            incoming = source.next(), if waiting.is_none() => match incoming {
                Some(Ok(message)) => match screen.check(message) {
                    Verdict::Init(message) => match login.check(&message).await {
                        Ok(actor) => {
                            if let Some(found) = actor_found.take() {
                                let _ = found.send(actor);
                            }
                            if let Err(mpsc::error::TrySendError::Full(message)) =
                                forward.try_send(*message)
                            {
                                waiting = Some(message);
                            }
                            continue;
                        }
                        Err((code, reason)) => close_message(code, reason),
                    },
                    Verdict::Forward(message) => {
                        if let Err(mpsc::error::TrySendError::Full(message)) =
                            forward.try_send(*message)
                        {
                            waiting = Some(message);
                        }
                        continue;
                    }
                    Verdict::Reply(text) => Message::Text(text.into()),
                    Verdict::Ignore => continue,
                    Verdict::Close(code, reason) => close_message(code, &reason),
                },
                // The socket failed (including a message over the socket's bound) or closed.
                Some(Err(_)) => close_message(close::BAD_MESSAGE, "unreadable message"),
                None => break,
            },
            reply = protocol.next() => match reply {
                Some(WsMessage::Text(text)) => {
                    screen.sent(&text);
                    Message::Text(text.into())
                }
                Some(WsMessage::Close(code, reason)) => close_message(protocol_code(code), &reason),
                None => break,
            },
            () = &mut init_deadline, if !screen.initialised => {
                close_message(close::INIT_TIMEOUT, "Connection initialisation timeout")
            }
            Ok(()) = closing.wait_for(|closing| *closing).map_ok(drop) => {
                close_message(close::GOING_AWAY, "the server is shutting down")
            }
        };
        let closing = matches!(outgoing, Message::Close(_));
        if sink.send(outgoing).await.is_err() || closing {
            break;
        }
    }
}

/// async-graphql's close codes, as the protocol spells them.
fn protocol_code(code: u16) -> u16 {
    match code {
        1002 => close::BAD_MESSAGE,
        1011 => close::UNAUTHORIZED,
        3008 => close::INIT_TIMEOUT,
        other => other,
    }
}

fn close_message(code: u16, reason: &str) -> Message {
    // A close reason must fit in a control frame (123 bytes).
    let mut reason = reason.to_owned();
    while reason.len() > 120 {
        reason.pop();
    }
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// Who may open subscriptions on a connection: decided at `connection_init`.
struct Login {
    auth: Authenticator,
    controller: SessionsController,
    /// The upgrade request's `Authorization` header.
    header: Credential,
}

impl Login {
    /// The actor of `connection_init`'s credential, or the close code and reason that refuse
    /// it.
    async fn check(&self, init: &ClientMessage) -> Result<Actor, (u16, &'static str)> {
        let ClientMessage::ConnectionInit { payload } = init else {
            return Err((close::BAD_MESSAGE, "expected connection_init"));
        };
        let credential = match payload.as_ref().and_then(|payload| {
            payload
                .get("Authorization")
                .or_else(|| payload.get("authorization"))
        }) {
            Some(serde_json::Value::String(text)) => auth::bearer(text),
            Some(_) => Credential::Malformed,
            None => self.header.clone(),
        };
        match self.auth.authenticate(&credential, &self.controller).await {
            Ok(Actor::Unauthenticated) | Err(AuthError::Denied(_)) => Err((
                close::FORBIDDEN,
                "Forbidden: a valid API key or session token is required in connection_init's \
                 payload: {\"Authorization\": \"Bearer <secret>\"}",
            )),
            Ok(actor) => Ok(actor),
            Err(AuthError::Store(error)) => {
                tracing::warn!(error = ?error, "WebSocket authentication: token lookup failed");
                Err((close::INTERNAL_ERROR, "Internal server error"))
            }
        }
    }
}

/// What to do with one message from the client.
enum Verdict {
    /// The first `connection_init`: authenticate it, then forward it.
    Init(Box<ClientMessage>),
    Forward(Box<ClientMessage>),
    Reply(String),
    Ignore,
    Close(u16, String),
}

/// The connection's state as far as screening needs it.
#[derive(Default)]
struct Screen {
    initialised: bool,
    running: HashSet<String>,
}

impl Screen {
    fn check(&mut self, message: Message) -> Verdict {
        let text = match message {
            Message::Text(text) => text,
            Message::Binary(_) => {
                return Verdict::Close(close::BAD_MESSAGE, "messages must be text".into());
            }
            // axum answers pings itself; a close ends the stream next.
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => return Verdict::Ignore,
        };
        if text.len() > super::MAX_BODY_BYTES {
            let reason = format!("message larger than {} bytes", super::MAX_BODY_BYTES);
            return Verdict::Close(close::BAD_MESSAGE, reason);
        }
        // Before serde_json recurses into it, as for HTTP bodies.
        if let Err(error) = crate::nesting::check_json(text.as_bytes(), "the message") {
            return Verdict::Close(close::BAD_MESSAGE, error.to_string());
        }
        let message = match ClientMessage::from_bytes(text.as_bytes()) {
            Ok(message) => message,
            Err(_) => return Verdict::Close(close::BAD_MESSAGE, "invalid message".into()),
        };
        self.admit(message)
    }

    fn admit(&mut self, message: ClientMessage) -> Verdict {
        match &message {
            ClientMessage::ConnectionInit { .. } if self.initialised => {
                return Verdict::Close(
                    close::TOO_MANY_INITS,
                    "Too many initialisation requests".into(),
                );
            }
            ClientMessage::ConnectionInit { .. } => {
                self.initialised = true;
                return Verdict::Init(Box::new(message));
            }
            ClientMessage::Start { .. } if !self.initialised => {
                return Verdict::Close(close::UNAUTHORIZED, "Unauthorized".into());
            }
            ClientMessage::Start { id, .. } if self.running.contains(id) => {
                return Verdict::Close(
                    close::DUPLICATE_ID,
                    format!("Subscriber for {id} already exists"),
                );
            }
            ClientMessage::Start { id, .. } if self.running.len() >= MAX_SUBSCRIPTIONS => {
                let error = serde_json::json!({
                    "type": "error",
                    "id": id,
                    "payload": [{
                        "message": format!("at most {MAX_SUBSCRIPTIONS} subscriptions per connection"),
                        "extensions": {"code": code::BAD_REQUEST},
                    }],
                });
                return Verdict::Reply(error.to_string());
            }
            ClientMessage::Start { id, .. } => {
                self.running.insert(id.clone());
            }
            ClientMessage::Stop { id } => {
                self.running.remove(id);
            }
            // Not part of graphql-transport-ws; the client closes the socket instead.
            ClientMessage::ConnectionTerminate => return Verdict::Ignore,
            ClientMessage::Ping { .. } | ClientMessage::Pong { .. } => {}
        }
        Verdict::Forward(Box::new(message))
    }

    /// Note what the server sent: a `complete` frees its id.
    fn sent(&mut self, text: &str) {
        // async-graphql writes the tag first: `{"type":"complete","id":…}`.
        if text.starts_with(r#"{"type":"complete""#)
            && let Ok(serde_json::Value::Object(fields)) = serde_json::from_str(text)
            && let Some(serde_json::Value::String(id)) = fields.get("id")
        {
            self.running.remove(id);
        }
    }
}
