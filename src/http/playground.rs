//! `GET /`: the GraphiQL IDE, with the example operations of `playground/` as ready tabs.
//!
//! The page loads everything from this service ([`super::assets`]), and its
//! `Content-Security-Policy` lets it load nothing from anywhere else.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::json;

use super::AppState;
use super::assets::{self, ASSETS};

/// The page's `Content-Security-Policy`: scripts, styles, fonts and requests from this
/// service's own origin only. GraphiQL's fonts and icons are `data:` URLs inside its
/// stylesheet; its code editor sets element styles from script, which CSP allows.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; font-src 'self' data:; img-src 'self' data:; connect-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

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

/// The GraphiQL page for a router nested under `base_path` (empty at the root): its endpoint
/// is `{base_path}/graphql`, its files come from `{base_path}/playground/`, and it has one
/// tab per example; with `auth_on`, its headers editor opens with an `Authorization` header
/// to fill in.
pub fn page(base_path: &str, auth_on: bool) -> String {
    let base_path = base_path.trim_end_matches('/');
    let tabs: Vec<_> = EXAMPLES
        .iter()
        .map(|(_, source)| json!({ "query": source, "variables": example_variables(source) }))
        .collect();
    let list: String = EXAMPLES
        .iter()
        .map(|(name, _)| format!("<li>{name}</li>"))
        .collect();
    let config = json!({
        "endpoint": format!("{base_path}/graphql"),
        "tabs": tabs,
        "authOn": auth_on,
    });
    // Inside a <script> element only "</" can end it early; JSON allows "<\/" for it.
    let config = config.to_string().replace("</", "<\\/");
    let mut page = TEMPLATE
        .replace("__CONFIG__", &config)
        .replace("__EXAMPLE_LIST__", &list);
    for asset in ASSETS {
        page = page.replace(
            &format!("__ASSET({})__", asset.name),
            &assets::url(base_path, asset),
        );
    }
    page
}

/// `GET /`: the GraphiQL page rendered at startup.
pub async fn serve(State(state): State<AppState>) -> impl IntoResponse {
    let page: Bytes = state.playground.clone();
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        page,
    )
}
