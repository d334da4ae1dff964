//! The vm backend's errors: each says what failed and what to do, and maps to a backend
//! error kind (and so to an HTTP status where a route answers it).

use daas_plugin_api::abi::{BackendError, BackendErrorKind};

/// What can go wrong with a VM.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// The request itself is wrong (a name, a path, a size).
    #[error("{0}")]
    BadRequest(String),
    /// An instance or artifact does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The state forbids it (a name in use, an artifact others are made from).
    #[error("{0}")]
    Conflict(String),
    /// The engine cannot be reached or run (QEMU missing, Proxmox unreachable).
    #[error("{0}")]
    Unavailable(String),
    /// A guest did not answer in time; `console` holds its last lines.
    #[error("{what}{}", console_tail(console))]
    Timeout {
        /// What did not happen.
        what: String,
        /// The console's last lines.
        console: String,
    },
    /// The engine refused or failed (QEMU's or the guest agent's own error).
    #[error("{0}")]
    Failed(String),
}

fn console_tail(console: &str) -> String {
    if console.trim().is_empty() {
        String::new()
    } else {
        format!("; the console's last lines:\n{}", console.trim_end())
    }
}

impl VmError {
    /// An I/O error on `what` (a file of the backend's state, a socket).
    pub fn io(what: impl std::fmt::Display, e: std::io::Error) -> VmError {
        VmError::Failed(format!("{what}: {e}"))
    }

    /// A guest command's `(exit code, output)` as success, or as the failure of `what`
    /// with its output.
    pub fn checked((code, output): (i64, String), what: &str) -> Result<(), VmError> {
        if code == 0 {
            Ok(())
        } else {
            Err(VmError::Failed(format!("`{what}` in the guest exited with {code}: {}", output.trim())))
        }
    }

    /// The backend error kind (and so the HTTP status) of this error.
    pub fn kind(&self) -> BackendErrorKind {
        match self {
            VmError::BadRequest(_) => BackendErrorKind::BadRequest,
            VmError::NotFound(_) => BackendErrorKind::NotFound,
            VmError::Conflict(_) => BackendErrorKind::Conflict,
            VmError::Unavailable(_) | VmError::Timeout { .. } => BackendErrorKind::Unavailable,
            VmError::Failed(_) => BackendErrorKind::Internal,
        }
    }
}

impl From<VmError> for BackendError {
    fn from(e: VmError) -> Self {
        BackendError::new(e.kind(), e.to_string())
    }
}
