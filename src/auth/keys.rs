//! API keys: the keys file, its parsing, and constant-time lookup of a presented secret.
//!
//! The file holds one key a line, `NAME SCOPES SHA256HEX`: a name without spaces, scopes
//! separated by commas (`read`, `write`, `admin`), and the lowercase hex SHA-256 of the whole
//! secret (`sk_` included). Blank lines and lines starting with `#` are ignored.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use subtle::ConstantTimeEq as _;

use super::secret;
use crate::model::TokenHash;

/// What an API key may do; each scope includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Read sessions.
    Read,
    /// Read, open and change sessions.
    Write,
    /// Everything, deleting sessions and closing expired ones included.
    Admin,
}

impl Scope {
    /// Whether a key with this scope may do what `needed` allows.
    pub fn includes(self, needed: Scope) -> bool {
        self >= needed
    }

    /// `read`, `write` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "read" => Ok(Self::Read),
            "write" => Ok(Self::Write),
            "admin" => Ok(Self::Admin),
            other => Err(format!(
                "unknown scope {other:?} (use read, write or admin)"
            )),
        }
    }
}

/// The widest of comma-separated scopes, e.g. `read,write` is `write`.
///
/// # Errors
/// When the list is empty or names an unknown scope.
pub fn parse_scopes(text: &str) -> Result<Scope, String> {
    let scopes = text
        .split(',')
        .map(str::parse)
        .collect::<Result<Vec<Scope>, _>>()?;
    scopes
        .into_iter()
        .max()
        .ok_or_else(|| "no scope given".to_owned())
}

/// One configured API key.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Its name, as logs and `closedBy` show it (`key:NAME`).
    pub name: String,
    /// What it may do.
    pub scope: Scope,
    hash: TokenHash,
}

impl fmt::Debug for ApiKey {
    // The hash is not secret, but nothing needs it in a log either.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({} {})", self.name, self.scope)
    }
}

/// A malformed keys file: which line, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum KeysFileError {
    /// The file cannot be read.
    #[error("cannot read the API keys file {path}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line is not `NAME SCOPES SHA256HEX`.
    #[error("{path}, line {line}: {reason}")]
    Malformed {
        /// The file.
        path: String,
        /// The line number, from 1.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// The configured API keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeySet {
    keys: Vec<ApiKey>,
}

impl KeySet {
    /// Read and parse the keys file at `path`.
    ///
    /// # Errors
    /// When the file cannot be read or a line is malformed.
    pub fn load(path: &Path) -> Result<Self, KeysFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| KeysFileError::Unreadable {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&text).map_err(|(line, reason)| KeysFileError::Malformed {
            path: shown,
            line,
            reason,
        })
    }

    /// Parse the text of a keys file.
    ///
    /// # Errors
    /// The number (from 1) of the first malformed line, and what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, (usize, String)> {
        let mut keys: Vec<ApiKey> = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key = parse_line(line).map_err(|reason| (index + 1, reason))?;
            if keys.iter().any(|k| k.name == key.name) {
                return Err((index + 1, format!("the name {:?} is used twice", key.name)));
            }
            keys.push(key);
        }
        Ok(Self { keys })
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key whose secret is `secret`, if any. Every key's hash is compared, in constant
    /// time, whichever matches: the time taken does not tell how much of a guess was right.
    pub fn find(&self, secret: &str) -> Option<&ApiKey> {
        let presented = TokenHash::of(secret);
        let mut found = None;
        for key in &self.keys {
            if bool::from(key.hash.as_bytes().ct_eq(presented.as_bytes())) {
                found = Some(key);
            }
        }
        found
    }
}

fn parse_line(line: &str) -> Result<ApiKey, String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [name, scopes, hash] = fields[..] else {
        return Err(format!(
            "expected NAME SCOPES SHA256HEX, found {} field(s)",
            fields.len()
        ));
    };
    let scope = parse_scopes(scopes)?;
    let hash = hash.parse().map_err(|_| {
        "the hash must be 64 lowercase hex digits (the SHA-256 of the secret)".to_owned()
    })?;
    Ok(ApiKey {
        name: name.to_owned(),
        scope,
        hash,
    })
}

/// A new API key named `name`: the secret, shown once, and the keys-file line for it.
pub fn new_key(name: &str, scope: Scope) -> (String, String) {
    let secret = secret::new_api_key();
    let line = format!("{name} {scope} {}", TokenHash::of(&secret));
    (secret, line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_line_parses_and_finds_its_secret_only() {
        let (secret, line) = new_key("billing", Scope::Write);
        let keys = KeySet::parse(&format!("# comment\n\n{line}\n")).expect("parses");
        let key = keys.find(&secret).expect("found");
        assert_eq!((key.name.as_str(), key.scope), ("billing", Scope::Write));
        assert!(keys.find("sk_wrong").is_none());
    }

    #[test]
    fn a_malformed_line_is_reported_by_number() {
        let text = "# keys\nok read 0000000000000000000000000000000000000000000000000000000000000000\nbad line\n";
        let (line, reason) = KeySet::parse(text).expect_err("malformed");
        assert_eq!(line, 3);
        assert!(reason.contains("NAME SCOPES SHA256HEX"), "{reason}");
        let (line, reason) = KeySet::parse("x root ab").expect_err("bad scope");
        assert_eq!(line, 1);
        assert!(reason.contains("root"), "{reason}");
        assert!(KeySet::parse("x read ABC").is_err());
    }

    #[test]
    fn the_widest_scope_wins_and_admin_includes_write_and_read() {
        assert_eq!(parse_scopes("read,write"), Ok(Scope::Write));
        assert!(Scope::Admin.includes(Scope::Write) && Scope::Write.includes(Scope::Read));
        assert!(!Scope::Read.includes(Scope::Write));
        assert!(parse_scopes("").is_err());
    }
}
