//! `Record`: a session as the memory store keeps it, a few hundred bytes smaller than a
//! [`Session`].
//!
//! - The user id is a slot in the store's user table, shared by all of the user's sessions.
//! - `user_name`, `address` and `client` share one allocation, and so do the `user` and
//!   `data` documents, kept as compact JSON text: a `serde_json::Value` tree with
//!   ordered keys costs an allocation per key, string and container (about 700 bytes for the
//!   usual 3-field `user` and 2-field `data`, against some 80 bytes of text), and the text
//!   keeps the client's key order by construction.
//! - `closed_by` is `system` or `anonymous` for most closed sessions: no allocation for them.
//!
//! Reading a session back parses the two documents (well under a microsecond for the usual
//! sizes); copying a `Value` tree, as the store did before, allocates as much.

use std::cmp::Reverse;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::model::{
    CLOSED_BY_ANONYMOUS, CLOSED_BY_SYSTEM, CloseReason, Cutoffs, Session, SessionChange, SessionId,
    SortKey, TokenHash,
};
use crate::store::StoreError;

/// One stored session.
#[derive(Debug)]
pub(super) struct Record {
    pub(super) id: SessionId,
    /// The user's slot in the user table.
    pub(super) user: u32,
    pub(super) active: bool,
    pub(super) close_reason: Option<CloseReason>,
    pub(super) open_time: DateTime<Utc>,
    pub(super) request_time: DateTime<Utc>,
    pub(super) close_time: Option<DateTime<Utc>>,
    closed_by: Closer,
    pub(super) token_hash: Option<TokenHash>,
    /// `user_name`, `address`, `client`, each as [`put`] writes it.
    texts: Box<[u8]>,
    /// The `user` and `data` documents as compact JSON text, each as [`put`] writes it;
    /// empty when both are absent (so a closed session holds no allocation for them).
    documents: Box<[u8]>,
}

/// Who closed a session, without an allocation for the two usual answers.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Closer {
    Nobody,
    System,
    Anonymous,
    Other(Box<str>),
}

impl Closer {
    fn of(by: Option<&str>) -> Self {
        match by {
            None => Self::Nobody,
            Some(CLOSED_BY_SYSTEM) => Self::System,
            Some(CLOSED_BY_ANONYMOUS) => Self::Anonymous,
            Some(other) => Self::Other(other.into()),
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Self::Nobody => None,
            Self::System => Some(CLOSED_BY_SYSTEM),
            Self::Anonymous => Some(CLOSED_BY_ANONYMOUS),
            Self::Other(by) => Some(by),
        }
    }
}

/// What the indexes key a record by: when any of it changes, the indexes change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Keys {
    pub(super) id: SessionId,
    pub(super) user: u32,
    pub(super) active: bool,
    pub(super) open_time: DateTime<Utc>,
    pub(super) request_time: DateTime<Utc>,
    pub(super) close_time: Option<DateTime<Utc>>,
    pub(super) token_hash: Option<TokenHash>,
}

impl Keys {
    /// Where the session sorts in a listing.
    pub(super) fn sort_key(&self) -> SortKey {
        (Reverse(self.request_time), self.id)
    }

    /// A closed session whose close time is not its last activity (only ever inserted so,
    /// never closed so by the store): the retention index of ordinary closed sessions,
    /// keyed by last activity, cannot find it by its close time.
    pub(super) fn closed_apart(&self) -> Option<DateTime<Utc>> {
        self.close_time
            .filter(|closed| !self.active && *closed != self.request_time)
    }
}

impl Record {
    /// The record of `session`, whose user has slot `user`.
    ///
    /// # Errors
    /// `Backend` when a document cannot be written as JSON (never for a `Value`).
    pub(super) fn new(session: &Session, user: u32) -> Result<Self, StoreError> {
        Ok(Self {
            id: session.id,
            user,
            active: session.active,
            close_reason: session.close_reason,
            open_time: session.open_time,
            request_time: session.request_time,
            close_time: session.close_time,
            closed_by: Closer::of(session.closed_by.as_deref()),
            token_hash: session.token_hash,
            texts: pack(&[
                session.user_name.as_deref().map(str::as_bytes),
                session.address.as_deref().map(str::as_bytes),
                session.client.as_deref().map(str::as_bytes),
            ]),
            documents: pack_values(session.user.as_ref(), session.data.as_ref())?,
        })
    }

    /// The session this record holds, for the user named `user_id`.
    ///
    /// # Errors
    /// `Backend` when a stored document does not parse back (nested deeper than
    /// `serde_json`'s limit of 128; the controller allows 64).
    pub(super) fn session(&self, user_id: &str) -> Result<Session, StoreError> {
        let [user_name, address, client] = unpack(&self.texts);
        let text =
            |field: Option<&[u8]>| field.map(|bytes| String::from_utf8_lossy(bytes).into_owned());
        let (user, data) = self.documents()?;
        Ok(Session {
            id: self.id,
            user_id: user_id.to_owned(),
            user_name: text(user_name),
            active: self.active,
            open_time: self.open_time,
            request_time: self.request_time,
            close_time: self.close_time,
            address: text(address),
            client: text(client),
            user,
            data,
            close_reason: self.close_reason,
            closed_by: self.closed_by.as_str().map(str::to_owned),
            token_hash: self.token_hash,
        })
    }

