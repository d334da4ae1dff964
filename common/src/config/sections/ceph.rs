//! `ceph.toml`.

use super::*;

file! {
    /// `ceph.toml`: CephFS shares.
    CephFile {
        /// `[cephstore]` (with `[cephstore.daasfs]`)
        cephstore: CephstoreSection,
    }
}

file! {
    /// `[cephstore]`
    CephstoreSection {
        /// `[cephstore.daasfs]`
        daasfs: CephDaasfsSection,
    }
}
reserved_section!(
    /// `[cephstore.daasfs]`
    CephDaasfsSection
);
