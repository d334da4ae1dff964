//! Secrets handed to clients: session tokens (cookie or bearer), access tokens, CSRF
//! tokens. Only their SHA-256 digests are stored, so a copy of the database opens no
//! session.

use hmac::{Hmac, Mac};
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

/// Signs the login form's CSRF tokens with a key of this process.
///
/// Before a login there is no session to tie the form to: the form's token is a
/// double-submit value (a cookie and a form field that must match), and a value that
/// someone else chose and planted as a cookie must not pass. Only tokens this server
/// issued, unexpired, do. The key is random per process, so a restart only makes open
/// login forms ask for a fresh try.
pub struct FormSigner {
    key: [u8; 32],
}

impl Default for FormSigner {
    fn default() -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        FormSigner { key }
    }
}

impl FormSigner {
    fn mac(&self, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(body.as_bytes());
        format!("{:x}", mac.finalize().into_bytes())
    }

    /// A new token, valid for `seconds`: `<expiry>.<nonce>.<signature>`.
    pub fn issue(&self, seconds: i64) -> String {
        let body = format!("{}.{}", chrono::Utc::now().timestamp() + seconds, random_token());
        let mac = self.mac(&body);
        format!("{body}.{mac}")
    }

    /// Whether this server issued the token and it has not expired.
    pub fn valid(&self, token: &str) -> bool {
        let Some((body, mac)) = token.rsplit_once('.') else { return false };
        let unexpired = body.split_once('.').and_then(|(t, _)| t.parse::<i64>().ok()).is_some_and(|t| t > chrono::Utc::now().timestamp());
        unexpired && same(&self.mac(body), mac)
    }
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

    #[test]
    fn only_issued_unexpired_form_tokens_are_valid() {
        let signer = FormSigner::default();
        let token = signer.issue(60);
        assert!(signer.valid(&token));
        assert!(!FormSigner::default().valid(&token), "another key (another process) did not issue it");
        assert!(!signer.valid(&random_token()), "a made-up value");
        assert!(!signer.valid(&signer.issue(-1)), "expired");
        let (body, _) = token.rsplit_once('.').unwrap();
        let later = body.replacen(|c: char| c.is_ascii_digit(), "9", 1);
        assert!(!signer.valid(&format!("{later}.{}", token.rsplit_once('.').unwrap().1)), "a changed expiry");
    }
}
