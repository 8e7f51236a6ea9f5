//! The `DateTime` scalar: RFC 3339 in UTC with exactly three fraction digits.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{DateTime, SecondsFormat, Utc};

use super::errors::code;

/// A point in time, written as RFC 3339 in UTC with milliseconds, e.g. `2026-11-25T17:04:05.123Z`.
///
/// async-graphql's own chrono scalar prints `+00:00` and a varying number of fraction digits;
/// this one always prints the same shape, so clients can compare times as text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timestamp(pub DateTime<Utc>);

/// A point in time: RFC 3339 in UTC with milliseconds, e.g. "2026-11-25T17:04:05.123Z". Inputs may use any offset; they are converted to UTC.
#[Scalar(
    name = "DateTime",
    specified_by_url = "https://datatracker.ietf.org/doc/html/rfc3339"
)]
impl ScalarType for Timestamp {
    fn parse(value: Value) -> InputValueResult<Self> {
        let Value::String(text) = &value else {
            return Err(InputValueError::expected_type(value));
        };
        DateTime::parse_from_rfc3339(text)
            .map(|time| Self(time.with_timezone(&Utc)))
            .map_err(|error| {
                InputValueError::custom(format!(
                    "{text:?} is not an RFC 3339 date-time like \"2026-11-25T17:04:05.123Z\": {error}"
                ))
                .with_extension("code", code::BAD_USER_INPUT)
            })
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}
