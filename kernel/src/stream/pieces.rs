//! What the server writes on a stream, cut into its top-level pieces, for
//! the transports that carry one element per message (XMPP over WebSocket,
//! BOSH): the stream header, each element as written, the stream's end.
//!
//! The bytes are the server's own output, well-formed (the serialiser's,
//! the kernel's literal headers and features), so the cut needs no parser
//! and builds no tree: it follows tags, quoted attribute values, comments
//! and CDATA to where each top-level element ends. Whitespace between
//! elements (keepalives) is dropped. Nothing is kept between writes but
//! an element a write left unfinished.

use quick_xml::events::BytesStart;
use waxwing_xml::ns;

/// A top-level piece of the server's side of a stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    /// The stream header's start tag, as written.
    Header(String),
    /// One top-level element, as written: it may rely on the stream
    /// header's namespace declarations (see [`declare_content_ns`]).
    Element(String),
    /// `</stream:stream>`.
    End,
}

/// The bytes were not the well-formed XML the server writes.
#[derive(Debug, PartialEq, Eq)]
pub struct NotXml(pub &'static str);

/// Cuts a stream's bytes, written in any number of pieces, into [`Piece`]s.
#[derive(Debug, Default)]
pub struct Splitter {
    /// The start of an element the last write left unfinished.
    partial: Vec<u8>,
}

impl Splitter {
    /// Cuts `bytes`, which follow what was pushed before, handing each
    /// complete piece to `out`.
    pub fn push(&mut self, bytes: &[u8], mut out: impl FnMut(Piece)) -> Result<(), NotXml> {
        if self.partial.is_empty() {
            let used = cut(bytes, &mut out)?;
            if used < bytes.len() {
                self.partial = bytes[used..].to_vec();
            }
            return Ok(());
        }
        let mut buf = std::mem::take(&mut self.partial);
        buf.extend_from_slice(bytes);
        let used = cut(&buf, &mut out)?;
        if used < buf.len() {
            buf.drain(..used);
            self.partial = buf;
        }
        Ok(())
    }
}

/// Hands out the complete pieces at the start of `b`; returns how many
/// bytes they took (the rest is an unfinished piece).
fn cut(b: &[u8], out: &mut impl FnMut(Piece)) -> Result<usize, NotXml> {
    let mut at = 0;
    loop {
        while at < b.len() && matches!(b[at], b' ' | b'\t' | b'\r' | b'\n') {
            at += 1;
        }
        if at == b.len() {
            return Ok(at);
        }
        if b[at] != b'<' {
            return Err(NotXml("text outside any element"));
        }
        match top_level(b, at)? {
            None => return Ok(at),
            Some((piece, end)) => {
                if let Some(p) = piece {
                    out(p);
                }
                at = end;
            }
        }
    }
}

/// The top-level piece starting with the `<` at `start`, and where it
/// ends; `None` when `b` ends before it does. Declarations, processing
/// instructions and comments between elements are skipped.
fn top_level(b: &[u8], start: usize) -> Result<Option<(Option<Piece>, usize)>, NotXml> {
    let rest = &b[start..];
    if rest.starts_with(b"<?") {
        return Ok(after(b, start + 2, b"?>").map(|end| (None, end)));
    }
    if rest.starts_with(b"<!--") {
        return Ok(after(b, start + 4, b"-->").map(|end| (None, end)));
    }
    if rest.starts_with(b"</") {
        let Some(end) = after(b, start, b">") else { return Ok(None) };
        return match b[start + 2..end - 1].trim_ascii() {
            b"stream:stream" => Ok(Some((Some(Piece::End), end))),
            _ => Err(NotXml("an end tag without its start tag")),
        };
    }
    let Some((tag_end, empty)) = tag(b, start) else { return Ok(None) };
    if !empty && name(&b[start..]) == b"stream:stream" {
        return Ok(Some((Some(Piece::Header(text(&b[start..tag_end])?)), tag_end)));
    }
    let mut depth = 1usize - usize::from(empty);
    let mut at = tag_end;
    while depth > 0 {
        let Some(lt) = b[at..].iter().position(|&c| c == b'<') else { return Ok(None) };
        at += lt;
        let rest = &b[at..];
        let next = if rest.starts_with(b"<!--") {
            after(b, at + 4, b"-->")
        } else if rest.starts_with(b"<![CDATA[") {
            after(b, at + 9, b"]]>")
        } else if rest.starts_with(b"<?") {
            after(b, at + 2, b"?>")
        } else if rest.starts_with(b"</") {
            depth -= 1;
            after(b, at, b">")
        } else {
            tag(b, at).map(|(end, empty)| {
                depth += usize::from(!empty);
                end
            })
        };
        let Some(next) = next else { return Ok(None) };
        at = next;
    }
    Ok(Some((Some(Piece::Element(text(&b[start..at])?)), at)))
}

/// The end of the start (or empty-element) tag at `start`, past quoted
/// attribute values, and whether it closes itself.
fn tag(b: &[u8], start: usize) -> Option<(usize, bool)> {
    let mut quote = None;
    for (i, &c) in b.iter().enumerate().skip(start + 1) {
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"') => quote = Some(c),
            (None, b'>') => return Some((i + 1, b[i - 1] == b'/')),
            (None, _) => {}
        }
    }
    None
}

/// The index just past the first `pat` at or after `from`.
fn after(b: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    b.get(from..)?.windows(pat.len()).position(|w| w == pat).map(|i| from + i + pat.len())
}

