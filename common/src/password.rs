//! Password hashes: argon2id with the argon2 crate's defaults (RustCrypto), in the PHC
//! string format (`$argon2id$v=19$m=...`), so that parameters can be raised later and
//! old hashes still verify. Shared by the db plugin (bootstrapping the administrator)
//! and the auth plugin (logins, password changes).

use argon2::{
    password_hash::{rand_core::OsRng, Output, PasswordHash, SaltString},
    Algorithm, Argon2, Block, Params, Version,
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

/// Argon2's working memory (19 MiB with the default parameters), kept for reuse.
///
/// The argon2 crate allocates it afresh for every hash; the allocator then keeps the
/// freed blocks in per-thread arenas, so that a flood of logins on many threads grew the
/// process by gigabytes that were never given back. A hashing thread that owns one
/// `Memory` hashes without allocating: the memory of all hashing is then bounded by the
/// number of such threads, the same after a flood as before it.
#[derive(Default)]
pub struct Memory(Vec<Block>);

impl Memory {
    fn blocks(&mut self, params: &Params) -> &mut [Block] {
        let n = params.block_count();
        if self.0.len() < n {
            self.0.resize(n, Block::default());
        }
        &mut self.0[..n]
    }
}

fn hash_error(e: impl std::fmt::Display) -> PasswordError {
    PasswordError::Hash(e.to_string())
}

/// The argon2id hash of a password, with a random salt.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    hash_in(password, &mut Memory::default())
}

/// [`hash`] in the given working memory.
pub fn hash_in(password: &str, memory: &mut Memory) -> Result<String, PasswordError> {
    if password.is_empty() {
        return Err(PasswordError::Empty);
    }
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.as_salt().decode_b64(&mut salt_bytes).map_err(hash_error)?;
    let params = Params::default();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), salt_bytes, &mut out, memory.blocks(&params))
        .map_err(hash_error)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: (&params).try_into().map_err(hash_error)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(hash_error)?),
    };
    Ok(phc.to_string())
}

/// Whether a password matches a stored hash (a malformed hash matches nothing).
pub fn verify(password: &str, stored: &str) -> bool {
    verify_in(password, stored, &mut Memory::default())
}

/// [`verify`] in the given working memory: the stored hash's own algorithm, version and
/// parameters, compared in constant time.
pub fn verify_in(password: &str, stored: &str, memory: &mut Memory) -> bool {
    let Ok(phc) = PasswordHash::new(stored) else { return false };
    let (Some(expected), Some(salt)) = (phc.hash, phc.salt) else { return false };
    let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(phc.algorithm), Params::try_from(&phc)) else { return false };
    let Ok(version) = phc.version.map_or(Ok(Version::default()), Version::try_from) else { return false };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else { return false };
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params.clone());
    argon.hash_password_into_with_memory(password.as_bytes(), salt_bytes, &mut out, memory.blocks(&params)).is_ok()
        // Output's equality is constant-time.
        && Output::new(&out).is_ok_and(|out| out == expected)
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
    fn reused_memory_and_the_crates_own_hashes_agree() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let mut memory = Memory::default();
        // A hash made the crate's usual way verifies here, and the other way round.
        let theirs = Argon2::default().hash_password(b"pw", &SaltString::generate(&mut OsRng)).unwrap().to_string();
        assert!(verify_in("pw", &theirs, &mut memory));
        assert!(!verify_in("pW", &theirs, &mut memory));
        let ours = hash_in("pw", &mut memory).unwrap();
        assert!(Argon2::default().verify_password(b"pw", &PasswordHash::new(&ours).unwrap()).is_ok());
        // Other parameters (an older or stronger hash) are honoured, in the same memory.
        let params = Params::new(8192, 1, 1, None).unwrap();
        let other = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"pw", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(verify_in("pw", &other, &mut memory));
        assert!(!verify_in("pw", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$", &mut memory));
    }

    #[test]
    fn credentials_split_at_the_first_colon() {
        assert_eq!(split_credentials("admin:s3:cret"), Some(("admin", "s3:cret")));
        assert_eq!(split_credentials("admin"), None);
        assert_eq!(split_credentials(":x"), None);
    }
}
