//! `GET /playground/{file}`: GraphiQL, React, graphql-ws and the page's own script and style, compiled
//! into the binary, so the playground works without internet access.
//!
//! The third-party files are the unmodified production bundles from the npm registry, kept in
//! `playground/vendor/` with their licenses and SHA-256 sums (`scripts/update-graphiql.sh`
//! refreshes them). Their URLs carry a fingerprint of their content, so browsers may cache
//! them for a year and still never run a stale copy after an upgrade.

use std::hash::{DefaultHasher, Hasher};
use std::sync::OnceLock;

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Where the files are served, below the router's base path.
pub const PREFIX: &str = "/playground";

/// `Cache-Control` of every file: a year, never revalidated (the URL changes with the content).
pub const CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// A file of the playground, as served.
#[derive(Debug)]
pub struct Asset {
    /// Its name under [`PREFIX`].
    pub name: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes, compiled in.
    pub bytes: &'static [u8],
    /// Where it comes from in the repository, relative to `playground/`.
    pub source: &'static str,
}

macro_rules! asset {
    ($name:literal, $content_type:expr, $source:literal) => {
        Asset {
            name: $name,
            content_type: $content_type,
            bytes: include_bytes!(concat!("../../playground/", $source)),
            source: $source,
        }
    };
}

/// Every file served under [`PREFIX`].
pub const ASSETS: &[Asset] = &[
    asset!("graphiql.min.js", JS, "vendor/graphiql/graphiql.min.js"),
    asset!("graphiql.min.css", CSS, "vendor/graphiql/graphiql.min.css"),
    asset!("graphiql.LICENSE.txt", TEXT, "vendor/graphiql/LICENSE"),
    asset!(
        "react.production.min.js",
        JS,
        "vendor/react/react.production.min.js"
    ),
    asset!("react.LICENSE.txt", TEXT, "vendor/react/LICENSE"),
    asset!(
        "react-dom.production.min.js",
        JS,
        "vendor/react-dom/react-dom.production.min.js"
    ),
    asset!("react-dom.LICENSE.txt", TEXT, "vendor/react-dom/LICENSE"),
    asset!(
        "graphql-ws.min.js",
        JS,
        "vendor/graphql-ws/graphql-ws.min.js"
    ),
    asset!(
        "graphql-ws.LICENSE.txt",
        TEXT,
        "vendor/graphql-ws/LICENSE.md"
    ),
    asset!("init.js", JS, "init.js"),
    asset!("page.css", CSS, "page.css"),
];

/// The asset called `name`, if there is one.
pub fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.name == name)
}

/// The URL path of `asset` under `base_path`, with its content fingerprint as `?v=`.
pub fn url(base_path: &str, asset: &Asset) -> String {
    static FINGERPRINTS: OnceLock<Vec<u64>> = OnceLock::new();
    // Hashing 4 MB takes a moment; every router in the process shares one computation.
    let fingerprints = FINGERPRINTS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|asset| {
                let mut hasher = DefaultHasher::new();
                hasher.write(asset.bytes);
                hasher.finish()
            })
            .collect()
    });
    let index = ASSETS
        .iter()
        .position(|known| known.name == asset.name)
        .unwrap_or_default();
    format!(
        "{base_path}{PREFIX}/{}?v={:016x}",
        asset.name, fingerprints[index]
    )
}

/// `GET /playground/{file}`: the file, cacheable for a year; 404 for any other name.
pub async fn serve(Path(file): Path<String>) -> Response {
    let Some(asset) = find(&file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            (header::CACHE_CONTROL, CACHE_CONTROL),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        Bytes::from_static(asset.bytes),
    )
        .into_response()
}
