//! Session data and the pure rules that act on it: no I/O, no GraphQL, no HTTP.

use std::cmp::Reverse;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde_json::Value;
use uuid::Uuid;

/// A session identifier: a random UUID v4, written as 32 lowercase hex digits without dashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(Uuid);

impl SessionId {
    /// The largest possible id; used as an upper bound in ordered indexes.
    pub const MAX: SessionId = SessionId(Uuid::max());

    /// A fresh random (v4) id.
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }

    /// The UUID behind this id.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl From<Uuid> for SessionId {
    fn from(value: Uuid) -> Self {
        Self(value)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.simple())
    }
}

/// The text given as a session id is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid session id (expected 32 hex digits)")]
pub struct InvalidSessionId;

impl FromStr for SessionId {
    type Err = InvalidSessionId;

    /// Accepts the canonical 32-digit form and, for convenience, any other form of a UUID
    /// (dashed, braced, upper case); all of them name the same session.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::try_parse(s.trim())
            .map(Self)
            .map_err(|_| InvalidSessionId)
    }
}

/// One user session, as stored and as returned by every API.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    /// Unique id, generated when the session is opened.
    pub id: SessionId,
    /// The user the session belongs to.
    pub user_id: String,
    /// The user's display name, if the caller gave one.
    pub user_name: Option<String>,
    /// True until the session is closed, explicitly or by expiry.
    pub active: bool,
    /// When the session was opened.
    pub open_time: DateTime<Utc>,
    /// Last activity: open, store data, update user or close.
    pub request_time: DateTime<Utc>,
    /// When the session was closed; `None` while it is open.
    pub close_time: Option<DateTime<Utc>>,
    /// Network address of the client, as reported by the caller.
    pub address: Option<String>,
    /// Client description (application, browser, device), as reported by the caller.
    pub client: Option<String>,
    /// Cached user object; cleared on close.
    pub user: Option<Value>,
    /// Per-session data; cleared on close.
    pub data: Option<Value>,
}

/// The key sessions are listed by: most recent activity first, then id ascending.
pub type SortKey = (Reverse<DateTime<Utc>>, SessionId);

impl Session {
    /// A new active session opened at `now`.
    pub fn open(id: SessionId, new: NewSession, now: DateTime<Utc>) -> Self {
        Self {
            id,
            user_id: new.user_id,
            user_name: new.user_name,
            active: true,
            open_time: now,
            request_time: now,
            close_time: None,
            address: new.address,
            client: new.client,
            user: new.user,
            data: new.data,
        }
    }

    /// Close the session at `now`: inactive, `close_time = request_time = now`, cached `user`
    /// and `data` dropped. Returns false, changing nothing, when it was already closed.
    pub fn close(&mut self, now: DateTime<Utc>) -> bool {
        if !self.active {
            return false;
        }
        let now = self.latest(now);
        self.active = false;
        self.close_time = Some(now);
        self.request_time = now;
        self.user = None;
        self.data = None;
        true
    }

    /// Apply a change to an open session and mark it as active at `now`.
    pub fn apply(&mut self, change: SessionChange, now: DateTime<Utc>) {
        match change {
            SessionChange::Data(data) => self.data = data,
            SessionChange::User(user) => self.user = user,
        }
        self.request_time = self.latest(now);
    }

    // Times are read before the store's lock is taken, so a write that got the lock first may
    // carry a later time: a session's last activity never moves backwards.
    fn latest(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.request_time.max(now)
    }

    /// True when the session is open and its last activity is strictly before `cutoff`.
    pub fn is_expired(&self, cutoff: DateTime<Utc>) -> bool {
        self.active && self.request_time < cutoff
    }

    /// Where this session sorts in a listing.
    pub fn sort_key(&self) -> SortKey {
        (Reverse(self.request_time), self.id)
    }
}

/// What a caller supplies to open a session.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewSession {
    /// Required user id.
    pub user_id: String,
    /// Optional display name.
    pub user_name: Option<String>,
    /// Optional client address.
    pub address: Option<String>,
    /// Optional client description.
    pub client: Option<String>,
    /// Optional cached user object.
    pub user: Option<Value>,
    /// Optional initial session data.
    pub data: Option<Value>,
}

/// A change to an open session's cached JSON.
#[derive(Clone, Debug, PartialEq)]
pub enum SessionChange {
    /// Replace the session data.
    Data(Option<Value>),
    /// Replace the cached user.
    User(Option<Value>),
}

