//! The v1 wire format: snake_case JSON sessions, and lenient reading of the original's
//! request bodies (where numbers and booleans may arrive as strings). The one place where
//! the REST shape and the model meet.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::controller::Paging;
use crate::error::{InputField, SessionError};
use crate::model::{CloseReason, NewSession, Session, SessionFilter, SessionId};

/// A session as the v1 API writes it. Absent optional values are `null`, never missing.
#[derive(Debug, Serialize)]
pub struct SessionV1<'a> {
    id: String,
    user_id: &'a str,
    user_name: Option<&'a str>,
    active: bool,
    open_time: String,
    request_time: String,
    close_time: Option<String>,
    address: Option<&'a str>,
    client: Option<&'a str>,
    /// Why it closed (`LOGOUT`, `IDLE_TIMEOUT`, …); `null` while open or not recorded.
    close_reason: Option<&'static str>,
    /// Who closed it (`system`, `key:NAME`, `session:ID`, `anonymous`); `null` while open.
    closed_by: Option<&'a str>,
    /// When it expires unless active again; `null` once closed.
    expires_at: Option<String>,
    /// Left out of listings, as the original does; `null` when empty otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<Option<&'a Value>>,
    /// Left out of listings, as the original does; `null` when empty otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Option<&'a Value>>,
    /// The session token, in the answer of `open_session` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
}

impl<'a> SessionV1<'a> {
    /// The full session, cached `user` and `data` included; `expires_at` as the controller
    /// computes it.
    pub fn full(session: &'a Session, expires_at: Option<DateTime<Utc>>) -> Self {
        Self {
            user: Some(session.user.as_ref()),
            data: Some(session.data.as_ref()),
            ..Self::summary(session, expires_at)
        }
    }

    /// The session without `user` and `data`, as listings show it.
    pub fn summary(session: &'a Session, expires_at: Option<DateTime<Utc>>) -> Self {
        Self {
            id: session.id.to_string(),
            user_id: &session.user_id,
            user_name: session.user_name.as_deref(),
            active: session.active,
            open_time: format_time(session.open_time),
            request_time: format_time(session.request_time),
            close_time: session.close_time.map(format_time),
            address: session.address.as_deref(),
            client: session.client.as_deref(),
            close_reason: session.close_reason.map(CloseReason::as_str),
            closed_by: session.closed_by.as_deref(),
            expires_at: expires_at.map(format_time),
            user: None,
            data: None,
            token: None,
        }
    }

    /// The same answer carrying the session's token (`open_session`).
    pub fn with_token(self, token: &'a str) -> Self {
        Self {
            token: Some(token),
            ..self
        }
    }
}

/// A page of a v1 listing.
#[derive(Debug, Serialize)]
pub struct PageV1<'a> {
    /// The number of all matches when asked for, else `null`.
    pub total: Option<u64>,
    /// The sessions, without `user` and `data`.
    pub data: Vec<SessionV1<'a>>,
}

/// ISO 8601 in UTC with milliseconds, e.g. `2026-11-25T17:18:31.110Z`.
pub fn format_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The v1 name of an input field (snake_case), for error messages.
pub fn field_name(field: InputField) -> &'static str {
    match field {
        InputField::Id => "id",
        InputField::SessionId => "session_id",
        InputField::FilterId => "filter.id",
        InputField::FilterUserId => "filter.user_id",
        InputField::UserId => "user_id",
        InputField::UserName => "user_name",
        InputField::Address => "address",
        InputField::Client => "client",
        InputField::User => "user",
        InputField::Data => "data",
        InputField::Filter => "filter",
        InputField::FilterActive => "filter.active",
        InputField::FromTime => "filter.from_time",
        InputField::ToTime => "filter.to_time",
        InputField::Paging => "paging",
        InputField::Skip => "paging.skip",
        InputField::Take => "paging.take",
        InputField::Total => "paging.total",
        InputField::Reason => "reason",
        InputField::ExceptSessionId => "except_session_id",
    }
}

/// A request body: a JSON object (an empty or `null` body counts as `{}`).
pub struct Body(Map<String, Value>);

impl Body {
    /// Wrap a parsed body; anything but an object (or null) is refused.
    pub fn new(value: Value) -> Result<Self, String> {
        match value {
            Value::Object(map) => Ok(Self(map)),
            Value::Null => Ok(Self(Map::new())),
            _ => Err("the request body must be a JSON object".into()),
        }
    }

