//! Fresh secrets: 256 random bits from the operating system, written as a prefix and
//! base64url without padding (`sk_…` for API keys, `st_…` for session tokens).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The prefix of every API key.
pub const API_KEY_PREFIX: &str = "sk_";
/// The prefix of every session token.
pub const TOKEN_PREFIX: &str = "st_";

/// A fresh secret: `prefix` and 32 random bytes in base64url, unpadded (43 characters).
///
/// # Panics
/// When the operating system has no randomness to give (a broken system, where handing out
/// a guessable secret would be worse than stopping).
pub fn generate(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the operating system provides randomness");
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// A fresh session token, `st_…`.
pub fn new_token() -> String {
    generate(TOKEN_PREFIX)
}

/// A fresh API key, `sk_…`.
pub fn new_api_key() -> String {
    generate(API_KEY_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_carry_their_prefix_and_256_bits_in_base64url() {
        let token = new_token();
        let body = token.strip_prefix("st_").expect("prefix");
        assert_eq!(URL_SAFE_NO_PAD.decode(body).expect("base64url").len(), 32);
        assert!(new_api_key().starts_with("sk_"));
        assert_ne!(new_token(), token, "two secrets are never the same");
    }
}
