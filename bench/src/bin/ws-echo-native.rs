//! Reference WebSocket echo server without the plugin boundary, for `bench/run.sh`.
//!
//! Serves `/echo` (subprotocol `echo`) with the same poem version and the same echo
//! loop as the testbackend plugin's `/api/v1/testbackend/echo`: the socket is split,
//! and one loop receives a message and sends it back (a text `close` closes with code
//! 4000; pings and pongs are skipped). Only the boundary is missing: no `WsSource` /
//! `WsSink` trait objects, no mutexes around the halves, no `FfiFuture`s, no message
//! conversion between poem's and the ABI's types.
//!
//! Usage: `ws-echo-native [--listen 127.0.0.1:0]`. Prints
//! `ws-echo-native: listening on http://ADDR` on stdout once it accepts connections;
//! runs until killed.

use futures::{SinkExt as _, StreamExt as _};
use poem::{
    get, handler,
    listener::{Acceptor, Listener, TcpListener},
    web::websocket::{CloseCode, Message, WebSocket},
    IntoResponse, Route, Server,
};
use std::io::Write as _;

#[handler]
fn echo(ws: WebSocket) -> impl IntoResponse {
    ws.protocols(vec!["echo"]).on_upgrade(|socket| async move {
        let (mut sink, mut stream) = socket.split();
        while let Some(Ok(msg)) = stream.next().await {
            let reply = match msg {
                Message::Text(t) if t == "close" => Message::Close(Some((CloseCode::from(4000), "closed on request".into()))),
                Message::Close(_) => break,
                Message::Ping(_) | Message::Pong(_) => continue,
                other => other,
            };
            let closing = matches!(reply, Message::Close(_));
            if sink.send(reply).await.is_err() || closing {
                break;
            }
        }
    })
}

fn listen_arg() -> Result<String, String> {
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:0".to_string();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = args.next().ok_or("--listen needs an address")?,
            other => return Err(format!("unknown argument `{other}`; usage: ws-echo-native [--listen 127.0.0.1:0]")),
        }
    }
    if !listen.starts_with("127.0.0.1:") {
        return Err(format!("refusing to listen on {listen}: the bench only uses 127.0.0.1"));
    }
    Ok(listen)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let listen = match listen_arg() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ws-echo-native: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let acceptor = match TcpListener::bind(listen.clone()).into_acceptor().await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ws-echo-native: cannot listen on {listen}: {e}");
            return std::process::ExitCode::from(4);
        }
    };
    let local = acceptor.local_addr().first().and_then(|a| a.as_socket_addr().copied());
    let shown = local.map(|a| a.to_string()).unwrap_or(listen);
    println!("ws-echo-native: listening on http://{shown}");
    let _ = std::io::stdout().flush();
    match Server::new_with_acceptor(acceptor).run(Route::new().at("/echo", get(echo))).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ws-echo-native: server error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
