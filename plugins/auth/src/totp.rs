//! The optional second factor: time-based one-time passwords (RFC 6238: SHA-1, 6
//! digits, 30-second steps, one step of clock skew), as authenticator apps expect, with
//! the totp-rs crate.
//!
//! Enrolment is two steps, so that a user who never scanned the secret is not locked
//! out: the secret is first stored as pending (`pending:<secret>`, encrypted at rest by
//! the db plugin like every TOTP secret) and becomes active once the user proves it with
//! a code.

use totp_rs::{Algorithm, Secret, TOTP};

const PENDING: &str = "pending:";
const ISSUER: &str = "daas";

fn totp(secret: &str, account: &str) -> Option<TOTP> {
    let bytes = Secret::Encoded(secret.to_string()).to_bytes().ok()?;
    TOTP::new(Algorithm::SHA1, 6, 1, 30, bytes, Some(ISSUER.into()), account.to_string()).ok()
}

/// A new random secret (base32, 160 bits).
pub fn new_secret() -> String {
    match Secret::generate_secret().to_encoded() {
        Secret::Encoded(s) => s,
        Secret::Raw(_) => unreachable!("to_encoded answers an encoded secret"),
    }
}

/// The `otpauth://` URL an authenticator app scans.
pub fn url(secret: &str, account: &str) -> String {
    totp(secret, account).map(|t| t.get_url()).unwrap_or_default()
}

/// Whether a code is valid now for a secret.
pub fn check(secret: &str, account: &str, code: &str) -> bool {
    totp(secret, account).is_some_and(|t| t.check_current(code.trim()).unwrap_or(false))
}

/// The stored form of a secret awaiting confirmation.
pub fn pending(secret: &str) -> String {
    format!("{PENDING}{secret}")
}

/// A stored value as (secret, active).
pub fn parse(stored: &str) -> (&str, bool) {
    match stored.strip_prefix(PENDING) {
        Some(s) => (s, false),
        None => (stored, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_of_the_current_step_pass_others_do_not() {
        let secret = new_secret();
        let code = totp(&secret, "ann").unwrap().generate_current().unwrap();
        assert!(check(&secret, "ann", &code));
        assert!(!check(&secret, "ann", "000000") || code == "000000");
        assert!(!check("not base32!", "ann", &code));
        assert!(url(&secret, "ann").starts_with("otpauth://totp/daas:ann?secret="));
        assert_eq!(parse(&pending(&secret)), (secret.as_str(), false));
        assert_eq!(parse(&secret), (secret.as_str(), true));
    }
}
