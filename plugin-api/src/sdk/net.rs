//! TCP connections opened by the host ([`HostExt::connect_tcp`](crate::abi::HostExt)).
//!
//! Why not `tokio::net::TcpStream`: a plugin's own sockets register with the plugin's
//! runtime, whose threads then wake the host's task for every read. A plugin that relays
//! between a socket and a WebSocket the host upgraded (the proxy) pays that thread hop on
//! every message, twice per round trip. A [`TcpStream`] lives on the host's reactor, as
//! the WebSocket does.
//!
//! Its owned-buffer calls ([`TcpStream::read_into`], [`TcpStream::write_owned`]) take and
//! give [`RVec`]s: abi_stable copies a buffer that is turned into a `Vec` on the other
//! side of the boundary from where it was allocated, so a relay that hands the host's
//! own buffers back (a read's buffer as a WebSocket frame, a frame's buffer to a write)
//! moves bytes from socket to socket without copying them.
//!
//! It also implements tokio's `AsyncRead` and `AsyncWrite`, for handshakes written with
//! `AsyncReadExt` / `AsyncWriteExt` (those copy, which costs nothing at that size).

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::Arc,
    task::{ready, Context, Poll},
    time::Duration,
};

use abi_stable::std_types::{RResult, RString, RVec};
use async_ffi::FfiFuture;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::abi::HostTcpBox;

fn io_error(message: RString) -> io::Error {
    io::Error::other(message.into_string())
}

/// How much one `AsyncRead` poll asks the host for when the caller's buffer is larger.
const ADAPTER_READ: usize = 16 * 1024;

/// A TCP connection on the host's reactor. Reads and writes may run at the same time
/// from different futures (`&self` methods); the `AsyncRead`/`AsyncWrite` adapter needs
/// `&mut self`.
pub struct TcpStream {
    conn: Arc<HostTcpBox>,
    /// The adapter's futures in flight, kept across polls (dropping a read would lose its
    /// bytes). Only ever reached through `&mut self` (`get_mut`, no locking): the mutex
    /// is there to make the stream `Sync`, which FFI futures are not, so that the
    /// `&self` methods can run from two futures at once.
    adapter: std::sync::Mutex<Adapter>,
}

#[derive(Default)]
struct Adapter {
    reading: Option<FfiFuture<RResult<RVec<u8>, RString>>>,
    /// The write in flight and how many bytes it carries.
    writing: Option<(FfiFuture<RResult<(), RString>>, usize)>,
    shutting: Option<FfiFuture<RResult<(), RString>>>,
}

impl TcpStream {
    /// The connection and the adapter's state, apart.
    fn parts(&mut self) -> (&HostTcpBox, &mut Adapter) {
        (&self.conn, self.adapter.get_mut().unwrap_or_else(|p| p.into_inner()))
    }
}

impl TcpStream {
    /// Connect to `address` (`host:port`) within `timeout`. Fails with a message naming
    /// the address when nothing answers in time.
    pub async fn connect(address: &str, timeout: Duration) -> io::Result<TcpStream> {
        let host = super::host();
        // Part of HostExt's prefix: every 0.2 host has it.
        let connect = host.services().ext.connect_tcp();
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let conn = connect(host.services().plugin, address.into(), timeout_ms).await.into_result().map_err(io_error)?;
        Ok(TcpStream::from_host(conn))
    }

    /// Wrap a connection the host handed over.
    pub fn from_host(conn: HostTcpBox) -> TcpStream {
        TcpStream { conn: Arc::new(conn), adapter: Default::default() }
    }

    /// Append what one read brings, at most `max` bytes, to `buf` and return it; the
    /// same length back means the peer closed its side. The buffer returned is the
    /// host's: sent on as a WebSocket message as it is, it is not copied again. Not
    /// cancel-safe for `buf`: keep the future alive until it completes (a relay loop per
    /// direction does).
    pub async fn read_into(&self, buf: RVec<u8>, max: usize) -> io::Result<RVec<u8>> {
        self.conn.read(buf, max).await.into_result().map_err(io_error)
    }

    /// Write all of `data`, handing the buffer to the host (a WebSocket message's buffer,
    /// passed on as it is, is the host's own and is not copied).
    pub async fn write_owned(&self, data: RVec<u8>) -> io::Result<()> {
        self.conn.write(data).await.into_result().map_err(io_error)
    }

