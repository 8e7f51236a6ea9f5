//! Reading a request body within the size limit, for the handlers that parse it themselves.

use std::error::Error as _;

use axum::body::{Body, Bytes};
use http_body_util::LengthLimitError;

use super::MAX_BODY_BYTES;

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

/// Read the whole body, refusing more than [`MAX_BODY_BYTES`].
///
/// # Errors
/// [`BodyError::TooLarge`] past the limit (declared or streamed), else `Unreadable`.
pub async fn read(body: Body) -> Result<Bytes, BodyError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|error| {
            if is_too_large(&error) {
                BodyError::TooLarge
            } else {
                BodyError::Unreadable(error)
            }
        })
}

fn is_too_large(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = error.source();
    while let Some(inner) = source {
        if inner.is::<LengthLimitError>() {
            return true;
        }
        source = inner.source();
    }
    false
}
