//! Proxmox consoles for the proxy, without guacd: each running VM gets a VNC port on
//! loopback (the machine contract's VNC endpoint). A connection there must pass VNC
//! Authentication with the instance's password (the one the proxy holds); then the
//! bridge asks Proxmox for a console (`POST …/vncproxy` with `websocket=1`: a port, a
//! ticket and a one-time VNC password), opens `…/vncwebsocket` as the same API user
//! (tokio-tungstenite), authenticates there, and relays the rest of RFB unchanged
//! between the two. Neither Proxmox's credentials nor its console password leave this
//! plugin.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use daas_common::{rfb, token::random_bytes};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt, DuplexStream},
    net::{TcpListener, TcpStream},
    task::AbortHandle,
};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http::HeaderValue, Message};

use super::rest::{number, urlencode, Method, Rest};
use crate::error::VmError;

/// The open bridges, by VM id.
pub struct Consoles {
    rest: Arc<Rest>,
    node: String,
    verify_tls: bool,
    open: Mutex<HashMap<u64, (u16, AbortHandle)>>,
}

impl Consoles {
    pub fn new(rest: Arc<Rest>, node: String, verify_tls: bool) -> Consoles {
        Consoles { rest, node, verify_tls, open: Mutex::default() }
    }

    /// Bridge a VM's console on a new loopback port, for clients that know `password`.
    pub async fn open(&self, vmid: u64, password: &str) -> Result<u16, VmError> {
        self.close(vmid);
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| VmError::io("a console bridge's port", e))?;
        let port = listener.local_addr().map_err(|e| VmError::io("a console bridge's port", e))?.port();
        let bridge =
            Bridge { rest: self.rest.clone(), node: self.node.clone(), vmid, password: password.to_string(), verify_tls: self.verify_tls };
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { continue };
                let bridge = bridge.clone();
                tokio::spawn(async move {
                    if let Err(e) = bridge.serve(tcp).await {
                        tracing::warn!(vmid, error = %e, "a Proxmox console connection ended");
                    }
                });
            }
        });
        self.open.lock().unwrap_or_else(|p| p.into_inner()).insert(vmid, (port, task.abort_handle()));
        Ok(port)
    }

    /// The bridge's port, if one is open.
    pub fn port(&self, vmid: u64) -> Option<u16> {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).get(&vmid).map(|(p, _)| *p)
    }

    /// Close a VM's bridge (its port stops listening; connections under way end with
    /// their VM).
    pub fn close(&self, vmid: u64) {
        if let Some((_, task)) = self.open.lock().unwrap_or_else(|p| p.into_inner()).remove(&vmid) {
            task.abort();
        }
    }
}

#[derive(Clone)]
struct Bridge {
    rest: Arc<Rest>,
    node: String,
    vmid: u64,
    password: String,
    verify_tls: bool,
}

impl Bridge {
    async fn serve(&self, mut tcp: TcpStream) -> Result<(), VmError> {
        let refused = |e: rfb::RfbError| VmError::Failed(format!("VNC handshake: {e}"));
        // The client first: nothing of Proxmox's is asked for a client without the password.
        rfb::accept(&mut tcp, &self.password, random_bytes()).await.map_err(refused)?;
        let path = format!("/nodes/{}/qemu/{}", self.node, self.vmid);
        let console = self.rest.call(Method::Post, &format!("{path}/vncproxy"), json!({ "websocket": 1 })).await?;
        let (Some(ticket), Some(pve_password)) = (console["ticket"].as_str(), console["password"].as_str()) else {
            return Err(VmError::Failed(format!("Proxmox's vncproxy answered no ticket or password: {console}")));
        };
        let port = number(&console["port"]).unwrap_or(0);
        let ws_base = self.rest.base().replacen("http", "ws", 1);
        let url = format!("{ws_base}{path}/vncwebsocket?port={port}&vncticket={}", urlencode(ticket));
        let mut request = url.as_str().into_client_request().map_err(|e| VmError::Failed(format!("the console's URL {url}: {e}")))?;
        for (k, v) in self.rest.auth_headers(false).await? {
            let value = HeaderValue::from_str(&v).map_err(|e| VmError::Failed(e.to_string()))?;
            request
                .headers_mut()
                .insert(k.parse::<tokio_tungstenite::tungstenite::http::HeaderName>().map_err(|e| VmError::Failed(e.to_string()))?, value);
        }
        // Proxmox's server upgrades only for the `binary` protocol (noVNC asks for it too).
        request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("binary"));
        let connector = if self.verify_tls { None } else { Some(insecure_connector()?) };
        let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(request, None, false, connector)
            .await
            .map_err(|e| VmError::Unavailable(format!("Proxmox's console WebSocket for VM {} did not open: {e}", self.vmid)))?;
        let (mut rfb_side, pump_side) = tokio::io::duplex(64 * 1024);
        let pump = tokio::spawn(pump(ws, pump_side));
        rfb::authenticate(&mut rfb_side, pve_password).await.map_err(|e| VmError::Failed(format!("Proxmox's console refused: {e}")))?;
        // From here RFB passes unchanged: the client's ClientInit, the server's init and
        // every message after.
        let _ = tokio::io::copy_bidirectional(&mut tcp, &mut rfb_side).await;
        pump.abort();
        Ok(())
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// Binary frames from the WebSocket into the pipe, bytes from the pipe out as frames.
async fn pump(ws: Ws, pipe: DuplexStream) {
    let (mut sink, mut stream) = ws.split();
    let (mut read, mut write) = tokio::io::split(pipe);
    let inbound = async {
        while let Some(Ok(m)) = stream.next().await {
            let bytes = match m {
                Message::Binary(b) => b,
                Message::Close(_) => break,
                _ => continue,
            };
            if write.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = write.shutdown().await;
    };
    let outbound = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if sink.send(Message::Binary(buf[..n].to_vec())).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = sink.close().await;
    };
    tokio::join!(inbound, outbound);
}

/// TLS without certificate checks (`[vm_http] verify_tls = false`: a Proxmox host's own
/// self-signed certificate), as reqwest's `danger_accept_invalid_certs` does for the API.
fn insecure_connector() -> Result<tokio_tungstenite::Connector, VmError> {
    use rustls::{
        client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
        pki_types::{CertificateDer, ServerName, UnixTime},
        DigitallySignedStruct, SignatureScheme,
    };

    #[derive(Debug)]
    struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

    impl ServerCertVerifier for AcceptAny {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
        }
        fn verify_tls13_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| VmError::Failed(format!("TLS for Proxmox's console: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    Ok(tokio_tungstenite::Connector::Rustls(Arc::new(config)))
}
