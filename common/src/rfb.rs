//! RFB's security handshake (VNC Authentication), both sides: the proxy authenticates
//! to a desktop as a client, and the vm plugin's console bridge both authenticates to
//! Proxmox's console and accepts the proxy with the instance's password. Everything
//! after the security phase passes unchanged, so nothing else of RFB is here.

use des::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Why a handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum RfbError {
    /// The connection failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The peer speaks something else.
    #[error("{0}")]
    Protocol(String),
    /// The peer refused (a wrong password, no acceptable security type).
    #[error("{0}")]
    Refused(String),
}

/// The 16-byte answer to a VNC Authentication challenge: DES-ECB with the password
/// (truncated or zero-padded to 8 bytes) as key, each key byte's bits reversed.
pub fn vnc_auth_response(password: &str, challenge: &[u8; 16]) -> [u8; 16] {
    let mut key = [0u8; 8];
    for (k, p) in key.iter_mut().zip(password.bytes()) {
        *k = p.reverse_bits();
    }
    let cipher = des::Des::new(GenericArray::from_slice(&key));
    let mut out = *challenge;
    for half in out.chunks_exact_mut(8) {
        cipher.encrypt_block(GenericArray::from_mut_slice(half));
    }
    out
}

async fn read_reason(s: &mut (impl AsyncRead + Unpin)) -> Result<String, RfbError> {
    let len = s.read_u32().await? as usize;
    let mut reason = vec![0; len.min(4096)];
    s.read_exact(&mut reason).await?;
    Ok(String::from_utf8_lossy(&reason).into_owned())
}

/// Version and security with a server, as the client (None, or VNC Authentication with
/// `password`); the server then waits for ClientInit.
pub async fn authenticate(s: &mut (impl AsyncRead + AsyncWrite + Unpin), password: &str) -> Result<(), RfbError> {
    let mut version = [0u8; 12];
    s.read_exact(&mut version).await?;
    let minor = match &version {
        b"RFB 003.003\n" | b"RFB 003.005\n" => 3,
        b"RFB 003.007\n" => 7,
        v if v.starts_with(b"RFB 003.") || v.starts_with(b"RFB 004.") || v.starts_with(b"RFB 005.") => 8,
        v => return Err(RfbError::Protocol(format!("not an RFB server (it said {:?})", String::from_utf8_lossy(v)))),
    };
    s.write_all(format!("RFB 003.{minor:03}\n").as_bytes()).await?;
    let chosen = if minor == 3 {
        match s.read_u32().await? {
            0 => return Err(RfbError::Refused(read_reason(s).await?)),
            t @ (1 | 2) => t as u8,
            t => return Err(RfbError::Protocol(format!("security type {t} is not supported"))),
        }
    } else {
        let n = s.read_u8().await?;
        if n == 0 {
            return Err(RfbError::Refused(read_reason(s).await?));
        }
        let mut types = vec![0; n as usize];
        s.read_exact(&mut types).await?;
        let chosen = if types.contains(&2) && !password.is_empty() {
            2
        } else if types.contains(&1) {
            1
        } else if types.contains(&2) {
            return Err(RfbError::Refused("it asks for a password and the connection has none".into()));
        } else {
            return Err(RfbError::Protocol(format!(
                "it offers security types {types:?}; only None (1) and VNC Authentication (2) are spoken"
            )));
        };
        s.write_u8(chosen).await?;
        chosen
    };
    if chosen == 2 {
        let mut challenge = [0u8; 16];
        s.read_exact(&mut challenge).await?;
        s.write_all(&vnc_auth_response(password, &challenge)).await?;
    }
    // SecurityResult: always after VNC Authentication, after None only in 3.8.
    if (chosen == 2 || minor == 8) && s.read_u32().await? != 0 {
        let reason = if minor == 8 { read_reason(s).await? } else { String::new() };
        return Err(RfbError::Refused(format!("authentication failed {reason}").trim().to_string()));
    }
    Ok(())
}

/// Version and security with a client, as an RFB 3.8 server offering VNC Authentication
/// only: the client must answer `challenge` (random, the caller's) with `password`. The
/// client then sends ClientInit.
pub async fn accept(s: &mut (impl AsyncRead + AsyncWrite + Unpin), password: &str, challenge: [u8; 16]) -> Result<(), RfbError> {
    s.write_all(b"RFB 003.008\n").await?;
    let mut version = [0u8; 12];
    s.read_exact(&mut version).await?;
    if &version != b"RFB 003.008\n" && &version != b"RFB 003.007\n" {
        return Err(RfbError::Protocol(format!("the client speaks {:?}; RFB 3.7 or 3.8 is served", String::from_utf8_lossy(&version))));
    }
    s.write_all(&[1, 2]).await?;
    if s.read_u8().await? != 2 {
        return Err(RfbError::Protocol("the client chose a security type that was not offered".into()));
    }
    s.write_all(&challenge).await?;
    let mut answer = [0u8; 16];
    s.read_exact(&mut answer).await?;
    if password.is_empty() || answer != vnc_auth_response(password, &challenge) {
        let reason = b"authentication failed";
        s.write_u32(1).await?;
        s.write_u32(reason.len() as u32).await?;
        s.write_all(reason).await?;
        return Err(RfbError::Refused("the client's VNC password is wrong".into()));
    }
    s.write_u32(0).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vnc_authentication_matches_a_known_answer() {
        // OpenSSL's DES-ECB with the bit-reversed key 1e8c8cb4ceccc64e ("x11-s3cr"):
        // printf 0123456789abcdef | openssl enc -des-ecb -nopad -K 1e8c8cb4ceccc64e -provider legacy
        let want = [0xe0, 0x1a, 0x6c, 0xd3, 0xd0, 0x5b, 0xda, 0x56, 0x45, 0x6e, 0xa9, 0x27, 0x94, 0x44, 0x24, 0xe4];
        assert_eq!(vnc_auth_response("x11-s3cr", b"0123456789abcdef"), want);
        // Only the first 8 bytes of a password count.
        assert_eq!(vnc_auth_response("x11-s3cr-and-more", b"0123456789abcdef"), want);
    }

    #[tokio::test]
    async fn a_client_and_a_server_agree_on_the_right_password_only() {
        for (server_pw, client_pw, ok) in [("s3cret-long", "s3cret-l", true), ("s3cret", "wrong", false)] {
            let (mut a, mut b) = tokio::io::duplex(256);
            let server = tokio::spawn(async move { accept(&mut a, server_pw, *b"0123456789abcdef").await.is_ok() });
            let client = authenticate(&mut b, client_pw).await;
            assert_eq!(server.await.unwrap(), ok);
            assert_eq!(client.is_ok(), ok, "{client:?}");
        }
    }
}