    /// The `user` and `data` documents.
    fn documents(&self) -> Result<(Option<Value>, Option<Value>), StoreError> {
        let [user, data] = unpack(&self.documents);
        let parse = |field: Option<&[u8]>| {
            field
                .map(serde_json::from_slice::<Value>)
                .transpose()
                .map_err(|error| StoreError::Backend(Box::new(error)))
        };
        Ok((parse(user)?, parse(data)?))
    }

    /// What the indexes key this record by.
    pub(super) fn keys(&self) -> Keys {
        Keys {
            id: self.id,
            user: self.user,
            active: self.active,
            open_time: self.open_time,
            request_time: self.request_time,
            close_time: self.close_time,
            token_hash: self.token_hash,
        }
    }

    /// Why the session is expired at `cutoffs`, as [`Cutoffs::reason`] says.
    pub(super) fn expired(&self, cutoffs: &Cutoffs) -> Option<CloseReason> {
        // `Cutoffs::reason` reads the state and the times only: a session without its text
        // fields (no allocation) stands in for the full one.
        let times = Session {
            id: self.id,
            user_id: String::new(),
            user_name: None,
            active: self.active,
            open_time: self.open_time,
            request_time: self.request_time,
            close_time: self.close_time,
            address: None,
            client: None,
            user: None,
            data: None,
            close_reason: None,
            closed_by: None,
            token_hash: None,
        };
        cutoffs.reason(&times)
    }

    /// [`Session::close_by`] on the record: the same rules, the same result.
    pub(super) fn close_by(&mut self, now: DateTime<Utc>, reason: CloseReason, by: &str) -> bool {
        if !self.active {
            return false;
        }
        let now = self.request_time.max(now);
        self.active = false;
        self.close_reason = Some(reason);
        self.closed_by = Closer::of(Some(by));
        self.close_time = Some(now);
        self.request_time = now;
        self.documents = Box::default();
        true
    }

    /// [`Session::close`] on the record: closed by `system` for expiry and eviction, by
    /// `anonymous` otherwise.
    pub(super) fn close(&mut self, now: DateTime<Utc>, reason: CloseReason) -> bool {
        let by = match reason {
            CloseReason::Logout | CloseReason::Revoked => CLOSED_BY_ANONYMOUS,
            CloseReason::IdleTimeout | CloseReason::MaxLifetime | CloseReason::Evicted => {
                CLOSED_BY_SYSTEM
            }
        };
        self.close_by(now, reason, by)
    }

    /// [`Session::apply`] on the record.
    ///
    /// # Errors
    /// `Backend` when a document does not parse back or cannot be written (see
    /// [`Self::session`]); the record is unchanged then.
    pub(super) fn apply(
        &mut self,
        change: SessionChange,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let [user, data] = unpack(&self.documents);
        let documents = match change {
            SessionChange::Data(new) => Some(replace(user, new.as_ref(), true)?),
            SessionChange::User(new) => Some(replace(data, new.as_ref(), false)?),
            SessionChange::Touch => None,
        };
        if let Some(documents) = documents {
            self.documents = documents;
        }
        self.request_time = self.request_time.max(now);
        Ok(())
    }

    /// Set the token hash.
    pub(super) fn set_token(&mut self, hash: TokenHash) {
        self.token_hash = Some(hash);
    }
}

/// Both documents, one of them `kept` as stored text and the other `new`: the data when
/// `new_is_data`, else the user.
fn replace(
    kept: Option<&[u8]>,
    new: Option<&Value>,
    new_is_data: bool,
) -> Result<Box<[u8]>, StoreError> {
    let new = new.map(json).transpose()?;
    let new = new.as_deref();
    Ok(if new_is_data {
        pack_documents(kept, new)
    } else {
        pack_documents(new, kept)
    })
}

fn json(value: &Value) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|error| StoreError::Backend(Box::new(error)))
}

fn pack_values(user: Option<&Value>, data: Option<&Value>) -> Result<Box<[u8]>, StoreError> {
    let user = user.map(json).transpose()?;
    let data = data.map(json).transpose()?;
    Ok(pack_documents(user.as_deref(), data.as_deref()))
}

fn pack_documents(user: Option<&[u8]>, data: Option<&[u8]>) -> Box<[u8]> {
    if user.is_none() && data.is_none() {
        return Box::default();
    }
    pack(&[user, data])
}

