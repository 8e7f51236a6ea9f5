//! The playground's files: vendored exactly as `scripts/update-graphiql.sh` recorded them,
//! served from the binary with long cache lifetimes, and the page asks for nothing else.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use sessions::http::assets::{ASSETS, CACHE_CONTROL as LONG_CACHE};
use sha2::{Digest, Sha256};

use crate::helpers::spawn_app;

fn playground_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("playground")
}

/// `SHA256SUMS` as a map from path (relative to `playground/vendor/`) to hex digest.
fn recorded_sums(vendor: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(vendor.join("SHA256SUMS")).expect("SHA256SUMS is readable");
    text.lines()
        .map(|line| {
            let (sum, path) = line
                .split_once("  ")
                .unwrap_or_else(|| panic!("not a sha256sum line: {line:?}"));
            (path.to_owned(), sum.to_owned())
        })
        .collect()
}

/// Every file under `dir`, as paths relative to it.
fn files_under(dir: &Path, prefix: &str, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("readable folder") {
        let entry = entry.expect("directory entry");
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        if entry.file_type().expect("file type").is_dir() {
            files_under(&entry.path(), &format!("{name}/"), found);
        } else {
            found.push(name);
        }
    }
}

#[test]
fn every_vendored_file_has_the_sha256_sum_the_refresh_script_recorded() {
    // Arrange
    let vendor = playground_dir().join("vendor");
    let recorded = recorded_sums(&vendor);
    let mut present = Vec::new();
    files_under(&vendor, "", &mut present);
    present.retain(|name| name != "SHA256SUMS");
    present.sort();

    // Act
    let actual: BTreeMap<String, String> = present
        .iter()
        .map(|name| {
            let bytes = std::fs::read(vendor.join(name)).expect("readable file");
            (name.clone(), format!("{:x}", Sha256::digest(&bytes)))
        })
        .collect();

    // Assert
    assert_eq!(
        actual, recorded,
        "playground/vendor/ differs from its SHA256SUMS"
    );
    for license in [
        "graphiql/LICENSE",
        "react/LICENSE",
        "react-dom/LICENSE",
        "graphql-ws/LICENSE.md",
    ] {
        assert!(recorded.contains_key(license), "{license} is not vendored");
    }
}

#[test]
fn every_vendored_file_is_compiled_into_the_binary() {
    // Arrange
    let recorded = recorded_sums(&playground_dir().join("vendor"));

    // Act
    let served: Vec<&str> = ASSETS.iter().map(|asset| asset.source).collect();

    // Assert
    for path in recorded.keys() {
        let source = format!("vendor/{path}");
        assert!(served.contains(&source.as_str()), "{source} is not served");
    }
}

#[tokio::test]
async fn the_playground_files_are_served_as_vendored_with_a_year_of_caching() {
    // Arrange
    let app = spawn_app().await;

    for asset in ASSETS {
        // Act
        let response = app
            .client
            .get(app.url(&format!("/playground/{}", asset.name)))
            .send()
            .await
            .expect("request sent");

        // Assert
        assert_eq!(response.status(), StatusCode::OK, "{}", asset.name);
        let header = |name| response.headers()[name].to_str().expect("text").to_owned();
        assert_eq!(header(CONTENT_TYPE), asset.content_type, "{}", asset.name);
        assert_eq!(header(CACHE_CONTROL), LONG_CACHE, "{}", asset.name);
        let on_disk = std::fs::read(playground_dir().join(asset.source)).expect("readable");
        let body = response.bytes().await.expect("body");
        assert!(
            body == on_disk,
            "{} is not served as it is on disk",
            asset.name
        );
    }
}

#[tokio::test]
async fn an_unknown_playground_file_is_a_json_not_found() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = app
        .client
        .get(app.url("/playground/graphiql.min.js.map"))
        .send()
        .await
        .expect("request sent");

    // Assert
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(
        response.headers()[CONTENT_TYPE]
            .to_str()
            .expect("text")
            .starts_with("application/json")
    );
}

#[tokio::test]
async fn the_page_loads_scripts_and_styles_from_the_service_only() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = app
        .client
        .get(app.url("/"))
        .send()
        .await
        .expect("request sent");

    // Assert
    let policy = response.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .expect("text")
        .to_owned();
    let directives: BTreeMap<&str, &str> = policy
        .split(';')
        .filter_map(|directive| directive.trim().split_once(' '))
        .collect();
    assert_eq!(directives.get("default-src"), Some(&"'none'"), "{policy}");
    assert_eq!(directives.get("script-src"), Some(&"'self'"), "{policy}");
    assert_eq!(directives.get("style-src"), Some(&"'self'"), "{policy}");
    assert_eq!(directives.get("connect-src"), Some(&"'self'"), "{policy}");
    let page = response.text().await.expect("body");
    assert!(!page.contains("__"), "a placeholder was left in the page");
    for remote in ["http://", "https://", "//unpkg", "cdn"] {
        assert!(!page.contains(remote), "the page refers to {remote}");
    }
    for asset in ["graphiql.min.js", "graphiql.min.css", "init.js"] {
        assert!(
            page.contains(&format!("\"/playground/{asset}?v=")),
            "the page does not load {asset}"
        );
    }
    // Scripts only by reference: the one inline <script> holds JSON data, which never runs.
    assert_eq!(page.matches("<script>").count(), 0, "an inline script");
    assert_eq!(page.matches("<style").count(), 0, "an inline style");
}
