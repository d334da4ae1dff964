//! `node.toml`.

use super::*;

file! {
    /// `node.toml`: the node's local services.
    NodeFile {
        /// `[host_dns]`
        host_dns: HostDnsSection,
        /// `[host_ssh]`
        host_ssh: SshAdapterSection,
    }
}

reserved_section!(
    /// `[host_dns]`
    HostDnsSection
);

file! {
    /// An SSH client's settings (seed `SshAdapterConfig`).
    SshAdapterSection {
        /// SSH user.
        sshuser: String,
        /// SSH host.
        sshhost: String,
        /// SSH port.
        sshport: u16,
        /// SSH options.
        sshopt: i64,
        /// Connect timeout in seconds.
        sshopt_timeout: u64,
        /// `StrictHostKeyChecking` value.
        sshopt_strictcheck: String,
        /// `NoHostAuthenticationForLocalhost` value.
        sshopt_nohostauth: String,
        /// Log commands.
        logcmd: bool,
        /// Log results.
        logresult: bool,
    }
}
