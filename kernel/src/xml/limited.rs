//! A reader that refuses to buffer more than one stanza's worth of bytes, so
//! that a client cannot make the server hold an unbounded text node or tag.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

pub struct LimitedRead<R> {
    inner: R,
    /// Bytes handed to the parser's buffer since the connection opened.
    read_total: u64,
    /// Reading past this offset fails: the current stanza's start plus the limit.
    read_until: u64,
    /// The first bytes seen, to recognise a UTF-16 stream (RFC 6120 §11.6 requires UTF-8).
    first_bytes: Vec<u8>,
}

/// The io error kind used when the limit is hit, so the reader can tell it from a real I/O failure.
pub const LIMIT_ERROR: &str = "stanza size limit exceeded";

impl<R> LimitedRead<R> {
    pub fn new(inner: R, limit: u64) -> Self {
        LimitedRead { inner, read_total: 0, read_until: limit, first_bytes: Vec::with_capacity(4) }
    }

    pub fn read_total(&self) -> u64 {
        self.read_total
    }

    /// Allows `limit` more bytes from `consumed`, the parser's position.
    pub fn allow_from(&mut self, consumed: u64, limit: u64) {
        self.read_until = consumed.saturating_add(limit);
    }

    /// True when the stream began with a UTF-16 byte order mark or pattern.
    pub fn looks_like_utf16(&self) -> bool {
        matches!(self.first_bytes.as_slice(), [0xFE, 0xFF, ..] | [0xFF, 0xFE, ..] | [0x00, b'<', ..] | [b'<', 0x00, ..])
    }

    pub fn into_inner(self) -> R {
        self.inner
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for LimitedRead<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let room = this.read_until.saturating_sub(this.read_total);
        if room == 0 {
            return Poll::Ready(Err(io::Error::other(LIMIT_ERROR)));
        }
        let max = usize::try_from(room).unwrap_or(usize::MAX).min(buf.remaining());
        let mut sub = ReadBuf::new(buf.initialize_unfilled_to(max));
        match Pin::new(&mut this.inner).poll_read(cx, &mut sub) {
            Poll::Ready(Ok(())) => {
                let filled = sub.filled();
                let n = filled.len();
                if this.first_bytes.len() < 4 {
                    let want = (4 - this.first_bytes.len()).min(n);
                    this.first_bytes.extend_from_slice(&filled[..want]);
                }
                buf.advance(n);
                this.read_total += n as u64;
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}
