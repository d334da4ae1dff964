//! `vm.toml`.

use super::*;

file! {
    /// `vm.toml`: the VM backends.
    VmFile {
        /// `[vm_api]`
        vm_api: VmApiSection,
        /// `[vm_rest]`
        vm_rest: VmRestSection,
        /// `[vm_http]`
        vm_http: HttpAdapterSection,
    }
}

reserved_section!(
    /// `[vm_api]`
    VmApiSection
);
reserved_section!(
    /// `[vm_rest]`
    VmRestSection
);

file! {
    /// An HTTP client's settings (seed `HttpAdapterConfig`).
    HttpAdapterSection {
        /// Verify TLS certificates.
        verify_tls: bool,
        /// Log.
        logging: bool,
        /// Log requests.
        logrequests: bool,
        /// Log results.
        logresults: bool,
    }
}