/// The qualified name of the tag that `b` starts with (`b[0]` is `<`).
fn name(b: &[u8]) -> &[u8] {
    let end = b.iter().skip(1).position(|&c| matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b'/' | b'>'));
    &b[1..end.map_or(b.len(), |e| e + 1)]
}

fn text(b: &[u8]) -> Result<String, NotXml> {
    String::from_utf8(b.to_vec()).map_err(|_| NotXml("not UTF-8"))
}

/// The start tag a piece begins with, without `<`, `>` or a closing `/`.
fn start_tag(xml: &str) -> Option<BytesStart<'_>> {
    let (end, empty) = tag(xml.as_bytes(), 0)?;
    let inner = &xml[1..end - 1 - usize::from(empty)];
    Some(BytesStart::from_content(inner, name(xml.as_bytes()).len()))
}

/// The attributes of a start tag (a [`Piece::Header`]), values unescaped,
/// namespace declarations left out.
pub fn attributes(tag: &str) -> Vec<(String, String)> {
    let Some(start) = start_tag(tag) else { return Vec::new() };
    start
        .attributes()
        .filter_map(Result::ok)
        .filter(|a| a.key.as_namespace_binding().is_none())
        .filter_map(|a| {
            let key = std::str::from_utf8(a.key.as_ref()).ok()?.to_string();
            Some((key, a.unescape_value().ok()?.into_owned()))
        })
        .collect()
}

/// A top-level element in the content namespace as a document of its own
/// (RFC 7395 §3.3.3, XEP-0206 §5): `xmlns='jabber:client'` declared on an
/// unprefixed root that does not declare its namespace, as the stream
/// header did for it. Anything else is returned as it is.
pub fn declare_content_ns(xml: String) -> String {
    let root = name(xml.as_bytes()).len() + 1;
    let declared = xml.as_bytes()[1..root].contains(&b':')
        || start_tag(&xml).is_none_or(|s| s.attributes().filter_map(Result::ok).any(|a| a.key.as_ref() == b"xmlns"));
    if declared {
        return xml;
    }
    let mut out = String::with_capacity(xml.len() + ns::CLIENT.len() + 9);
    out.push_str(&xml[..root]);
    out.push_str(" xmlns='");
    out.push_str(ns::CLIENT);
    out.push('\'');
    out.push_str(&xml[root..]);
    out
}

/// Whether a top-level element's root has a prefix (`stream:features`,
/// `stream:error`): one of the stream's own elements.
pub fn is_prefixed(xml: &str) -> bool {
    name(xml.as_bytes()).contains(&b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(chunks: &[&str]) -> Vec<Piece> {
        let mut s = Splitter::default();
        let mut out = Vec::new();
        for c in chunks {
            s.push(c.as_bytes(), |p| out.push(p)).unwrap();
        }
        out
    }

    #[test]
    fn a_negotiation_cuts_into_header_elements_and_end() {
        let header = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' \
                      from='localhost' id='a&apos;b' version='1.0' xml:lang='en'>";
        let features = "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\
                        <mechanism>PLAIN</mechanism></mechanisms></stream:features>";
        let message = "<message to='a@b' type='chat'><body>1 &lt; 2 &amp; '&gt;'</body><x a=\"'>'\"/></message>";
        let all =
            format!("<?xml version='1.0'?>{header}{features} {message}\n<iq id='1' type='result'/></stream:stream>");
        let want = vec![
            Piece::Header(header.into()),
            Piece::Element(features.into()),
            Piece::Element(message.into()),
            Piece::Element("<iq id='1' type='result'/>".into()),
            Piece::End,
        ];
        assert_eq!(pieces(&[&all]), want);
        // Cut anywhere, the pieces are the same.
        for at in 1..all.len() {
            if all.is_char_boundary(at) {
                assert_eq!(pieces(&[&all[..at], &all[at..]]), want, "cut at {at}");
            }
        }
        let attrs = attributes(header);
        let keys: Vec<&str> = attrs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["from", "id", "version", "xml:lang"]);
        assert_eq!(attrs[1].1, "a'b");
    }

    #[test]
    fn nested_elements_of_the_same_name_comments_and_cdata() {
        let el = "<message><x><x/><x>a</x></x><!-- </message> --><![CDATA[</message>]]></message>";
        assert_eq!(pieces(&[el, " "]), vec![Piece::Element(el.into())]);
    }

    #[test]
    fn what_the_server_never_writes_is_refused() {
        let mut s = Splitter::default();
        assert_eq!(s.push(b"hello", |_| {}), Err(NotXml("text outside any element")));
        let mut s = Splitter::default();
        assert_eq!(s.push(b"</message>", |_| {}), Err(NotXml("an end tag without its start tag")));
    }

    #[test]
    fn stanzas_get_the_content_namespace_declared() {
        assert_eq!(
            declare_content_ns("<message to='a'><body>x</body></message>".into()),
            "<message xmlns='jabber:client' to='a'><body>x</body></message>"
        );
        assert_eq!(declare_content_ns("<presence/>".into()), "<presence xmlns='jabber:client'/>");
        let sasl = "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>";
        assert_eq!(declare_content_ns(sasl.into()), sasl);
        let features = "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>";
        assert_eq!(declare_content_ns(features.into()), features);
        assert!(is_prefixed(features));
        assert!(!is_prefixed("<iq type='get'/>"));
    }
}
