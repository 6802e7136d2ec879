//! Splits what a server sends into top-level pieces: the XML declaration,
//! the stream header, whole stanzas, the closing tag. It counts tags rather
//! than parsing, so it never needs more than the text received; a complete
//! stanza is then parsed on its own with `waxwing-xml`.

use waxwing_xml::Element;

/// One top-level piece of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// `<?xml ...?>`.
    Decl(String),
    /// The opening `<stream:stream ...>` tag, as received.
    Header(String),
    /// A complete top-level element, as received.
    Element(String),
    /// `</stream:stream>`.
    Close,
    /// Characters outside any element other than whitespace.
    Text(String),
}

/// Takes one frame off the front of `buf`, skipping leading whitespace.
/// Returns the frame and the bytes consumed, or `None` when more input is needed.
pub fn split(buf: &str) -> Option<(Frame, usize)> {
    let start = buf.len() - buf.trim_start().len();
    let rest = &buf[start..];
    if rest.is_empty() {
        return None;
    }
    if !rest.starts_with('<') {
        let end = rest.find('<').unwrap_or(rest.len());
        // Wait for the next '<' so that a text run is reported whole.
        if end == rest.len() {
            return None;
        }
        return Some((Frame::Text(rest[..end].to_string()), start + end));
    }
    if rest.starts_with("<?") {
        let end = rest.find("?>")? + 2;
        return Some((Frame::Decl(rest[..end].to_string()), start + end));
    }
    if rest.starts_with("</") {
        let end = rest.find('>')? + 1;
        let name = rest[2..end - 1].trim();
        return Some((
            if name == "stream:stream" { Frame::Close } else { Frame::Text(rest[..end].to_string()) },
            start + end,
        ));
    }
    let (tag_end, empty) = tag_end(rest)?;
    if tag_name(rest) == "stream:stream" && !empty {
        return Some((Frame::Header(rest[..tag_end].to_string()), start + tag_end));
    }
    let end = element_end(rest)?;
    Some((Frame::Element(rest[..end].to_string()), start + end))
}

/// The name of the tag that `s` starts with (`s` begins with `<`).
fn tag_name(s: &str) -> &str {
    let body = &s[1..];
    let end = body.find(|c: char| c.is_whitespace() || c == '>' || c == '/').unwrap_or(body.len());
    &body[..end]
}

/// The end (exclusive) of the tag starting `s`, and whether it is self-closed.
fn tag_end(s: &str) -> Option<(usize, bool)> {
    let mut quote: Option<char> = None;
    let mut prev = '\0';
    for (i, c) in s.char_indices().skip(1) {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '>' => return Some((i + 1, prev == '/')),
            None => {}
        }
        prev = c;
    }
    None
}

/// The end (exclusive) of the element starting `s`, or `None` if incomplete.
fn element_end(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut pos = 0;
    loop {
        let lt = pos + s[pos..].find('<')?;
        let rest = &s[lt..];
        let end = if rest.starts_with("<!--") {
            lt + rest.find("-->")? + 3
        } else if rest.starts_with("<![CDATA[") {
            lt + rest.find("]]>")? + 3
        } else if rest.starts_with("<?") {
            lt + rest.find("?>")? + 2
        } else if rest.starts_with("</") {
            depth = depth.saturating_sub(1);
            let e = lt + rest.find('>')? + 1;
            if depth == 0 {
                return Some(e);
            }
            e
        } else {
            let (e, empty) = tag_end(rest)?;
            if empty {
                if depth == 0 {
                    return Some(lt + e);
                }
            } else {
                depth += 1;
            }
            lt + e
        };
        pos = end;
    }
}

/// Parses one top-level stanza as it appears in a `jabber:client` stream (no
/// `xmlns` of its own; `stream:` prefixed elements allowed).
pub fn parse_stanza(raw: &str) -> Result<Element, String> {
    let wrapped =
        format!("<wrapper xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>{raw}</wrapper>");
    let root = Element::parse(&wrapped).map_err(|e| format!("cannot parse {raw:?}: {e}"))?;
    root.elements().next().cloned().ok_or_else(|| format!("no element in {raw:?}"))
}

/// Every frame in a complete transcript (what was left incomplete is returned as text).
pub fn split_all(mut text: &str) -> Vec<Frame> {
    let mut out = Vec::new();
    while let Some((frame, used)) = split(text) {
        out.push(frame);
        text = &text[used..];
    }
    if !text.trim().is_empty() {
        out.push(Frame::Text(text.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_a_stream() {
        let s = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' to='a>b' version='1.0'>\
                 <stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features> \
                 <message a=\"/>\"><body>x</body></message><iq/></stream:stream>";
        let frames = split_all(s);
        assert!(matches!(&frames[0], Frame::Decl(_)));
        assert!(matches!(&frames[1], Frame::Header(h) if h.ends_with("version='1.0'>")));
        let Frame::Element(f) = &frames[2] else { panic!("{frames:?}") };
        let el = parse_stanza(f).unwrap();
        assert_eq!((el.name.as_str(), el.ns.as_str()), ("features", "http://etherx.jabber.org/streams"));
        let Frame::Element(m) = &frames[3] else { panic!("{frames:?}") };
        assert_eq!(parse_stanza(m).unwrap().attr("a"), Some("/>"));
        assert_eq!(frames[4], Frame::Element("<iq/>".into()));
        assert_eq!(frames[5], Frame::Close);
        assert_eq!(frames.len(), 6);
    }

    #[test]
    fn waits_for_complete_elements() {
        assert_eq!(split("  "), None);
        assert_eq!(split("<message><body>x</bo"), None);
        assert_eq!(split("<stream:stream xmlns='a'"), None);
        assert_eq!(split("<a><a/></a>rest"), Some((Frame::Element("<a><a/></a>".into()), 11)));
        assert_eq!(split("hello<"), Some((Frame::Text("hello".into()), 5)));
    }
}
