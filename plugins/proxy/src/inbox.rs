//! The browser's frames as both relays take them: one at a time, and then whatever
//! else has already arrived, so that a burst of input events reaches the desktop in one
//! write.
//!
//! noVNC and guacamole-common-js send every key and pointer event as a frame of its
//! own (8 to 30 bytes). Written one by one, each becomes a TCP segment of its own: a
//! system call and a trip through the loopback stack per event, about 8 µs of server CPU
//! (docs/benchmarks.md, input events). Frames that are already here are joined instead;
//! nothing ever waits for more to come, so a lone event goes out as soon as it arrives.

use abi_stable::std_types::RVec;
use daas_plugin_api::{abi::WsMessage, sdk::WsSource};
use futures::FutureExt as _;

/// A write stops growing at this size: large frames are not copied into one another,
/// and a burst does not grow one buffer without bound.
pub const BATCH_MAX: usize = 16 * 1024;

/// The browser's side of a relay.
pub struct Inbox<'a> {
    source: &'a WsSource,
    /// A frame (or the end, `None`) taken while looking ahead that the batch could not
    /// hold: it is the next one [`Inbox::next`] returns.
    held: Option<Option<WsMessage>>,
}

impl<'a> Inbox<'a> {
    /// The browser's frames from `source`.
    pub fn new(source: &'a WsSource) -> Self {
        Inbox { source, held: None }
    }

    /// The next frame, waiting for it; `None` once the browser is gone.
    pub async fn next(&mut self) -> Option<WsMessage> {
        match self.held.take() {
            Some(held) => held,
            None => self.source.recv().await,
        }
    }

    /// The next frame if it has already arrived, without waiting. A frame the caller
    /// cannot add to its batch goes back with [`Inbox::hold`].
    pub fn ready(&mut self) -> Option<WsMessage> {
        if self.held.is_some() {
            return None;
        }
        // The host's receive is cancel-safe: a frame not yet whole stays in its buffer.
        match self.source.recv().now_or_never() {
            Some(Some(frame)) => Some(frame),
            Some(None) => {
                self.held = Some(None);
                None
            }
            None => None,
        }
    }

    /// Put back a frame [`Inbox::ready`] returned: [`Inbox::next`] returns it first.
    pub fn hold(&mut self, frame: WsMessage) {
        debug_assert!(self.held.is_none(), "one frame is held at a time");
        self.held = Some(Some(frame));
    }

    /// `first`'s bytes and those of the binary frames that have already arrived after
    /// it, up to [`BATCH_MAX`], in order. A large first frame goes on as it is (the
    /// host's buffer, uncopied).
    pub fn binary_batch(&mut self, mut first: RVec<u8>) -> RVec<u8> {
        while first.len() < BATCH_MAX {
            match self.ready() {
                Some(WsMessage::Binary(more)) => first.extend_from_slice(&more),
                Some(other) => {
                    self.hold(other);
                    break;
                }
                None => break,
            }
        }
        first
    }
}
