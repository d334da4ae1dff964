//! The Guacamole path: the browser's guacamole-common-js speaks the Guacamole protocol
//! over a WebSocket; the proxy does the handshake with guacd on its behalf and relays
//! whole instructions (seed 000 §3.2.1, PROTOCOLS.md §1).

pub mod handshake;
pub mod parser;
pub mod tunnel;

/// Guacamole status codes the proxy reports (`protocol-types.h`), with the WebSocket
/// close code guacamole-client pairs with each (`GuacamoleStatus.java`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 0: the session ended normally.
    Success,
    /// 512: the proxy itself failed.
    ServerError,
    /// 514: guacd did not answer in time.
    UpstreamTimeout,
    /// 515: guacd failed or broke the protocol.
    UpstreamError,
    /// 519: guacd (or the desktop) cannot be reached.
    UpstreamNotFound,
    /// 768: the browser sent something malformed.
    ClientBadRequest,
    /// 783: the browser sent a frame of the wrong type.
    ClientBadType,
    /// Any other code, as guacd sent it.
    Other(u32),
}

impl Status {
    /// The numeric code, as it goes into `error` and the close reason.
    pub fn code(self) -> u32 {
        match self {
            Status::Success => 0,
            Status::ServerError => 512,
            Status::UpstreamTimeout => 514,
            Status::UpstreamError => 515,
            Status::UpstreamNotFound => 519,
            Status::ClientBadRequest => 768,
            Status::ClientBadType => 783,
            Status::Other(c) => c,
        }
    }

    /// The WebSocket close code guacamole-client sends with this status.
    pub fn close_code(self) -> u16 {
        match self.code() {
            0 => 1000,
            // SERVER_BUSY, RESOURCE_CONFLICT, SESSION_CONFLICT, CLIENT_UNAUTHORIZED,
            // CLIENT_FORBIDDEN, CLIENT_TOO_MANY
            513 | 517 | 521 | 769 | 771 | 797 => 1008,
            // RESOURCE_NOT_FOUND, RESOURCE_CLOSED, SESSION_TIMEOUT, SESSION_CLOSED,
            // CLIENT_BAD_REQUEST, CLIENT_TIMEOUT
            516 | 518 | 522 | 523 | 768 | 776 => 1002,
            781 => 1009,
            783 => 1003,
            _ => 1011,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Status;

    #[test]
    fn close_codes_are_guacamole_clients() {
        assert_eq!(Status::Success.close_code(), 1000);
        assert_eq!(Status::UpstreamNotFound.close_code(), 1011);
        assert_eq!(Status::ClientBadRequest.close_code(), 1002);
        assert_eq!(Status::ClientBadType.close_code(), 1003);
        assert_eq!(Status::Other(769).close_code(), 1008);
        assert_eq!(Status::Other(781).close_code(), 1009);
    }
}
