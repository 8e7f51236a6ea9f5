//! [`SessionsClient::session_events`]: live session events over the service's WebSocket.
//!
//! Reconnecting is the caller's: when the stream ends (the service went away, or it reported
//! `EVENTS_LOST` because events may have been missed), re-read what you keep and call
//! `session_events` again. Events that happen in between are not replayed.

use futures_util::stream::BoxStream;
use futures_util::{SinkExt, Stream, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use super::{ClientError, SessionsClient};
use crate::events::{SessionEvent, SessionEventKind};
use crate::http::correlation;

/// What [`SessionsClient::session_events`] returns.
pub type SessionEventStream = BoxStream<'static, Result<SessionEvent, ClientError>>;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const QUERY: &str = "subscription($userId: String, $kinds: [SessionEventKind!]) { \
    sessionEvents(userId: $userId, kinds: $kinds) { kind sessionId userId at reason } }";

impl SessionsClient {
    /// Session events from now on, optionally only `user_id`'s and only `kinds`.
    ///
    /// The stream yields each event; it ends after an `Err` (`ClientError::Server` with code
    /// `EVENTS_LOST` when events may have been missed, `Unavailable` when the connection
    /// dropped) or when the service completes the subscription. Reconnecting is left to the
    /// caller (see the module docs).
    ///
    /// The client's bearer secret (see [`super::SessionsClientBuilder::bearer`]) goes in
    /// `connection_init`, where the service looks for it.
    ///
    /// # Errors
    /// `Unauthenticated` when the service refuses the credential (or needs one);
    /// `Unavailable` when the WebSocket cannot be opened or the handshake fails.
    pub async fn session_events(
        &self,
        user_id: Option<&str>,
        kinds: Option<&[SessionEventKind]>,
    ) -> Result<SessionEventStream, ClientError> {
        let correlation_id = self
            .correlation_id
            .clone()
            .unwrap_or_else(|| correlation::CorrelationId::generate().as_str().to_owned());
        let unavailable = |message: String| ClientError::Unavailable {
            message,
            correlation_id: correlation_id.clone(),
        };
        let mut url = self.endpoint.clone();
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        url.set_scheme(scheme)
            .map_err(|()| unavailable("cannot make a WebSocket URL".into()))?;
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| unavailable(e.to_string()))?;
        let headers = request.headers_mut();
        headers.insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("graphql-transport-ws"),
        );
        if let Ok(value) = HeaderValue::from_str(&correlation_id) {
            headers.insert(correlation::HEADER, value);
        }
        let (mut socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let payload = match self.authorization.as_ref().map(HeaderValue::to_str) {
            Some(Ok(value)) => json!({ "Authorization": value }),
            _ => json!({}),
        };
        send(
            &mut socket,
            json!({ "type": "connection_init", "payload": payload }),
        )
        .await
        .map_err(&unavailable)?;
        match acknowledged(&mut socket).await {
            Ok(()) => {}
            Err(Some(FORBIDDEN)) => {
                return Err(ClientError::Unauthenticated {
                    correlation_id: correlation_id.clone(),
                });
            }
            Err(code) => {
                let code = code.map_or("none".to_owned(), |code| code.to_string());
                return Err(unavailable(format!(
                    "no connection_ack (close code {code})"
                )));
            }
        }
        let kinds: Option<Vec<&str>> = kinds.map(|k| k.iter().map(|k| k.as_str()).collect());
        let variables = json!({ "userId": user_id, "kinds": kinds });
        let subscribe = json!({ "id": "1", "type": "subscribe",
            "payload": { "query": QUERY, "variables": variables } });
        send(&mut socket, subscribe).await.map_err(&unavailable)?;
        Ok(events(socket, correlation_id).boxed())
    }
}

/// The events on `socket`, ending after the first error or at `complete`.
fn events(
    socket: Socket,
    correlation_id: String,
) -> impl Stream<Item = Result<SessionEvent, ClientError>> + Send {
    futures_util::stream::unfold(Some(socket), move |socket| {
        let correlation_id = correlation_id.clone();
        async move {
            let mut socket = socket?;
            let message = next_message(&mut socket).await;
            let item = match message {
                Some(message) if message["type"] == "next" => {
                    match parse(&message["payload"], &correlation_id) {
                        Ok(event) => return Some((Ok(event), Some(socket))),
                        Err(error) => Err(error),
                    }
                }
                Some(message) if message["type"] == "complete" => return None,
                other => Err(ClientError::Unavailable {
                    message: format!("the event stream ended: {other:?}"),
                    correlation_id,
                }),
            };
            Some((item, None))
        }
    })
}

/// The close code of a refused `connection_init` (graphql-transport-ws' "Forbidden").
const FORBIDDEN: u16 = 4403;

/// Wait for `connection_ack`; else the close code the service ended the connection with, if
/// any.
async fn acknowledged(socket: &mut Socket) -> Result<(), Option<u16>> {
    loop {
        match socket.next().await {
            Some(Ok(Message::Text(text))) => {
                let message: Value = serde_json::from_str(&text).map_err(|_| None)?;
                match message["type"].as_str() {
                    Some("connection_ack") => return Ok(()),
                    Some("ping") => send(socket, json!({ "type": "pong" }))
                        .await
                        .map_err(|_| None)?,
                    _ => return Err(None),
                }
            }
            Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| f.code.into())),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return Err(None),
        }
    }
}

/// The next protocol message, answering pings on the way; `None` once the socket is closed.
async fn next_message(socket: &mut Socket) -> Option<Value> {
    loop {
        match socket.next().await? {
            Ok(Message::Text(text)) => {
                let message: Value = serde_json::from_str(&text).ok()?;
                if message["type"] == "ping" {
                    send(socket, json!({ "type": "pong" })).await.ok()?;
                    continue;
                }
                return Some(message);
            }
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

async fn send(socket: &mut Socket, message: Value) -> Result<(), String> {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .map_err(|e| e.to_string())
}

/// A `next` payload as an event, or the error it carries.
fn parse(payload: &Value, correlation_id: &str) -> Result<SessionEvent, ClientError> {
    if let Some(error) = payload["errors"].get(0) {
        let code = error["extensions"]["code"].as_str().unwrap_or("UNKNOWN");
        let message = error["message"].as_str().unwrap_or_default().to_owned();
        let correlation_id = correlation_id.to_owned();
        return Err(match code {
            "UNAUTHENTICATED" => ClientError::Unauthenticated { correlation_id },
            "FORBIDDEN" => ClientError::Forbidden {
                message,
                correlation_id,
            },
            code => ClientError::Server {
                code: code.to_owned(),
                message,
                correlation_id,
            },
        });
    }
    let event = &payload["data"]["sessionEvents"];
    let text = |field: &str| event[field].as_str().unwrap_or_default();
    let bad = |what: &str| ClientError::Server {
        code: "BAD_RESPONSE".into(),
        message: format!("the service sent an event with a bad {what}: {event}"),
        correlation_id: correlation_id.to_owned(),
    };
    Ok(SessionEvent {
        kind: text("kind").parse().map_err(|_| bad("kind"))?,
        session_id: text("sessionId").parse().map_err(|_| bad("sessionId"))?,
        user_id: text("userId").to_owned(),
        at: text("at").parse().map_err(|_| bad("at"))?,
        reason: match event["reason"].as_str() {
            Some(reason) => Some(reason.parse().map_err(|_| bad("reason"))?),
            None => None,
        },
    })
}