    /// Close the writing side: the peer reads the end of the stream.
    pub async fn shutdown_write(&self) -> io::Result<()> {
        self.conn.shutdown().await.into_result().map_err(io_error)
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let (conn, adapter) = self.get_mut().parts();
        // Never more than the caller has room for, so nothing read is ever kept here
        // (owned reads and adapter reads can follow one another freely).
        let max = buf.remaining().min(ADAPTER_READ);
        if max == 0 {
            return Poll::Ready(Ok(()));
        }
        let reading = adapter.reading.get_or_insert_with(|| conn.read(RVec::new(), max));
        let read = ready!(Pin::new(reading).poll(cx));
        adapter.reading = None;
        let data = read.into_result().map_err(io_error)?;
        if data.len() > buf.remaining() {
            return Poll::Ready(Err(io::Error::other("the host returned more bytes than asked for")));
        }
        buf.put_slice(&data);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let (conn, adapter) = self.get_mut().parts();
        // A write returned Pending keeps its future: the caller comes back with the same
        // bytes (AsyncWrite's contract), which are then already on their way.
        let (writing, len) = adapter.writing.get_or_insert_with(|| (conn.write(RVec::from(data.to_vec())), data.len()));
        let len = *len;
        let written = ready!(Pin::new(writing).poll(cx));
        adapter.writing = None;
        written.into_result().map_err(io_error)?;
        Poll::Ready(Ok(len))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let (_, adapter) = self.get_mut().parts();
        if let Some((writing, _)) = adapter.writing.as_mut() {
            let written = ready!(Pin::new(writing).poll(cx));
            adapter.writing = None;
            written.into_result().map_err(io_error)?;
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        let (conn, adapter) = self.get_mut().parts();
        let shutting = adapter.shutting.get_or_insert_with(|| conn.shutdown());
        let done = ready!(Pin::new(shutting).poll(cx));
        adapter.shutting = None;
        Poll::Ready(done.into_result().map_err(io_error))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use abi_stable::{
        sabi_trait::TD_Opaque,
        std_types::{RResult, RString, RVec},
    };
    use async_ffi::{FfiFuture, FutureExt as _};
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf},
        sync::Mutex,
    };

    use super::TcpStream;
    use crate::abi::{HostTcp, HostTcp_TO};

    type Halves = (Mutex<ReadHalf<DuplexStream>>, Mutex<WriteHalf<DuplexStream>>);

    /// The host's side, over an in-memory pipe instead of a socket.
    struct Pipe(Arc<Halves>);

    impl HostTcp for Pipe {
        fn read(&self, buf: RVec<u8>, max: usize) -> FfiFuture<RResult<RVec<u8>, RString>> {
            let pipe = self.0.clone();
            async move {
                let mut buf = buf.into_vec();
                let mut chunk = vec![0; max];
                match pipe.0.lock().await.read(&mut chunk).await {
                    Ok(n) => {
                        buf.extend_from_slice(&chunk[..n]);
                        RResult::ROk(buf.into())
                    }
                    Err(e) => RResult::RErr(e.to_string().into()),
                }
            }
            .into_ffi()
        }
        fn write(&self, data: RVec<u8>) -> FfiFuture<RResult<(), RString>> {
            let pipe = self.0.clone();
            async move { pipe.1.lock().await.write_all(&data).await.map_err(|e| RString::from(e.to_string())).into() }.into_ffi()
        }
        fn shutdown(&self) -> FfiFuture<RResult<(), RString>> {
            let pipe = self.0.clone();
            async move { pipe.1.lock().await.shutdown().await.map_err(|e| RString::from(e.to_string())).into() }.into_ffi()
        }
    }

    fn pair() -> (TcpStream, DuplexStream) {
        let (ours, theirs) = tokio::io::duplex(1 << 20);
        let (rd, wr) = tokio::io::split(ours);
        let conn = HostTcp_TO::from_value(Pipe(Arc::new((Mutex::new(rd), Mutex::new(wr)))), TD_Opaque);
        (TcpStream::from_host(conn), theirs)
    }

    #[tokio::test]
    async fn owned_reads_append_and_an_unchanged_length_is_the_end() {
        let (tcp, mut peer) = pair();
        peer.write_all(b"world").await.unwrap();
        let buf = tcp.read_into(RVec::from(&b"hello "[..]), 64).await.unwrap();
        assert_eq!(buf.as_slice(), b"hello world");
        peer.write_all(b"0123456789").await.unwrap();
        let buf = tcp.read_into(RVec::new(), 4).await.unwrap();
        assert_eq!(buf.as_slice(), b"0123", "at most `max` bytes per read");
        tcp.write_owned(RVec::from(&b"back"[..])).await.unwrap();
        let mut got = [0; 4];
        peer.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"back");
        drop(peer);
        let rest = tcp.read_into(RVec::new(), 64).await.unwrap();
        assert_eq!(rest.as_slice(), b"456789");
        assert_eq!(tcp.read_into(rest, 64).await.unwrap().len(), 6, "the end of the stream leaves the buffer as it was");
    }

    #[tokio::test]
    async fn the_tokio_adapter_reads_exactly_and_owned_reads_follow_on() {
        let (mut tcp, mut peer) = pair();
        peer.write_all(b"RFB 003.008\n\x01\x02rest").await.unwrap();
        let mut version = [0; 12];
        tcp.read_exact(&mut version).await.unwrap();
        assert_eq!(&version, b"RFB 003.008\n");
        assert_eq!(tcp.read_u8().await.unwrap(), 1);
        assert_eq!(tcp.read_u8().await.unwrap(), 2);
        let mut re = [0; 2];
        tcp.read_exact(&mut re).await.unwrap();
        assert_eq!(&re, b"re");
        // The adapter took only what it was asked for: the rest is there for an owned read.
        assert_eq!(tcp.read_into(RVec::new(), 64).await.unwrap().as_slice(), b"st");
        tcp.write_all(b"RFB 003.008\n").await.unwrap();
        tcp.write_u32(7).await.unwrap();
        tcp.shutdown().await.unwrap();
        let mut all = Vec::new();
        peer.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"RFB 003.008\n\0\0\0\x07");
    }
}