/// Which sessions a listing returns; all present conditions must hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SessionFilter {
    /// Only this session.
    pub id: Option<SessionId>,
    /// Only sessions of this user.
    pub user_id: Option<String>,
    /// Only open (`true`) or only closed (`false`) sessions.
    pub active: Option<bool>,
    /// Only sessions with `request_time >= from_time` (inclusive).
    pub from_time: Option<DateTime<Utc>>,
    /// Only sessions with `request_time < to_time` (exclusive).
    pub to_time: Option<DateTime<Utc>>,
}

impl SessionFilter {
    /// True when `session` satisfies every condition of the filter.
    pub fn matches(&self, session: &Session) -> bool {
        self.id.is_none_or(|id| session.id == id)
            && self
                .user_id
                .as_deref()
                .is_none_or(|user| session.user_id == user)
            && self.active.is_none_or(|active| session.active == active)
            && self
                .from_time
                .is_none_or(|from| session.request_time >= from)
            && self.to_time.is_none_or(|to| session.request_time < to)
    }
}

/// A validated page request: how many matches to skip and to return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    /// Matches to skip.
    pub skip: usize,
    /// Matches to return at most.
    pub take: usize,
    /// Whether to count all matches.
    pub total: bool,
}

/// One page of a listing.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    /// The number of all matches, when it was asked for.
    pub total: Option<u64>,
    /// The matches on this page, in listing order.
    pub data: Vec<T>,
}

/// Counts of stored sessions, for status reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionCounts {
    /// Open sessions.
    pub active: u64,
    /// All sessions, open and closed.
    pub total: u64,
}

/// Drop everything below the millisecond, the precision every time is kept at.
pub fn truncate_to_millis(time: DateTime<Utc>) -> DateTime<Utc> {
    // Rounding down to a whole millisecond cannot overflow for any representable time.
    time.duration_trunc(TimeDelta::milliseconds(1))
        .unwrap_or(time)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).expect("valid time")
    }

    fn session(user: &str, request_ms: i64) -> Session {
        let new = NewSession {
            user_id: user.into(),
            ..NewSession::default()
        };
        Session::open(SessionId::random(), new, at(request_ms))
    }

    #[test]
    fn ids_print_as_32_lowercase_hex_digits_and_parse_back() {
        let id = SessionId::random();
        let text = id.to_string();
        assert_eq!(text.len(), 32);
        assert!(
            text.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(text.parse::<SessionId>(), Ok(id));
        assert_eq!(id.as_uuid().hyphenated().to_string().parse(), Ok(id));
        assert_eq!("not-an-id".parse::<SessionId>(), Err(InvalidSessionId));
    }

    #[test]
    fn closing_clears_cached_json_and_is_a_no_op_the_second_time() {
        let mut s = session("u", 0);
        s.data = Some(Value::from("x"));
        s.user = Some(Value::from("y"));
        assert!(s.close(at(5)));
        assert_eq!(
            (s.active, s.close_time, s.request_time),
            (false, Some(at(5)), at(5))
        );
        assert_eq!((s.user.clone(), s.data.clone()), (None, None));
        let before = s.clone();
        assert!(!s.close(at(9)));
        assert_eq!(s, before);
    }

    #[test]
    fn a_write_stamped_before_a_later_one_does_not_move_activity_backwards() {
        let mut s = session("u", 1_000);
        s.apply(SessionChange::Data(Some(Value::from(1))), at(2_000));
        s.apply(SessionChange::Data(Some(Value::from(2))), at(1_500));
        assert_eq!(s.request_time, at(2_000));
        assert!(s.close(at(1_800)));
        assert_eq!((s.request_time, s.close_time), (at(2_000), Some(at(2_000))));
    }

    #[test]
    fn filter_time_bounds_are_inclusive_from_and_exclusive_to() {
        let s = session("u", 1_000);
        let filter = |from, to| SessionFilter {
            from_time: Some(at(from)),
            to_time: Some(at(to)),
            ..SessionFilter::default()
        };
        assert!(filter(1_000, 1_001).matches(&s));
        assert!(!filter(1_001, 2_000).matches(&s));
        assert!(!filter(0, 1_000).matches(&s));
    }

    #[test]
    fn expiry_needs_activity_strictly_before_the_cutoff() {
        let s = session("u", 1_000);
        assert!(!s.is_expired(at(1_000)));
        assert!(s.is_expired(at(1_001)));
    }

    #[test]
    fn truncation_keeps_whole_milliseconds() {
        let t = DateTime::from_timestamp(10, 123_456_789).expect("valid time");
        assert_eq!(truncate_to_millis(t), at(10_123));
    }
}
