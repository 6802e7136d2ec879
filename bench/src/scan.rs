//! Stanza boundaries in an XMPP byte stream, without building trees: a
//! depth counter over tags, enough to cut the stream into top-level elements
//! that the scenarios then search as bytes. Trusts the server to send
//! well-formed XML; it is a load generator, not a validator.

use std::ops::Range;

#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// The `<stream:stream>` header.
    Open,
    /// A complete top-level element: its bytes in the buffer.
    Stanza(Range<usize>),
    /// `</stream:stream>`.
    Close,
}

#[derive(Default)]
pub struct Scanner {
    pub buf: Vec<u8>,
    /// Bytes before this are consumed.
    pos: usize,
    depth: usize,
    stanza_start: usize,
}

impl Scanner {
    pub fn new() -> Self {
        Scanner { buf: Vec::with_capacity(8192), ..Scanner::default() }
    }

    /// A new stream on the same connection (after SASL success): the bytes
    /// already read stay.
    pub fn restart(&mut self) {
        self.depth = 0;
    }

    /// Drops consumed bytes; call before reading more into `buf`. Ranges
    /// handed out earlier are invalid afterwards.
    pub fn compact(&mut self) {
        let keep_from = if self.depth >= 2 { self.stanza_start } else { self.pos };
        if keep_from > 0 {
            self.buf.drain(..keep_from);
            self.pos -= keep_from;
            self.stanza_start = self.stanza_start.saturating_sub(keep_from);
        }
    }

    pub fn slice(&self, r: Range<usize>) -> &[u8] {
        &self.buf[r]
    }

    /// The next event in what has been read so far, or `None` for "read more".
    pub fn next(&mut self) -> Option<Event> {
        loop {
            let rest = &self.buf[self.pos..];
            let lt = rest.iter().position(|&b| b == b'<')?;
            let tag_start = self.pos + lt;
            let tail = &self.buf[tag_start..];
            if tail.len() < 2 || (tail[1] == b'!' && tail.len() < 9) {
                return None;
            }
            if tail.starts_with(b"<!--") {
                let end = find(&tail[4..], b"-->")?;
                self.pos = tag_start + 4 + end + 3;
                continue;
            }
            if tail.starts_with(b"<![CDATA[") {
                let end = find(&tail[9..], b"]]>")?;
                self.pos = tag_start + 9 + end + 3;
                continue;
            }
            let gt = tag_end(tail)?;
            let tag_end = tag_start + gt + 1;
            self.pos = tag_end;
            match tail[1] {
                b'?' | b'!' => continue,
                b'/' => {
                    if self.depth <= 1 {
                        self.depth = 0;
                        return Some(Event::Close);
                    }
                    self.depth -= 1;
                    if self.depth == 1 {
                        return Some(Event::Stanza(self.stanza_start..tag_end));
                    }
                }
                _ => {
                    let self_closing = tail[gt - 1] == b'/';
                    if self.depth == 0 {
                        // The stream header is the only start tag at depth 0.
                        self.depth = 1;
                        return Some(Event::Open);
                    }
                    if self.depth == 1 {
                        self.stanza_start = tag_start;
                        if self_closing {
                            return Some(Event::Stanza(tag_start..tag_end));
                        }
                    }
                    if !self_closing {
                        self.depth += 1;
                    }
                }
            }
        }
    }
}

/// Index of the `>` closing the tag at the start of `tail`, outside quotes.
fn tag_end(tail: &[u8]) -> Option<usize> {
    let mut quote = 0u8;
    for (i, &b) in tail.iter().enumerate().skip(1) {
        match b {
            b'"' | b'\'' if quote == 0 => quote = b,
            q if q == quote => quote = 0,
            b'>' if quote == 0 => return Some(i),
            _ => {}
        }
    }
    None
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The value of attribute `name` on the element's own start tag.
pub fn attr<'a>(stanza: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let head = &stanza[..tag_end(stanza).unwrap_or(stanza.len())];
    let mut from = 0;
    while let Some(i) = find(&head[from..], name.as_bytes()) {
        let at = from + i;
        let after = at + name.len();
        let boundary = at > 0 && head[at - 1].is_ascii_whitespace();
        if boundary && head.get(after) == Some(&b'=') {
            let q = *head.get(after + 1)?;
            let start = after + 2;
            let len = head[start..].iter().position(|&b| b == q)?;
            return Some(&head[start..start + len]);
        }
        from = after;
    }
    None
}

/// The element's name as sent (`message`, `iq`, `stream:features`).
pub fn name(stanza: &[u8]) -> &[u8] {
    let end = stanza.iter().position(|&b| b.is_ascii_whitespace() || b == b'>' || b == b'/').unwrap_or(stanza.len());
    &stanza[1.min(end)..end]
}

/// The text between the first `>` and the next `<`: a SASL element's payload.
pub fn first_text(stanza: &[u8]) -> &[u8] {
    let Some(gt) = tag_end(stanza) else { return b"" };
    if stanza[gt - 1] == b'/' {
        return b"";
    }
    let rest = &stanza[gt + 1..];
    let end = rest.iter().position(|&b| b == b'<').unwrap_or(rest.len());
    &rest[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(s: &mut Scanner) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(ev) = s.next() {
            out.push(match ev {
                Event::Open => "open".to_string(),
                Event::Close => "close".to_string(),
                Event::Stanza(r) => String::from_utf8_lossy(s.slice(r)).into_owned(),
            });
        }
        out
    }

    #[test]
    fn cuts_stanzas_across_reads() {
        let text = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' a=\"x>y\"><stream:features>\
                    <bind xmlns='b'/></stream:features> <message to='a' b='>'><body>1 &gt; 0</body></message>\
                    <presence/><!-- c --></stream:stream>";
        let mut s = Scanner::new();
        let mut got = Vec::new();
        for chunk in text.as_bytes().chunks(7) {
            s.compact();
            s.buf.extend_from_slice(chunk);
            got.extend(events(&mut s));
        }
        assert_eq!(
            got,
            [
                "open",
                "<stream:features><bind xmlns='b'/></stream:features>",
                "<message to='a' b='>'><body>1 &gt; 0</body></message>",
                "<presence/>",
                "close"
            ]
        );
    }

    #[test]
    fn attributes_and_text() {
        let st = b"<iq xmlns=\"jabber:client\" type='result' id=\"b1\"><x type='inner'/></iq>";
        assert_eq!(attr(st, "type"), Some(&b"result"[..]));
        assert_eq!(attr(st, "id"), Some(&b"b1"[..]));
        assert_eq!(attr(st, "to"), None);
        assert_eq!(name(st), b"iq");
        assert_eq!(first_text(b"<challenge xmlns='x'>abc=</challenge>"), b"abc=");
        assert_eq!(first_text(b"<success xmlns='x'/>"), b"");
    }
}