    /// The `session_id` parameter, required.
    pub fn session_id(&self) -> Result<SessionId, SessionError> {
        let field = InputField::SessionId;
        let text = text(field, self.0.get("session_id"))?
            .ok_or_else(|| SessionError::invalid(field, "is required"))?;
        text.parse()
            .map_err(|error| SessionError::invalid(field, format!("{error}")))
    }

    /// A JSON parameter (`data`, `user`); missing and `null` are both "none".
    pub fn json(&self, name: &str) -> Option<Value> {
        self.0.get(name).filter(|v| !v.is_null()).cloned()
    }

    /// The body of `open_session`.
    pub fn new_session(&self) -> Result<NewSession, SessionError> {
        Ok(NewSession {
            user_id: text(InputField::UserId, self.0.get("user_id"))?.unwrap_or_default(),
            user_name: text(InputField::UserName, self.0.get("user_name"))?,
            address: text(InputField::Address, self.0.get("address"))?,
            client: text(InputField::Client, self.0.get("client"))?,
            user: self.json("user"),
            data: self.json("data"),
        })
    }

    /// The `filter` of `get_sessions`.
    pub fn filter(&self) -> Result<SessionFilter, SessionError> {
        let Some(filter) = self.object(InputField::Filter)? else {
            return Ok(SessionFilter::default());
        };
        let id = text(InputField::FilterId, filter.get("id"))?
            .map(|id| {
                id.parse()
                    .map_err(|e| SessionError::invalid(InputField::FilterId, format!("{e}")))
            })
            .transpose()?;
        Ok(SessionFilter {
            id,
            user_id: text(InputField::FilterUserId, filter.get("user_id"))?,
            active: boolean(InputField::FilterActive, filter.get("active"))?,
            from_time: time(InputField::FromTime, filter.get("from_time"))?,
            to_time: time(InputField::ToTime, filter.get("to_time"))?,
        })
    }

    /// The `paging` of `get_sessions`.
    pub fn paging(&self) -> Result<Paging, SessionError> {
        let Some(paging) = self.object(InputField::Paging)? else {
            return Ok(Paging::default());
        };
        Ok(Paging {
            skip: integer(InputField::Skip, paging.get("skip"))?,
            take: integer(InputField::Take, paging.get("take"))?,
            total: boolean(InputField::Total, paging.get("total"))?.unwrap_or(false),
        })
    }

    fn object(&self, field: InputField) -> Result<Option<&Map<String, Value>>, SessionError> {
        match self.0.get(field_name(field)) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map)),
            Some(_) => Err(SessionError::invalid(field, "must be an object")),
        }
    }
}

/// A string parameter; numbers and booleans are taken as their text, as the original does.
fn text(field: InputField, value: Option<&Value>) -> Result<Option<String>, SessionError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(SessionError::invalid(field, "must be a string")),
    }
}

/// A boolean parameter: `true`/`false`, or the strings `"true"`/`"false"`/`"1"`/`"0"`.
fn boolean(field: InputField, value: Option<&Value>) -> Result<Option<bool>, SessionError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(Some(true)),
            "false" | "0" | "no" => Ok(Some(false)),
            "" => Ok(None),
            _ => Err(SessionError::invalid(field, "must be true or false")),
        },
        Some(Value::Number(n)) => Ok(Some(n.as_f64().is_some_and(|n| n != 0.0))),
        Some(_) => Err(SessionError::invalid(field, "must be true or false")),
    }
}

/// An integer parameter: a JSON number or a string of digits.
fn integer(field: InputField, value: Option<&Value>) -> Result<Option<i64>, SessionError> {
    let invalid = || SessionError::invalid(field, "must be an integer");
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(invalid),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| invalid()),
        Some(_) => Err(invalid()),
    }
}

/// A time parameter: ISO 8601 / RFC 3339 text (without an offset it is read as UTC), or
/// milliseconds since the Unix epoch.
fn time(field: InputField, value: Option<&Value>) -> Result<Option<DateTime<Utc>>, SessionError> {
    let invalid = || {
        SessionError::invalid(
            field,
            "must be an ISO 8601 time like 2026-11-25T17:18:31.110Z",
        )
    };
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => {
            let s = s.trim();
            DateTime::parse_from_rfc3339(s)
                .map(|t| t.with_timezone(&Utc))
                .or_else(|_| {
                    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc())
                })
                .map(Some)
                .map_err(|_| invalid())
        }
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(DateTime::from_timestamp_millis)
            .map(Some)
            .ok_or_else(invalid),
        Some(_) => Err(invalid()),
    }
}
