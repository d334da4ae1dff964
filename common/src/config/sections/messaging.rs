//! `messaging.toml`.

use super::*;

file! {
    /// `messaging.toml`: messaging with instances.
    MessagingFile {
        /// `[instances]`
        instances: InstancesSection,
        /// `[inst_queue]`
        inst_queue: InstQueueSection,
        /// `[inst_ssh]`
        inst_ssh: SshAdapterSection,
    }
}
reserved_section!(
    /// `[instances]`
    InstancesSection
);
reserved_section!(
    /// `[inst_queue]`
    InstQueueSection
);
