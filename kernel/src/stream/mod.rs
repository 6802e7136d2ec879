//! Stream-level pieces shared by every kind of XML stream the kernel speaks:
//! the transport type, stream headers, stream errors, the writer, and the
//! cut of a writer's output into top-level pieces for the web transports.

pub mod pieces;
mod writer;

pub use writer::StreamWriter;

use std::future::Future;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use waxwing_xml::{StreamErrorCondition, escape_attr, ns};

use crate::xml::{StreamEvent, StreamReadError, StreamReader};

/// A byte transport: TCP before STARTTLS, TLS after.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}
pub type BoxIo = Box<dyn Io>;

/// Accepts connections on `listener` for ever, each served by its own task.
pub fn accept_loop<F, Fut>(listener: TcpListener, serve: F) -> tokio::task::JoinHandle<()>
where
    F: Fn(TcpStream, SocketAddr) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((tcp, peer)) => {
                    let _ = tcp.set_nodelay(true);
                    tokio::spawn(serve(tcp, peer));
                }
                Err(e) => {
                    // Usually EMFILE: back off instead of spinning.
                    tracing::warn!("accept on {:?}: {e}", listener.local_addr().ok());
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    })
}

/// Reads a stream's events into `tx` until it ends. The parser is not
/// cancel-safe, so it runs in a task of its own that a `select!` never
/// drops halfway through an element. `T` may box the event: a channel
/// allocates its first 32 slots up front, whatever its bound.
pub async fn read_events<R, T>(mut reader: StreamReader<R>, tx: mpsc::Sender<T>)
where
    R: AsyncRead + Unpin,
    T: From<Result<StreamEvent, StreamReadError>>,
{
    loop {
        let ev = reader.next().await;
        let last = !matches!(ev, Ok(StreamEvent::Stanza(_) | StreamEvent::Keepalive));
        if tx.send(ev.into()).await.is_err() || last {
            return;
        }
    }
}

/// The responding entity's stream header (RFC 6120 §4.7).
pub fn header(content_ns: &str, from: &str, to: Option<&str>, id: &str, lang: &str) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("<?xml version='1.0'?><stream:stream xmlns='");
    out.push_str(content_ns);
    out.push_str("' xmlns:stream='");
    out.push_str(ns::STREAMS);
    out.push_str("' from='");
    out.push_str(&escape_attr(from));
    if let Some(to) = to {
        out.push_str("' to='");
        out.push_str(&escape_attr(to));
    }
    out.push_str("' id='");
    out.push_str(&escape_attr(id));
    out.push_str("' version='1.0' xml:lang='");
    out.push_str(&escape_attr(lang));
    out.push_str("'>");
    out
}

/// A stream error followed by the closing tag: the last thing written to a stream.
pub fn error_and_close(condition: StreamErrorCondition, text: Option<&str>) -> String {
    let mut out = condition.to_stream_error(text);
    out.push_str("</stream:stream>");
    out
}

/// A fresh, unguessable stream id (RFC 6120 §4.7.3 asks for enough entropy).
pub fn new_id() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<12>())
}

/// Bytes from the OS generator. Should the OS ever refuse, a time-and-counter
/// mix keeps ids unique, which is all the callers need when that happens.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    use std::sync::atomic::{AtomicU64, Ordering};
    static FALLBACK: AtomicU64 = AtomicU64::new(0);
    let mut bytes = [0u8; N];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).is_err() {
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let seed = (nanos as u64) ^ FALLBACK.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (seed.rotate_left((i * 8) as u32 % 64) & 0xFF) as u8;
        }
    }
    bytes
}

/// Parses a stream `version` attribute into (major, minor).
pub fn parse_version(v: &str) -> Option<(u32, u32)> {
    let (major, minor) = v.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_escapes_and_declares_namespaces() {
        let h = header(ns::CLIENT, "localhost", Some("a'b"), "id1", "en");
        assert!(h.starts_with("<?xml version='1.0'?><stream:stream xmlns='jabber:client'"));
        assert!(h.contains("to='a&apos;b'"));
        assert!(h.contains("version='1.0'"));
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("1.0"), Some((1, 0)));
        assert_eq!(parse_version("1.10"), Some((1, 10)));
        assert_eq!(parse_version("x"), None);
        assert_eq!(parse_version("1."), None);
    }

    #[test]
    fn ids_differ() {
        assert_ne!(new_id(), new_id());
    }
}
