//! Authentication and authorization: credentials (API keys from a keys file, session
//! tokens), the [`Actor`] a request runs as, and the permission table as data.
//!
//! The HTTP layer reads the `Authorization` header once and asks the [`Authenticator`] for
//! the actor; resolvers and REST commands pass it to [`policy::check`] before they run, and
//! the controller receives its label (`key:NAME`, `session:ID`, `anonymous`) for `closedBy`.
//! No layer below HTTP reads headers.

pub mod actor;
pub mod keys;
pub mod policy;
pub mod secret;

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

pub use actor::Actor;
pub use keys::{KeySet, KeysFileError, Scope};
pub use policy::{Denied, Grant, Operation};

use crate::controller::SessionsController;
use crate::error::SessionError;

/// Decides who a request runs as. Off (everything open) unless built with keys.
///
/// A cheap `Clone` handle: clones share the keys, so a reload reaches every one.
#[derive(Clone, Debug, Default)]
pub struct Authenticator {
    keys: Option<Arc<Keys>>,
}

#[derive(Debug)]
struct Keys {
    /// Where the keys came from, for reloads; `None` when given directly.
    path: Option<PathBuf>,
    // A std lock on purpose: readers clone an `Arc` and never hold it across an `.await`.
    set: RwLock<Arc<KeySet>>,
}

/// A credential could not be checked: refused, or the store failed while looking it up.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Missing, malformed, unknown or revoked.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// The session store failed while looking a token up.
    #[error(transparent)]
    Store(#[from] SessionError),
}

/// The `Authorization` header of a request, as the HTTP layer found it.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// No header.
    None,
    /// `Bearer <secret>`.
    Bearer(String),
    /// Something else.
    Malformed,
}

impl std::fmt::Debug for Credential {
    // Never print the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Bearer(_) => f.write_str("Bearer(***)"),
            Self::Malformed => f.write_str("Malformed"),
        }
    }
}

impl Authenticator {
    /// Authentication off: everything is open.
    pub fn off() -> Self {
        Self::default()
    }

    /// Authentication on, with these keys (fixed: [`Self::reload`] keeps them).
    pub fn with_keys(keys: KeySet) -> Self {
        Self::on(None, keys)
    }

    /// Authentication on, with the keys of the file at `path`.
    ///
    /// # Errors
    /// When the file cannot be read or a line is malformed.
    pub fn from_file(path: &Path) -> Result<Self, KeysFileError> {
        let keys = KeySet::load(path)?;
        Ok(Self::on(Some(path.to_owned()), keys))
    }

    fn on(path: Option<PathBuf>, keys: KeySet) -> Self {
        let keys = Keys {
            path,
            set: RwLock::new(Arc::new(keys)),
        };
        Self {
            keys: Some(Arc::new(keys)),
        }
    }

    /// Whether authentication is on.
    pub fn is_on(&self) -> bool {
        self.keys.is_some()
    }

    /// How many API keys are in use (0 with authentication off).
    pub fn key_count(&self) -> usize {
        self.key_set().map_or(0, |set| set.len())
    }

    /// Read the keys file again and use its keys from now on. A bad file changes nothing.
    /// Returns how many keys are in use.
    ///
    /// # Errors
    /// When the file cannot be read or a line is malformed; the old keys stay.
    pub fn reload(&self) -> Result<usize, KeysFileError> {
        let Some(keys) = &self.keys else {
            return Ok(0);
        };
        let Some(path) = &keys.path else {
            return Ok(self.key_count());
        };
        let fresh = KeySet::load(path)?;
        let count = fresh.len();
        *keys.set.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(fresh);
        Ok(count)
    }

    fn key_set(&self) -> Option<Arc<KeySet>> {
        let keys = self.keys.as_ref()?;
        Some(Arc::clone(
            &keys.set.read().unwrap_or_else(PoisonError::into_inner),
        ))
    }

    /// Who a request presenting `credential` runs as. With authentication off, everyone is
    /// [`Actor::Anonymous`] (with the session of a valid session token, if one was sent).
    ///
    /// # Errors
    /// `Denied(Unauthenticated)` for a malformed, unknown or revoked credential (auth on);
    /// `Store` when looking a token up fails.
    pub async fn authenticate(
        &self,
        credential: &Credential,
        controller: &SessionsController,
    ) -> Result<Actor, AuthError> {
        let Some(keys) = self.key_set() else {
            let current = match credential {
                Credential::Bearer(token) if token.starts_with(secret::TOKEN_PREFIX) => {
                    controller.authenticate_token(token).await?.map(|s| s.id)
                }
                _ => None,
            };
            return Ok(Actor::Anonymous { current });
        };
        let secret = match credential {
            Credential::None => return Ok(Actor::Unauthenticated),
            Credential::Malformed => return Err(Denied::Unauthenticated.into()),
            Credential::Bearer(secret) => secret,
        };
        if secret.starts_with(secret::TOKEN_PREFIX) {
            return match controller.authenticate_token(secret).await? {
                Some(session) => Ok(Actor::Session {
                    id: session.id,
                    user_id: session.user_id,
                }),
                None => Err(Denied::Unauthenticated.into()),
            };
        }
        match keys.find(secret) {
            Some(key) => Ok(Actor::Key {
                name: key.name.clone(),
                scope: key.scope,
            }),
            None => Err(Denied::Unauthenticated.into()),
        }
    }
}
