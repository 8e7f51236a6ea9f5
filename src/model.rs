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
    /// The smallest possible id; used as a lower bound in ordered indexes.
    pub const MIN: SessionId = SessionId(Uuid::nil());

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
    /// Why the session was closed; `None` while it is open, and for sessions closed before
    /// reasons were recorded.
    pub close_reason: Option<CloseReason>,
    /// Who closed it: `system` (expiry, eviction), `key:NAME`, `session:ID` or `anonymous`
    /// (auth off); `None` while it is open, and for sessions closed before this was recorded.
    pub closed_by: Option<String>,
    /// The SHA-256 of the session's token (the token itself is never stored); `None` for
    /// sessions opened before tokens existed.
    pub token_hash: Option<TokenHash>,
}

/// Who closes a session when no caller does: the service itself (expiry, eviction).
pub const CLOSED_BY_SYSTEM: &str = "system";
/// Who closes a session when authentication is off.
pub const CLOSED_BY_ANONYMOUS: &str = "anonymous";

/// The SHA-256 of a secret (a session token): what stores keep and look tokens up by.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl TokenHash {
    /// The SHA-256 of `secret`, as written (prefix included).
    pub fn of(secret: &str) -> Self {
        use sha2::Digest as _;
        Self(sha2::Sha256::digest(secret.as_bytes()).into())
    }

    /// The 32 bytes of the hash.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for TokenHash {
    /// 64 lowercase hex digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({self})")
    }
}

/// The text is not 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a SHA-256 hash (expected 64 lowercase hex digits)")]
pub struct InvalidTokenHash;

impl FromStr for TokenHash {
    type Err = InvalidTokenHash;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.as_bytes();
        if digits.len() != 64 {
            return Err(InvalidTokenHash);
        }
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            _ => Err(InvalidTokenHash),
        };
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
        }
        Ok(Self(bytes))
    }
}

/// Why a session was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// The user or the application signed the session out.
    Logout,
    /// No activity for longer than the idle (expire) timeout.
    IdleTimeout,
    /// Open for longer than the maximum lifetime, whatever its activity.
    MaxLifetime,
    /// Closed by an administrator or by "log out everywhere".
    Revoked,
    /// Closed to make room for a newer session of the same user (per-user limit).
    Evicted,
}

impl CloseReason {
    /// Every reason, in declaration order.
    pub const ALL: [CloseReason; 5] = [
        Self::Logout,
        Self::IdleTimeout,
        Self::MaxLifetime,
        Self::Revoked,
        Self::Evicted,
    ];

    /// The reason as stored and sent: `LOGOUT`, `IDLE_TIMEOUT`, `MAX_LIFETIME`, `REVOKED`,
    /// `EVICTED`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "LOGOUT",
            Self::IdleTimeout => "IDLE_TIMEOUT",
            Self::MaxLifetime => "MAX_LIFETIME",
            Self::Revoked => "REVOKED",
            Self::Evicted => "EVICTED",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not one of the [`CloseReason`]s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a close reason: {0:?}")]
pub struct UnknownCloseReason(pub String);

impl FromStr for CloseReason {
    type Err = UnknownCloseReason;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|reason| reason.as_str() == s)
            .ok_or_else(|| UnknownCloseReason(s.to_owned()))
    }
}

/// The instants that decide expiry at one moment: a session open at that moment is expired
/// when its last activity is before `idle`, or it was opened before `lifetime`.
///
/// Stores receive these rather than durations, so each backend compares stored times with
/// bounds and never does date arithmetic of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cutoffs {
    /// Activity strictly before this is past the idle timeout.
    pub idle: DateTime<Utc>,
    /// Opening strictly before this is past the maximum lifetime; `None` without one.
    pub lifetime: Option<DateTime<Utc>>,
}

impl Cutoffs {
    /// Why `session` is expired at these cutoffs, or `None` while it is not (or is closed).
    ///
    /// Past both bounds, the reason is the bound it passed first: the max lifetime ended at
    /// `open_time + max`, idleness at `request_time + idle`, and `open_time - lifetime <=
    /// request_time - idle` says the first came no later (a tie counts as the max lifetime).
    pub fn reason(&self, session: &Session) -> Option<CloseReason> {
        if !session.active {
            return None;
        }
        let idle = session.request_time < self.idle;
        let lifetime = self.lifetime.filter(|cutoff| session.open_time < *cutoff);
        match lifetime {
            Some(cutoff)
                if !idle || session.open_time - cutoff <= session.request_time - self.idle =>
            {
                Some(CloseReason::MaxLifetime)
            }
            _ if idle => Some(CloseReason::IdleTimeout),
            _ => None,
        }
    }
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
            close_reason: None,
            closed_by: None,
            token_hash: None,
        }
    }

    /// Close the session at `now` for `reason`: inactive, `close_time = request_time = now`,
    /// cached `user` and `data` dropped. Returns false, changing nothing, when it was already
    /// closed (so the first reason stays).
    pub fn close(&mut self, now: DateTime<Utc>, reason: CloseReason) -> bool {
        let by = match reason {
            CloseReason::Logout | CloseReason::Revoked => CLOSED_BY_ANONYMOUS,
            CloseReason::IdleTimeout | CloseReason::MaxLifetime | CloseReason::Evicted => {
                CLOSED_BY_SYSTEM
            }
        };
        self.close_by(now, reason, by)
    }

    /// Like [`Self::close`], recording `by` as who closed it.
    pub fn close_by(&mut self, now: DateTime<Utc>, reason: CloseReason, by: &str) -> bool {
        if !self.active {
            return false;
        }
        let now = self.latest(now);
        self.active = false;
        self.close_reason = Some(reason);
        self.closed_by = Some(by.to_owned());
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
            SessionChange::Touch => {}
        }
        self.request_time = self.latest(now);
    }

    // Times are read before the store's lock is taken, so a write that got the lock first may
    // carry a later time: a session's last activity never moves backwards.
    fn latest(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        self.request_time.max(now)
    }

    /// When the session expires, given the idle timeout and the optional maximum lifetime:
    /// `min(request_time + idle, open_time + max_lifetime)`; `None` once closed. Saturates at
    /// the latest representable time.
    pub fn expires_at(
        &self,
        idle: TimeDelta,
        max_lifetime: Option<TimeDelta>,
    ) -> Option<DateTime<Utc>> {
        if !self.active {
            return None;
        }
        let later = |time: DateTime<Utc>, by: TimeDelta| {
            time.checked_add_signed(by)
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
        };
        let idle_end = later(self.request_time, idle);
        Some(max_lifetime.map_or(idle_end, |max| idle_end.min(later(self.open_time, max))))
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

/// A change to an open session; each one also marks it active now.
#[derive(Clone, Debug, PartialEq)]
pub enum SessionChange {
    /// Replace the session data.
    Data(Option<Value>),
    /// Replace the cached user.
    User(Option<Value>),
    /// Nothing but the activity itself.
    Touch,
}

/// How many open sessions one user may hold, and what happens to one more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserLimit {
    /// Open sessions a user may hold at once; at least 1.
    pub max: usize,
    /// What opening one more does.
    pub policy: LimitPolicy,
}

