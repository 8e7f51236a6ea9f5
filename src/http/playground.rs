//! `GET /`: the GraphiQL IDE, with the example operations of `playground/` as ready tabs.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::json;

use super::AppState;

/// Each example operation: its file name and its text, compiled into the binary.
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "open-session.graphql",
        include_str!("../../playground/open-session.graphql"),
    ),
    (
        "get-session.graphql",
        include_str!("../../playground/get-session.graphql"),
    ),
    (
        "list-user-sessions.graphql",
        include_str!("../../playground/list-user-sessions.graphql"),
    ),
    (
        "store-session-data.graphql",
        include_str!("../../playground/store-session-data.graphql"),
    ),
    (
        "update-session-user.graphql",
        include_str!("../../playground/update-session-user.graphql"),
    ),
    (
        "close-session.graphql",
        include_str!("../../playground/close-session.graphql"),
    ),
    (
        "close-expired-sessions.graphql",
        include_str!("../../playground/close-expired-sessions.graphql"),
    ),
    (
        "delete-session.graphql",
        include_str!("../../playground/delete-session.graphql"),
    ),
    (
        "session-events.graphql",
        include_str!("../../playground/session-events.graphql"),
    ),
];

const TEMPLATE: &str = include_str!("../../playground/index.html");

/// The comment line in an example that holds its variables as JSON.
pub const VARIABLES_PREFIX: &str = "# variables:";

/// The variables an example declares on its `# variables:` line, as JSON text (`{}` when none).
pub fn example_variables(source: &str) -> &str {
    source
        .lines()
        .find_map(|line| line.trim().strip_prefix(VARIABLES_PREFIX))
        .map_or("{}", str::trim)
}

/// The GraphiQL page, pointed at `endpoint`, with one tab per example; with `auth_on`, its
/// headers editor opens with an `Authorization` header to fill in.
pub fn page(endpoint: &str, auth_on: bool) -> String {
    let tabs: Vec<_> = EXAMPLES
        .iter()
        .map(|(_, source)| json!({ "query": source, "variables": example_variables(source) }))
        .collect();
    let list: String = EXAMPLES
        .iter()
        .map(|(name, _)| format!("<li>{name}</li>"))
        .collect();
    // Inside a <script> element only "</" can end it early; JSON allows "<\/" for it.
    let tabs = serde_json::Value::from(tabs)
        .to_string()
        .replace("</", "<\\/");
    let endpoint = serde_json::Value::from(endpoint)
        .to_string()
        .replace("</", "<\\/");
    TEMPLATE
        .replace("__TABS__", &tabs)
        .replace("__ENDPOINT__", &endpoint)
        .replace("__EXAMPLE_LIST__", &list)
        .replace("__AUTH_ON__", if auth_on { "true" } else { "false" })
}

/// `GET /`: the GraphiQL page rendered at startup.
pub async fn serve(State(state): State<AppState>) -> impl IntoResponse {
    let page: Bytes = state.playground.clone();
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page)
}
