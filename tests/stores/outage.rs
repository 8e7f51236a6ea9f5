//! When PostgreSQL goes away under a running service, clients get `STORE_UNAVAILABLE` (never a
//! 5xx page), operators see it on `/status`, and the service recovers by itself.

use std::net::SocketAddr;
use std::time::Instant;

use serde_json::{Value, json};
use sessions::config::Config;
use sessions::store::StoreUrl;
use tokio::sync::oneshot;

use crate::durable::terminate;
use crate::proxy::Proxy;
use crate::server::{FIELDS, PATIENCE, POLL};
use crate::support::Backend;

/// A server running in this process over `store`; stops when dropped.
struct InProcess {
    addr: SocketAddr,
    client: reqwest::Client,
    _stop: oneshot::Sender<()>,
}

impl InProcess {
    async fn start(store: String) -> Self {
        let mut config = Config::for_tests();
        config.store = StoreUrl::new(store);
        let app = sessions::app::build(&config).await.expect("app builds");
        let addr = app.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(app.serve(async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            client: reqwest::Client::new(),
            _stop: stop,
        }
    }

    /// GET `path`: status, content type and body.
    async fn get(&self, path: &str) -> (u16, String, String) {
        let response = self
            .client
            .get(format!("http://{}{path}", self.addr))
            .send()
            .await
            .expect("answered");
        let status = response.status().as_u16();
        let kind = content_type(&response);
        (status, kind, response.text().await.expect("body"))
    }

    /// POST GraphQL: status, content type and JSON body.
    async fn graphql(&self, query: &str, variables: Value) -> (u16, String, Value) {
        let response = self
            .client
            .post(format!("http://{}/graphql", self.addr))
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("answered");
        let status = response.status().as_u16();
        let kind = content_type(&response);
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        (status, kind, body)
    }

    async fn read(&self, id: &Value) -> (u16, String, Value) {
        let query = format!("query($id: ID!) {{ session(id: $id) {{ {FIELDS} }} }}");
        self.graphql(&query, json!({ "id": id })).await
    }

    /// Poll reading `id` until it succeeds; the session. Panics after [`PATIENCE`].
    async fn read_when_back(&self, id: &Value) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let (status, _, body) = self.read(id).await;
            if status == 200 && body.get("errors").is_none() {
                return body["data"]["session"].clone();
            }
            assert!(Instant::now() < deadline, "still failing: {body}");
            tokio::time::sleep(POLL).await;
        }
    }
}

fn content_type(response: &reqwest::Response) -> String {
    let value = response.headers().get(reqwest::header::CONTENT_TYPE);
    value
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Where the `host:port` of `url` is.
fn host_range(url: &str) -> std::ops::Range<usize> {
    let authority = url.find("://").expect("a scheme") + 3;
    let end = url[authority..]
        .find(['/', '?'])
        .map_or(url.len(), |i| authority + i);
    let host = url[authority..end]
        .rfind('@')
        .map_or(authority, |at| authority + at + 1);
    assert!(host < end, "the outage tests need a TCP URL");
    host..end
}

/// The `host:port` `url` connects to.
fn upstream(url: &str) -> String {
    let host = &url[host_range(url)];
    if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    }
}

/// `url`, connecting to `addr` instead.
fn redirect(url: &str, addr: SocketAddr) -> String {
    let host = host_range(url);
    format!("{}{addr}{}", &url[..host.start], &url[host.end..])
}

async fn open(server: &InProcess) -> Value {
    let query = format!(
        "mutation {{ openSession(input: {{userId: \"outage\", data: {{n: 1}}}}) {{ {FIELDS} }} }}"
    );
    let (status, _, body) = server.graphql(&query, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["openSession"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_postgres_is_away_requests_get_store_unavailable_and_service_resumes_on_its_own() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let direct = backend.url().expose().to_owned();
    let proxy = Proxy::start(upstream(&direct)).await;
    let server = InProcess::start(redirect(&direct, proxy.addr)).await;
    let session = open(&server).await;

    proxy.cut();
    let operations = [
        "query($id: ID!) { session(id: $id) { id } }".to_owned(),
        "query { sessions { total data { id } } }".to_owned(),
        "mutation { openSession(input: {userId: \"x\"}) { id } }".to_owned(),
        "mutation($id: ID!) { storeSessionData(sessionId: $id, data: 2) { id } }".to_owned(),
        "mutation($id: ID!) { closeSession(sessionId: $id) { id } }".to_owned(),
        "mutation { closeExpiredSessions }".to_owned(),
    ];
    for operation in &operations {
        let variables = if operation.contains("$id") {
            json!({"id": session["id"]})
        } else {
            json!({})
        };
        let (status, kind, body) = server.graphql(operation, variables).await;
        assert_eq!(status, 200, "{operation}: {body}");
        assert!(kind.contains("json"), "{operation}: content type {kind}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "STORE_UNAVAILABLE",
            "{operation}: {body}"
        );
    }
    let (status, kind, body) = server.get("/status").await;
    let status_body: Value = serde_json::from_str(&body).expect("status is JSON");
    assert_eq!((status, kind.contains("json")), (503, true), "{body}");
    assert_eq!(
        status_body["store"],
        json!({"kind": "postgres", "available": false})
    );
    assert_eq!(server.get("/heartbeat").await.0, 200);

    proxy.restore();
    let read = server.read_when_back(&session["id"]).await;

    assert_eq!(read, session);
    assert_eq!(open(&server).await["active"], true);
    let (status, _, body) = server.get("/status").await;
    assert_eq!(status, 200, "{body}");
    drop(server);
    backend.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_postgres_drops_the_services_connections_the_service_reconnects_by_itself() {
    let Some(backend) = Backend::postgres().await else {
        return;
    };
    let name = format!("sessions-{}", uuid::Uuid::new_v4().simple());
    let url = format!("{}&application_name={name}", backend.url().expose());
    let server = InProcess::start(url).await;
    let session = open(&server).await;

    let terminated = terminate(&backend, &name).await;
    let (status, _, first) = server.read(&session["id"]).await;
    let read = server.read_when_back(&session["id"]).await;

    assert!(terminated > 0, "the service had no connection to drop");
    // The dead connection is found by the read itself, which runs once more on a new one:
    // the client sees no error.
    assert_eq!(status, 200, "{first}");
    assert!(first.get("errors").is_none(), "{first}");
    assert_eq!(first["data"]["session"], session);
    assert_eq!(read, session);
    drop(server);
    backend.cleanup().await;
}
