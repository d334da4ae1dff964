//! `limits.toml`.

use super::*;

file! {
    /// `limits.toml`: per-owner resource limits.
    LimitsFile {
        /// `[limits]`
        limits: LimitsSection,
    }
}
reserved_section!(
    /// `[limits]`
    LimitsSection
);
