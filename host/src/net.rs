//! TCP connections the host opens for plugins (`HostExt::connect_tcp`): sockets on the
//! host's reactor, so that a plugin relaying between one and a WebSocket the host
//! upgraded is woken straight from the host's reactor, with no hop through the plugin's
//! runtime threads (see `daas_plugin_api::sdk::net`).

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll},
    time::Duration,
};

use abi_stable::{
    sabi_trait::TD_Opaque,
    std_types::{RResult, RString, RVec},
};
use async_ffi::{FfiFuture, FutureExt as _};
use bytes::BufMut as _;
use daas_plugin_api::{
    abi::{HostTcp, HostTcpBox, HostTcp_TO},
    PluginName,
};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::tcp::{OwnedReadHalf, OwnedWriteHalf},
    runtime::Handle,
    sync::Mutex,
};

static RUNTIME: OnceLock<Handle> = OnceLock::new();

/// Remember the host's runtime: plugins' sockets are put on its reactor.
pub fn init(runtime: Handle) {
    let _ = RUNTIME.set(runtime);
}

/// The host's runtime, once [`init`] ran.
pub fn runtime() -> Option<Handle> {
    RUNTIME.get().cloned()
}

/// A host future that enters the host's runtime on every poll: a plugin may poll it from
/// one of its own threads, where only the plugin's copy of tokio has a context.
struct InHost<F> {
    handle: Handle,
    fut: Pin<Box<F>>,
}

impl<F: Future> Future for InHost<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _entered = self.handle.enter();
        self.fut.as_mut().poll(cx)
    }
}

fn in_host<F, T>(handle: &Handle, fut: F) -> FfiFuture<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    InHost { handle: handle.clone(), fut: Box::pin(fut) }.into_ffi()
}

struct Conn {
    handle: Handle,
    read: Mutex<OwnedReadHalf>,
    write: Mutex<OwnedWriteHalf>,
}

struct HostConn(Arc<Conn>);

impl HostTcp for HostConn {
    fn read(&self, buf: RVec<u8>, max: usize) -> FfiFuture<RResult<RVec<u8>, RString>> {
        let conn = self.0.clone();
        in_host(&self.0.handle, async move {
            // A buffer the host allocated comes back as it went (no copy); one from the
            // plugin is copied once here (small: the unfinished tail of a message).
            let mut buf = buf.into_vec();
            buf.reserve(max);
            let read = conn.read.lock().await.read_buf(&mut (&mut buf).limit(max)).await;
            match read {
                Ok(_) => RResult::ROk(RVec::from(buf)),
                Err(e) => RResult::RErr(RString::from(e.to_string())),
            }
        })
    }

    fn write(&self, data: RVec<u8>) -> FfiFuture<RResult<(), RString>> {
        let conn = self.0.clone();
        in_host(
            &self.0.handle,
            async move { conn.write.lock().await.write_all(&data).await.map_err(|e| RString::from(e.to_string())).into() },
        )
    }

    fn shutdown(&self) -> FfiFuture<RResult<(), RString>> {
        let conn = self.0.clone();
        in_host(&self.0.handle, async move { conn.write.lock().await.shutdown().await.map_err(|e| RString::from(e.to_string())).into() })
    }
}

/// `HostExt::connect_tcp`.
pub extern "C" fn connect_tcp(plugin: PluginName, address: RString, timeout_ms: u64) -> FfiFuture<RResult<HostTcpBox, RString>> {
    // `init` runs before any plugin starts; without it there is no reactor to put the
    // socket on.
    let Some(handle) = runtime() else {
        return std::future::ready(RResult::RErr(RString::from("the host has no runtime yet"))).into_ffi();
    };
    in_host(&handle.clone(), async move {
        let address = address.into_string();
        let connect = tokio::net::TcpStream::connect(address.as_str());
        let stream = match tokio::time::timeout(Duration::from_millis(timeout_ms), connect).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => return RResult::RErr(format!("connecting to {address} failed: {e}").into()),
            Err(_) => return RResult::RErr(format!("{address} did not accept the connection within {timeout_ms} ms").into()),
        };
        // Relayed messages are small and latency-bound (keys, pointer moves, pings).
        let _ = stream.set_nodelay(true);
        tracing::debug!(plugin = plugin.as_str(), %address, "tcp connection opened for a plugin");
        let (read, write) = stream.into_split();
        let conn = HostConn(Arc::new(Conn { handle, read: Mutex::new(read), write: Mutex::new(write) }));
        RResult::ROk(HostTcp_TO::from_value(conn, TD_Opaque))
    })
}
