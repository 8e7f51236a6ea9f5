//! Criterion benches of the request hot path, in process: GraphQL `session(id)` through the
//! schema with and without the parsed-document cache, and through the whole router (every
//! middleware: correlation id, log span, metrics, limits, authentication) for GraphQL
//! `session(id)` and REST v1 `get_session_by_id`.
//!
//! Run: `cargo bench --bench http` (add a name filter such as `-- schema` to run some). The
//! figures are CPU per request on one thread; `loadtest/peers.sh` measures the same paths
//! over TCP against the limit server (see the README's "Performance" section).

use std::hint::black_box;
use std::sync::Arc;

use async_graphql::{Request, Variables};
use axum::Router;
use axum::body::Body;
use axum::http::{Method, header};
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::BodyExt;
use serde_json::json;
use sessions::graphql::build_schema_with_cache;
use sessions::{
    AppSchema, ControllerOptions, HttpOptions, MemoryStore, NewSession, SessionsController,
};
use tokio::runtime::Runtime;
use tower::ServiceExt;

/// The document the load test reads with (`gql_session_by_id.lua`).
const QUERY: &str = "query($id: ID!){ session(id:$id){ id userId active requestTime data } }";

/// A memory store holding one session, and its id.
fn controller_with_session(runtime: &Runtime) -> (SessionsController, String) {
    let controller =
        SessionsController::new(Arc::new(MemoryStore::new()), ControllerOptions::default());
    let session = runtime
        .block_on(controller.open(NewSession {
            user_id: "u-bench".into(),
            user_name: Some("Bench".into()),
            client: Some("criterion".into()),
            data: Some(json!({"theme": "dark", "counter": 1})),
            ..NewSession::default()
        }))
        .expect("opened");
    (controller, session.id.to_string())
}

fn read(schema: &AppSchema, id: &str) -> impl Future<Output = async_graphql::Response> {
    let variables = Variables::from_json(json!({ "id": id }));
    schema.execute(Request::new(QUERY).variables(variables))
}

fn schema(c: &mut Criterion) {
    let runtime = Runtime::new().expect("runtime");
    let (controller, id) = controller_with_session(&runtime);
    let mut group = c.benchmark_group("schema");
    for (name, capacity) in [("session_by_id_cached", 256), ("session_by_id_uncached", 0)] {
        let schema = build_schema_with_cache(controller.clone(), capacity);
        let first = runtime.block_on(read(&schema, &id));
        assert!(first.errors.is_empty(), "{:?}", first.errors);
        group.bench_function(name, |b| {
            b.to_async(&runtime)
                .iter(|| async { black_box(read(&schema, &id).await) });
        });
    }
    group.finish();
}

fn post(path: &str, body: String) -> axum::http::Request<Body> {
    axum::http::Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("request")
}

async fn answer(router: &Router, request: axum::http::Request<Body>) -> usize {
    let response = router.clone().oneshot(request).await.expect("infallible");
    assert!(response.status().is_success(), "{}", response.status());
    let body = response.into_body().collect().await.expect("body");
    body.to_bytes().len()
}

fn router(c: &mut Criterion) {
    let runtime = Runtime::new().expect("runtime");
    let (controller, id) = controller_with_session(&runtime);
    let router = sessions::router(
        sessions::build_schema(controller.clone()),
        controller,
        &HttpOptions::default(),
    );
    let graphql = json!({ "query": QUERY, "variables": { "id": id } }).to_string();
    let rest = json!({ "session_id": id }).to_string();
    let mut group = c.benchmark_group("router");
    group.bench_function("graphql_session_by_id", |b| {
        b.to_async(&runtime)
            .iter(|| async { black_box(answer(&router, post("/graphql", graphql.clone())).await) });
    });
    group.bench_function("rest_get_session_by_id", |b| {
        b.to_async(&runtime).iter(|| async {
            black_box(
                answer(
                    &router,
                    post("/v1/sessions/get_session_by_id", rest.clone()),
                )
                .await,
            )
        });
    });
    group.finish();
}

criterion_group!(benches, schema, router);
criterion_main!(benches);
