//! Password hashes: argon2id with the argon2 crate's defaults (RustCrypto), in the PHC
//! string format (`$argon2id$v=19$m=...`), so that parameters can be raised later and
//! old hashes still verify. Shared by the db plugin (bootstrapping the administrator)
//! and the auth plugin (logins, password changes).

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Empty passwords are refused.
    #[error("a password cannot be empty")]
    Empty,
    /// The hasher failed (out of memory).
    #[error("hashing the password failed: {0}")]
    Hash(String),
}

/// The argon2id hash of a password, with a random salt.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    if password.is_empty() {
        return Err(PasswordError::Empty);
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether a password matches a stored hash (a malformed hash matches nothing).
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// `user:password` (seed `admin_credentials`) split at the first colon.
pub fn split_credentials(credentials: &str) -> Option<(&str, &str)> {
    let (user, password) = credentials.split_once(':')?;
    (!user.is_empty() && !password.is_empty()).then_some((user, password))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_their_password_and_are_salted() {
        let h = hash("s3cret!").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify("s3cret!", &h));
        assert!(!verify("s3cret", &h));
        assert_ne!(hash("s3cret!").unwrap(), h, "a random salt per hash");
        assert!(!verify("x", "not a hash"));
        assert!(matches!(hash(""), Err(PasswordError::Empty)));
    }

    #[test]
    fn credentials_split_at_the_first_colon() {
        assert_eq!(split_credentials("admin:s3:cret"), Some(("admin", "s3:cret")));
        assert_eq!(split_credentials("admin"), None);
        assert_eq!(split_credentials(":x"), None);
    }
}
