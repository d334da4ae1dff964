//! Secrets at rest: VNC, OS and connection passwords are stored encrypted with
//! ChaCha20-Poly1305 (an authenticated cipher, RustCrypto's crate), a random nonce per
//! value, as `enc:v1:<base64(nonce || ciphertext)>`.

use base64::{engine::general_purpose::STANDARD, Engine as _};
use chacha20poly1305::{
    aead::{Aead, AeadCore, KeyInit, OsRng},
    ChaCha20Poly1305, Key, Nonce,
};

const PREFIX: &str = "enc:v1:";

/// The demo site's key: publicly known, so only for the demo (`allow_demo_key`).
const DEMO_KEY: [u8; 32] = *b"daas-demo-key-not-for-production";

/// Why a secret could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// No key configured.
    #[error(
        "no secret key: set [db] secret_key in db.toml or DAAS__DB__DB__SECRET_KEY to 32 random bytes in base64 (e.g. `openssl rand -base64 32`)"
    )]
    NoKey,
    /// The key is not 32 bytes of base64.
    #[error("[db] secret_key is not 32 bytes of base64: {0}")]
    BadKey(String),
    /// A stored value is not ours or was encrypted with another key.
    #[error("a stored secret cannot be decrypted: {0}; was the database encrypted with another secret_key?")]
    Undecryptable(String),
}

/// The cipher of a site.
#[derive(Clone)]
pub struct Secrets {
    cipher: ChaCha20Poly1305,
}

impl Secrets {
    /// From `[db] secret_key` (base64), or the demo key when allowed.
    pub fn from_config(secret_key: &str, allow_demo_key: bool) -> Result<Self, SecretError> {
        let key: Vec<u8> = if secret_key.trim().is_empty() {
            if !allow_demo_key {
                return Err(SecretError::NoKey);
            }
            tracing::warn!("db: using the publicly known demo key for secrets at rest; set [db] secret_key outside the demo site");
            DEMO_KEY.to_vec()
        } else {
            STANDARD.decode(secret_key.trim()).map_err(|e| SecretError::BadKey(e.to_string()))?
        };
        if key.len() != 32 {
            return Err(SecretError::BadKey(format!("{} bytes", key.len())));
        }
        Ok(Secrets { cipher: ChaCha20Poly1305::new(Key::from_slice(&key)) })
    }

    /// Encrypt a value for storage.
    pub fn seal(&self, plain: &str) -> String {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        // Encryption with a valid key and nonce cannot fail for in-memory data.
        let ct = self.cipher.encrypt(&nonce, plain.as_bytes()).expect("ChaCha20-Poly1305 encryption");
        let mut bytes = nonce.to_vec();
        bytes.extend(ct);
        format!("{PREFIX}{}", STANDARD.encode(bytes))
    }

    /// Whether a value has the form of a sealed one (it may still be another key's).
    pub fn is_sealed(value: &str) -> bool {
        value.starts_with(PREFIX)
    }

    /// Decrypt a stored value.
    pub fn open(&self, stored: &str) -> Result<String, SecretError> {
        let b64 = stored.strip_prefix(PREFIX).ok_or_else(|| SecretError::Undecryptable("not an encrypted value".into()))?;
        let bytes = STANDARD.decode(b64).map_err(|e| SecretError::Undecryptable(e.to_string()))?;
        if bytes.len() < 12 {
            return Err(SecretError::Undecryptable("too short".into()));
        }
        let (nonce, ct) = bytes.split_at(12);
        let plain =
            self.cipher.decrypt(Nonce::from_slice(nonce), ct).map_err(|_| SecretError::Undecryptable("authentication failed".into()))?;
        String::from_utf8(plain).map_err(|e| SecretError::Undecryptable(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip_with_a_fresh_nonce_each_time() {
        let s = Secrets::from_config(&STANDARD.encode([7u8; 32]), false).unwrap();
        let a = s.seal("user1234");
        let b = s.seal("user1234");
        assert_ne!(a, b, "a random nonce per value");
        assert!(!a.contains("user1234"));
        assert_eq!(s.open(&a).unwrap(), "user1234");
        let other = Secrets::from_config(&STANDARD.encode([8u8; 32]), false).unwrap();
        assert!(matches!(other.open(&a), Err(SecretError::Undecryptable(_))));
    }

    #[test]
    fn a_key_is_required_outside_the_demo() {
        assert!(matches!(Secrets::from_config("", false), Err(SecretError::NoKey)));
        assert!(Secrets::from_config("", true).is_ok());
        assert!(matches!(Secrets::from_config("c2hvcnQ=", false), Err(SecretError::BadKey(_))));
    }
}