/// What opening a session does when its user is at the limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LimitPolicy {
    /// Close the user's open session with the oldest activity (ties by id) as `EVICTED`.
    #[default]
    EvictOldest,
    /// Refuse the new session.
    Deny,
}

/// The outcome of opening a session under a [`UserLimit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// The session was stored; these sessions of the user were evicted to make room.
    Opened {
        /// The sessions closed as `EVICTED`, oldest first.
        evicted: Vec<SessionId>,
        /// The user's sessions found expired and closed first, each with its reason.
        expired: Vec<Closed>,
    },
    /// The user is at the limit and the policy is [`LimitPolicy::Deny`]: nothing was stored.
    Denied {
        /// The user's sessions found expired and closed first (they stay closed).
        expired: Vec<Closed>,
    },
}

/// A session a bulk step closed: enough to tell others (session events) what happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Closed {
    /// The session closed.
    pub id: SessionId,
    /// Its user.
    pub user_id: String,
    /// Why it closed.
    pub reason: CloseReason,
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
        assert!(s.close(at(5), CloseReason::Logout));
        assert_eq!(
            (s.active, s.close_time, s.request_time),
            (false, Some(at(5)), at(5))
        );
        assert_eq!((s.user.clone(), s.data.clone()), (None, None));
        assert_eq!(s.close_reason, Some(CloseReason::Logout));
        let before = s.clone();
        assert!(!s.close(at(9), CloseReason::Revoked));
        assert_eq!(s, before);
    }

    #[test]
    fn a_write_stamped_before_a_later_one_does_not_move_activity_backwards() {
        let mut s = session("u", 1_000);
        s.apply(SessionChange::Data(Some(Value::from(1))), at(2_000));
        s.apply(SessionChange::Data(Some(Value::from(2))), at(1_500));
        assert_eq!(s.request_time, at(2_000));
        assert!(s.close(at(1_800), CloseReason::Logout));
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
        let idle_only = |idle| Cutoffs {
            idle: at(idle),
            lifetime: None,
        };
        assert_eq!(idle_only(1_000).reason(&s), None);
        assert_eq!(idle_only(1_001).reason(&s), Some(CloseReason::IdleTimeout));
    }

    #[test]
    fn a_session_past_both_bounds_is_closed_for_the_one_it_passed_first() {
        // Opened at 0, last active at 1_000; idle timeout 500, max lifetime 1_200.
        let mut s = session("u", 0);
        s.request_time = at(1_000);
        let (idle, max) = (TimeDelta::milliseconds(500), TimeDelta::milliseconds(1_200));
        let at_now = |now: i64| Cutoffs {
            idle: at(now) - idle,
            lifetime: Some(at(now) - max),
        };
        assert_eq!(s.expires_at(idle, Some(max)), Some(at(1_200)));
        assert_eq!(at_now(1_200).reason(&s), None);
        assert_eq!(at_now(1_201).reason(&s), Some(CloseReason::MaxLifetime));
        // Idle ended at 1_500, after the lifetime: still the lifetime's reason.
        assert_eq!(at_now(5_000).reason(&s), Some(CloseReason::MaxLifetime));
        // With a longer lifetime, idleness comes first.
        let long = TimeDelta::milliseconds(3_000);
        let later = Cutoffs {
            idle: at(5_000) - idle,
            lifetime: Some(at(5_000) - long),
        };
        assert_eq!(s.expires_at(idle, Some(long)), Some(at(1_500)));
        assert_eq!(later.reason(&s), Some(CloseReason::IdleTimeout));
        assert!(s.close(at(5_000), CloseReason::Logout));
        assert_eq!(
            (later.reason(&s), s.expires_at(idle, Some(long))),
            (None, None)
        );
    }

    #[test]
    fn close_reasons_print_and_parse_as_their_wire_names() {
        for reason in CloseReason::ALL {
            assert_eq!(reason.as_str().parse(), Ok(reason));
        }
        assert!("logout".parse::<CloseReason>().is_err());
    }

    #[test]
    fn truncation_keeps_whole_milliseconds() {
        let t = DateTime::from_timestamp(10, 123_456_789).expect("valid time");
        assert_eq!(truncate_to_millis(t), at(10_123));
    }
}
