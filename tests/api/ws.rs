//! A small `graphql-transport-ws` client over a real WebSocket, for the events tests (shared
//! by the `api` and `stores` test binaries).

// Each test binary uses only some of it.
#![allow(dead_code)]

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use std::net::SocketAddr;

/// Upper bound for anything these tests wait for.
const PATIENCE: Duration = Duration::from_secs(10);

/// One WebSocket connection to `/graphql`.
pub struct Ws {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// What the server did next.
#[derive(Debug, PartialEq)]
pub enum Next {
    /// A protocol message.
    Json(Value),
    /// It closed the connection with this code.
    Closed(u16),
}

impl Ws {
    /// Connect, asking for the `graphql-transport-ws` subprotocol.
    pub async fn connect(addr: SocketAddr) -> Self {
        Self::connect_with_header(addr, None).await
    }

    /// Connect with `authorization` as the handshake's `Authorization` header, if any.
    pub async fn connect_with_header(addr: SocketAddr, authorization: Option<&str>) -> Self {
        let mut request = format!("ws://{addr}/graphql")
            .into_client_request()
            .expect("request");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("graphql-transport-ws"),
        );
        if let Some(value) = authorization {
            request.headers_mut().insert(
                "Authorization",
                HeaderValue::from_str(value).expect("header value"),
            );
        }
        let (stream, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("WebSocket connects");
        assert_eq!(
            response.headers()["sec-websocket-protocol"],
            "graphql-transport-ws"
        );
        Self { stream }
    }

    /// Connect and complete the `connection_init` / `connection_ack` handshake.
    pub async fn ready(addr: SocketAddr) -> Self {
        let mut ws = Self::connect(addr).await;
        ws.send(json!({ "type": "connection_init" })).await;
        assert_eq!(ws.json().await["type"], "connection_ack");
        ws
    }

    /// Connect and send `connection_init` with `payload`; the server's answer is left unread.
    pub async fn init_with(addr: SocketAddr, payload: Value) -> Self {
        let mut ws = Self::connect(addr).await;
        ws.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        ws
    }

    /// Connect with `Authorization: Bearer <secret>` in `connection_init` and wait for the ack.
    pub async fn ready_as(addr: SocketAddr, secret: &str) -> Self {
        let mut ws =
            Self::init_with(addr, json!({ "Authorization": format!("Bearer {secret}") })).await;
        let ack = ws.json().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        ws
    }

    /// Send a protocol message.
    pub async fn send(&mut self, message: Value) {
        self.send_text(message.to_string()).await;
    }

    /// Send any text.
    pub async fn send_text(&mut self, text: String) {
        self.stream
            .send(Message::Text(text.into()))
            .await
            .expect("message sent");
    }

    /// Start subscription `id` of `sessionEvents` with these arguments (a GraphQL argument
    /// list, e.g. `(userId: "u")`, or empty).
    pub async fn subscribe(&mut self, id: &str, arguments: &str) {
        let query = format!(
            "subscription {{ sessionEvents{arguments} {{ kind sessionId userId at reason session {{ id active data }} }} }}"
        );
        self.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query } }))
            .await;
    }

    /// The next message or close, within `wait`; `None` if nothing came.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Next> {
        loop {
            let message = tokio::time::timeout(wait, self.stream.next()).await.ok()?;
            match message {
                Some(Ok(Message::Text(text))) => {
                    return Some(Next::Json(serde_json::from_str(&text).expect("JSON")));
                }
                Some(Ok(Message::Close(frame))) => {
                    return Some(Next::Closed(frame.map_or(1005, |f| f.code.into())));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Some(Next::Closed(1006)),
            }
        }
    }

    /// The next message, which must come within [`PATIENCE`] and be JSON.
    pub async fn json(&mut self) -> Value {
        match self.next_within(PATIENCE).await {
            Some(Next::Json(value)) => value,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// The next `next` payload's event, checking it belongs to subscription `id`.
    pub async fn event(&mut self, id: &str) -> Value {
        let message = self.json().await;
        assert_eq!(message["type"], "next", "{message}");
        assert_eq!(message["id"], id, "{message}");
        assert!(message["payload"].get("errors").is_none(), "{message}");
        message["payload"]["data"]["sessionEvents"].clone()
    }

    /// The close code the server ends the connection with, within [`PATIENCE`].
    pub async fn close_code(&mut self) -> u16 {
        loop {
            match self.next_within(PATIENCE).await {
                Some(Next::Closed(code)) => return code,
                Some(Next::Json(_)) => continue,
                None => panic!("the server did not close the connection"),
            }
        }
    }

    /// Nothing arrives within a short wait.
    pub async fn assert_quiet(&mut self) {
        let next = self.next_within(Duration::from_millis(300)).await;
        assert_eq!(next, None, "expected nothing");
    }
}
