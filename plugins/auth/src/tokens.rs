//! Secrets handed to clients: session tokens (cookie or bearer), access tokens, CSRF
//! tokens. Only their SHA-256 digests are stored, so a copy of the database opens no
//! session.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix of API access tokens: `daas_at_<id>_<secret>`.
pub const ACCESS_PREFIX: &str = "daas_at_";

/// 32 random bytes, URL-safe base64 (256 bits), and constant-time equality: the
/// helpers every plugin shares.
pub use daas_common::token::{random_token, same};

/// 16 random hex characters: the public id of an access token.
pub fn random_id() -> String {
    let mut bytes = [0u8; 8];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The stored form of a token.
pub fn digest(token: &str) -> String {
    format!("{:x}", Sha256::digest(token.as_bytes()))
}

/// An access token's parts: (public id, secret).
pub fn split_access_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(ACCESS_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 16 && !secret.is_empty()).then_some((id, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_stored_as_digests() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(digest(&a).len(), 64);
        assert_ne!(digest(&a), a);
        let at = format!("{ACCESS_PREFIX}{}_{}", random_id(), random_token());
        let (id, secret) = split_access_token(&at).unwrap();
        assert_eq!(id.len(), 16);
        assert_eq!(secret.len(), 43);
        assert!(split_access_token("daas_at_short_x").is_none());
    }
}