/// The fields one after the other, each as a LEB128 length (`len + 1`, or 0 for `None`)
/// followed by its bytes.
fn pack(fields: &[Option<&[u8]>]) -> Box<[u8]> {
    let size = fields.iter().map(|f| f.map_or(0, <[u8]>::len) + 5).sum();
    let mut out = Vec::with_capacity(size);
    for field in fields {
        let mut len = field.map_or(0, |f| f.len() + 1);
        loop {
            let byte = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
        out.extend_from_slice(field.unwrap_or_default());
    }
    out.into_boxed_slice()
}

/// The `N` fields [`pack`] wrote; all `None` for an empty buffer.
fn unpack<const N: usize>(mut packed: &[u8]) -> [Option<&[u8]>; N] {
    let mut fields = [None; N];
    for field in &mut fields {
        let mut len = 0usize;
        let mut shift = 0;
        while let Some((&byte, rest)) = packed.split_first() {
            packed = rest;
            len |= usize::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
        }
        if let Some((bytes, rest)) = len.checked_sub(1).and_then(|n| packed.split_at_checked(n)) {
            *field = Some(bytes);
            packed = rest;
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    //! The record's rules are the model's: each is checked against the `Session` method it
    //! mirrors.

    use serde_json::json;

    use super::*;
    use crate::model::NewSession;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).expect("valid time")
    }

    fn full() -> Session {
        let new = NewSession {
            user_id: "alice".into(),
            user_name: Some("Alice Ü".into()),
            address: Some(String::new()),
            client: Some("x".repeat(300)),
            user: Some(json!({"zeta": 1, "alpha": [1.5, -0.0, u64::MAX, {"b": null, "a": "é"}]})),
            data: Some(json!({"theme": "dark", "counter": 1})),
        };
        Session {
            token_hash: Some(TokenHash::of("secret")),
            ..Session::open(SessionId::random(), new, at(1_000))
        }
    }

    #[track_caller]
    fn round_trip(session: &Session) -> Record {
        let record = Record::new(session, 3).expect("packs");
        let back = record.session(&session.user_id).expect("unpacks");
        assert_eq!(&back, session);
        // Key order too, which a `Value` comparison ignores.
        for (a, b) in [(&back.user, &session.user), (&back.data, &session.data)] {
            let text = |v: &Option<Value>| serde_json::to_string(v).expect("serializes");
            assert_eq!(text(a), text(b));
        }
        record
    }

    #[test]
    fn sessions_come_back_as_they_went_in() {
        let mut session = full();
        round_trip(&session);
        session.user = None;
        session.user_name = None;
        round_trip(&session);
        session.data = None;
        session.address = None;
        session.client = None;
        round_trip(&session);
        session.close_by(at(2_000), CloseReason::Revoked, "key:ops");
        round_trip(&session);
        session.closed_by = Some("system".into());
        round_trip(&session);
    }

    #[test]
    fn closing_follows_the_model() {
        for reason in CloseReason::ALL {
            for now in [500, 1_000, 3_000] {
                let mut session = full();
                let mut record = round_trip(&session);
                assert_eq!(
                    record.close(at(now), reason),
                    session.close(at(now), reason)
                );
                assert_eq!(record.session("alice").expect("unpacks"), session);
                assert_eq!(
                    record.close(at(9_000), reason),
                    session.close(at(9_000), reason)
                );
                assert_eq!(record.session("alice").expect("unpacks"), session);
            }
        }
        let mut session = full();
        let mut record = round_trip(&session);
        assert!(record.close_by(at(5), CloseReason::Logout, "session:abc"));
        assert!(session.close_by(at(5), CloseReason::Logout, "session:abc"));
        assert_eq!(record.session("alice").expect("unpacks"), session);
    }

    #[test]
    fn changes_follow_the_model() {
        let changes = [
            SessionChange::Data(Some(json!({"step": 2, "after": {"o": 1, "n": 2}}))),
            SessionChange::Data(None),
            SessionChange::User(Some(json!([1, 2]))),
            SessionChange::User(None),
            SessionChange::Touch,
            SessionChange::Data(Some(json!("x"))),
        ];
        let mut session = full();
        let mut record = round_trip(&session);
        for (n, change) in changes.into_iter().enumerate() {
            let now = at(if n == 3 { 10 } else { 2_000 + n as i64 });
            session.apply(change.clone(), now);
            record.apply(change, now).expect("applies");
            assert_eq!(record.session("alice").expect("unpacks"), session);
        }
    }

    #[test]
    fn expiry_follows_the_model() {
        let session = full();
        let record = round_trip(&session);
        for idle in [999, 1_000, 1_001] {
            for lifetime in [None, Some(at(1_000)), Some(at(1_001))] {
                let cutoffs = Cutoffs {
                    idle: at(idle),
                    lifetime,
                };
                assert_eq!(record.expired(&cutoffs), cutoffs.reason(&session));
            }
        }
    }

    #[test]
    fn long_fields_pack_with_multi_byte_lengths() {
        let long = vec![b'a'; 70_000];
        let packed = pack(&[None, Some(&long), Some(b"")]);
        assert_eq!(
            unpack::<3>(&packed),
            [None, Some(&long[..]), Some(&b""[..])]
        );
        assert_eq!(unpack::<2>(&[]), [None, None]);
    }
}
