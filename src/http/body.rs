//! Reading a request body within the size limit, for the handlers that parse it themselves.
//!
//! A body over the limit is still read, and thrown away, up to [`MAX_DRAIN_BYTES`] before the
//! handler answers 413: a server that answers and closes while the client is still sending
//! makes the client's TCP stack see a reset, and most clients then report "connection reset"
//! instead of the JSON answer. Past [`MAX_DRAIN_BYTES`] the connection is not worth keeping
//! and is closed (`RequestBodyLimitLayer` in [`super::router`] enforces that bound).

use std::error::Error as _;

use axum::body::{Body, Bytes, HttpBody as _};
use axum::http::{HeaderMap, header};
use http_body_util::{BodyExt, LengthLimitError};

use super::MAX_BODY_BYTES;

/// Most bytes of a too-large or refused body read and discarded before answering, so the
/// client can read the answer; beyond it the connection is closed instead.
pub const MAX_DRAIN_BYTES: usize = 8 * 1024 * 1024;

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Larger than [`MAX_BODY_BYTES`].
    #[error("request body is larger than 1 MiB")]
    TooLarge,
    /// The connection failed while reading.
    #[error("could not read the request body: {0}")]
    Unreadable(#[source] axum::Error),
}

/// Read the whole body, refusing more than [`MAX_BODY_BYTES`]. The rest of a larger body is
/// read and dropped (see the module docs).
///
/// # Errors
/// [`BodyError::TooLarge`] past the limit (declared or streamed), else `Unreadable`.
pub async fn read(mut body: Body) -> Result<Bytes, BodyError> {
    let declared = body.size_hint().exact();
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        discard(body).await;
        return Err(BodyError::TooLarge);
    }
    let mut bytes = Vec::with_capacity(declared.map_or(0, |n| n as usize));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(classify)?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        if bytes.len() + data.len() > MAX_BODY_BYTES {
            discard(body).await;
            return Err(BodyError::TooLarge);
        }
        bytes.extend_from_slice(&data);
    }
    Ok(Bytes::from(bytes))
}

/// Read and drop what is left of a body, up to [`MAX_DRAIN_BYTES`] in all, so that an answer
/// sent before the body was used still reaches the client.
pub async fn discard(mut body: Body) {
    let mut seen = 0usize;
    while seen <= MAX_DRAIN_BYTES {
        match body.frame().await {
            Some(Ok(frame)) => seen += frame.data_ref().map_or(0, Bytes::len),
            Some(Err(_)) | None => return,
        }
    }
}

/// The JSON media types a request body may be sent as.
pub const JSON_TYPES: [&str; 2] = ["application/json", "application/graphql-response+json"];

/// Whether the request says its body is JSON (parameters such as `charset` allowed).
///
/// A request without a `Content-Type` is *not* JSON: browsers send one without a preflight
/// from any page (a `fetch` with a `Blob` body), and a state-changing request must be one a
/// browser cannot send cross-site without asking first (CSRF). Requiring a JSON type makes
/// every cross-site POST a CORS "non-simple" request, which the browser preflights and the
/// CORS policy refuses.
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let essence = v.split(';').next().unwrap_or("").trim();
            JSON_TYPES.iter().any(|t| essence.eq_ignore_ascii_case(t))
        })
}

fn classify(error: axum::Error) -> BodyError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = error.source();
    while let Some(inner) = source {
        if inner.is::<LengthLimitError>() {
            return BodyError::TooLarge;
        }
        source = inner.source();
    }
    BodyError::Unreadable(error)
}
