//! A plain HTTP/1.1 GET over loopback, for `/metrics` and friends: the
//! status line and the body.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::timeout;

pub async fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut tcp = TcpStream::connect(addr).await.unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tcp.write_all(req.as_bytes()).await.unwrap_or_else(|e| panic!("sending GET {path}: {e}"));
    let mut out = String::new();
    timeout(Duration::from_secs(10), tcp.read_to_string(&mut out))
        .await
        .unwrap_or_else(|_| panic!("GET {path}: no answer in 10 s"))
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    (head.lines().next().unwrap_or_default().to_string(), body.to_string())
}
