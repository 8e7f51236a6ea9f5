//! The `graphql-transport-ws` protocol on `/graphql`: its close codes and limits.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::spawn_app;
use crate::ws::{Next, Ws};

const SUBSCRIPTION: &str = "subscription { sessionEvents { kind } }";

#[tokio::test]
async fn a_message_that_is_not_a_protocol_message_closes_with_4400() {
    let app = spawn_app().await;
    for bad in [
        "not json",
        r#"{"type":"nonsense"}"#,
        r#"{"type":"subscribe"}"#,
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    ] {
        let mut ws = Ws::ready(app.addr).await;
        ws.send_text(bad.to_owned()).await;
        assert_eq!(ws.close_code().await, 4400, "for {bad}");
    }
}

#[tokio::test]
async fn a_message_over_the_body_limit_closes_with_4400() {
    let app = spawn_app().await;
    let mut ws = Ws::ready(app.addr).await;
    let query = format!(
        "{SUBSCRIPTION} # {}",
        "x".repeat(sessions::http::MAX_BODY_BYTES)
    );
    ws.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": query } }))
        .await;
    assert_eq!(ws.close_code().await, 4400);
}

#[tokio::test]
async fn subscribing_before_connection_init_closes_with_4401() {
    let app = spawn_app().await;
    let mut ws = Ws::connect(app.addr).await;
    ws.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": SUBSCRIPTION } }))
        .await;
    assert_eq!(ws.close_code().await, 4401);
}

#[tokio::test]
async fn reusing_the_id_of_a_running_subscription_closes_with_4409() {
    let app = spawn_app().await;
    let mut ws = Ws::ready(app.addr).await;
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": SUBSCRIPTION } });
    ws.send(subscribe.clone()).await;
    ws.send(subscribe).await;
    assert_eq!(ws.close_code().await, 4409);
}

#[tokio::test]
async fn an_id_is_free_again_once_its_subscription_completed() {
    let app = spawn_app().await;
    let mut ws = Ws::ready(app.addr).await;
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": SUBSCRIPTION } });
    ws.send(subscribe.clone()).await;
    ws.send(json!({ "id": "1", "type": "complete" })).await;
    ws.send(subscribe).await;
    ws.send(json!({ "type": "ping" })).await;
    loop {
        let message = ws.json().await;
        if message["type"] == "pong" {
            break;
        }
        assert_eq!(message["type"], "complete", "{message}");
    }
}

#[tokio::test]
async fn a_second_connection_init_closes_with_4429() {
    let app = spawn_app().await;
    let mut ws = Ws::ready(app.addr).await;
    ws.send(json!({ "type": "connection_init" })).await;
    assert_eq!(ws.close_code().await, 4429);
}

#[tokio::test]
async fn a_connection_without_connection_init_is_closed_with_4408_after_ten_seconds() {
    let app = spawn_app().await;
    let mut ws = Ws::connect(app.addr).await;
    let start = Instant::now();
    let next = ws.next_within(Duration::from_secs(20)).await;
    assert_eq!(next, Some(Next::Closed(4408)));
    assert!(
        start.elapsed() >= Duration::from_secs(9),
        "closed too early"
    );
}

#[tokio::test]
async fn a_ping_is_answered_with_a_pong_even_before_init() {
    let app = spawn_app().await;
    let mut ws = Ws::connect(app.addr).await;
    ws.send(json!({ "type": "ping", "payload": { "n": 1 } }))
        .await;
    assert_eq!(ws.json().await["type"], "pong");
}

#[tokio::test]
async fn the_hundred_and_first_subscription_of_a_connection_gets_an_error() {
    let app = spawn_app().await;
    let mut ws = Ws::ready(app.addr).await;
    for n in 0..=sessions::http::ws::MAX_SUBSCRIPTIONS {
        ws.send(json!({ "id": n.to_string(), "type": "subscribe", "payload": { "query": SUBSCRIPTION } }))
            .await;
    }
    let error = ws.json().await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["id"], "100");
    // The connection stays open for the hundred that run.
    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(ws.json().await["type"], "pong");
}

#[tokio::test]
async fn an_invalid_subscription_document_is_answered_with_errors_not_a_crash() {
    let app = spawn_app().await;
    let mut ws = Ws::ready(app.addr).await;
    let deep = format!(
        "subscription {{ sessionEvents {{ kind {}{} }} }}",
        "{".repeat(200),
        "}".repeat(200)
    );
    ws.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": deep } }))
        .await;
    let answer = ws.json().await;
    assert_eq!(answer["type"], "next", "{answer}");
    assert_eq!(
        answer["payload"]["errors"][0]["extensions"]["code"],
        "GRAPHQL_PARSE_FAILED"
    );
    assert_eq!(ws.json().await["type"], "complete");
}

#[tokio::test]
async fn connections_over_the_websocket_cap_are_refused_with_503() {
    let config = sessions::config::Config {
        max_websockets: 1,
        ..sessions::config::Config::for_tests()
    };
    let app =
        crate::helpers::spawn_app_with(config, std::sync::Arc::new(sessions::clock::SystemClock))
            .await;
    let _first = Ws::ready(app.addr).await;
    let request = format!("ws://{}/graphql", app.addr);
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(request)
            .expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        tokio_tungstenite::tungstenite::http::HeaderValue::from_static("graphql-transport-ws"),
    );
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503);
        }
        other => panic!("expected 503, got {:?}", other.map(|_| ())),
    }
}
