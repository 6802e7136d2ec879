//! The incremental XML stream reader (RFC 6120 §4, §11).
//!
//! It reads from the socket as bytes arrive and never holds more than the
//! stanza being built: each complete top-level element is handed out as soon
//! as its end tag is read. Everything XMPP's restricted XML forbids, and
//! every limit, maps to the stream error condition the RFC names.

use std::io;

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use tokio::io::{AsyncRead, BufReader};
use waxwing_xml::{
    Element, ParseError, StreamErrorCondition, TreeBuilder, TreeLimits, namespace_of, ns, read_attributes,
    resolve_reference,
};

use super::limited::{LIMIT_ERROR, LimitedRead};

/// How much the parser may read ahead of what it has consumed.
const READ_AHEAD: usize = 4096;

#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    pub max_stanza_bytes: usize,
    pub max_depth: usize,
    pub max_attributes: usize,
}

/// The opening `<stream:stream>` tag.
#[derive(Debug, Clone, Default)]
pub struct StreamHeader {
    pub attrs: Vec<(String, String)>,
    /// The default namespace the stream declares for its content (`jabber:client`).
    pub default_ns: Option<String>,
}

impl StreamHeader {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
pub enum StreamEvent {
    Open(StreamHeader),
    Stanza(Element),
    /// Whitespace between stanzas: the peer is alive.
    Keepalive,
    /// `</stream:stream>`.
    Close,
}

#[derive(Debug)]
pub enum StreamReadError {
    /// The peer broke a rule; answer with this stream error and close.
    Stream(StreamErrorCondition, String),
    /// The connection ended without `</stream:stream>`.
    Eof,
    Io(io::Error),
}

impl StreamReadError {
    fn stream(condition: StreamErrorCondition, text: impl Into<String>) -> Self {
        StreamReadError::Stream(condition, text.into())
    }
}

impl From<ParseError> for StreamReadError {
    fn from(e: ParseError) -> Self {
        let cond = match &e {
            ParseError::NotWellFormed(_) => StreamErrorCondition::NotWellFormed,
            ParseError::Restricted(_) => StreamErrorCondition::RestrictedXml,
            ParseError::BadNamespacePrefix(_) => StreamErrorCondition::BadNamespacePrefix,
            ParseError::UnsupportedEncoding(_) => StreamErrorCondition::UnsupportedEncoding,
            ParseError::Limit(_) => StreamErrorCondition::PolicyViolation,
        };
        StreamReadError::Stream(cond, e.to_string())
    }
}

impl std::fmt::Display for StreamReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamReadError::Stream(c, t) => write!(f, "{c}: {t}"),
            StreamReadError::Eof => f.write_str("connection closed"),
            StreamReadError::Io(e) => write!(f, "i/o: {e}"),
        }
    }
}

pub struct StreamReader<R> {
    reader: NsReader<BufReader<LimitedRead<R>>>,
    buf: Vec<u8>,
    builder: TreeBuilder,
    limits: StreamLimits,
    opened: bool,
    /// Parser position where the current stanza began.
    boundary: u64,
}

impl<R: AsyncRead + Unpin> StreamReader<R> {
    pub fn new(inner: R, limits: StreamLimits) -> Self {
        let limited = LimitedRead::new(inner, Self::allowance(&limits));
        Self::from_buffered(BufReader::with_capacity(READ_AHEAD, limited), limits)
    }

    fn allowance(limits: &StreamLimits) -> u64 {
        (limits.max_stanza_bytes + READ_AHEAD) as u64
    }

    fn from_buffered(buffered: BufReader<LimitedRead<R>>, limits: StreamLimits) -> Self {
        let mut reader = NsReader::from_reader(buffered);
        let cfg = reader.config_mut();
        cfg.check_end_names = true;
        cfg.allow_unmatched_ends = false;
        cfg.check_comments = true;
        let tree_limits = TreeLimits { max_depth: limits.max_depth, max_attributes: limits.max_attributes };
        let consumed = Self::consumed_of(reader.get_ref());
        let mut me = StreamReader {
            reader,
            buf: Vec::with_capacity(1024),
            builder: TreeBuilder::new(tree_limits),
            limits,
            opened: false,
            boundary: consumed,
        };
        me.mark_boundary();
        me
    }

    /// A new XML document on the same connection, as after SASL success (RFC 6120 §6.4.6):
    /// bytes the client already sent are kept.
    pub fn restart(self) -> Self {
        let limits = self.limits;
        Self::from_buffered(self.reader.into_inner(), limits)
    }

    /// The transport, for the TLS upgrade. Fails if the client sent bytes after
    /// `<starttls/>` without waiting for `<proceed/>`: those cannot be trusted.
    pub fn into_inner(self) -> Result<R, StreamReadError> {
        let buffered = self.reader.into_inner();
        if !buffered.buffer().is_empty() {
            return Err(StreamReadError::stream(
                StreamErrorCondition::PolicyViolation,
                "data sent before the TLS handshake",
            ));
        }
        Ok(buffered.into_inner().into_inner())
    }

    fn consumed_of(buffered: &BufReader<LimitedRead<R>>) -> u64 {
        buffered.get_ref().read_total() - buffered.buffer().len() as u64
    }

    fn consumed(&self) -> u64 {
        Self::consumed_of(self.reader.get_ref())
    }

    fn mark_boundary(&mut self) {
        self.boundary = self.consumed();
        let allowance = Self::allowance(&self.limits);
        let boundary = self.boundary;
        self.reader.get_mut().get_mut().allow_from(boundary, allowance);
    }

    fn stanza_done(&mut self, el: Element) -> Result<StreamEvent, StreamReadError> {
        let size = self.consumed().saturating_sub(self.boundary);
        if size > self.limits.max_stanza_bytes as u64 {
            return Err(self.too_big());
        }
        self.mark_boundary();
        Ok(StreamEvent::Stanza(el))
    }

    fn too_big(&self) -> StreamReadError {
        StreamReadError::stream(
            StreamErrorCondition::PolicyViolation,
            format!("stanza larger than {} bytes", self.limits.max_stanza_bytes),
        )
    }

    fn map_xml_error(&self, e: quick_xml::Error) -> StreamReadError {
        if let quick_xml::Error::Io(io) = &e {
            if io.to_string() == LIMIT_ERROR {
                return self.too_big();
            }
            return StreamReadError::Io(io::Error::new(io.kind(), io.to_string()));
        }
        match ParseError::from(e).into() {
            StreamReadError::Stream(c, t) => utf16_or(self.reader.get_ref().get_ref(), c, t),
            other => other,
        }
    }

    /// The next event. After an error the stream must be closed.
    pub async fn next(&mut self) -> Result<StreamEvent, StreamReadError> {
        loop {
            self.buf.clear();
            let result = self.reader.read_resolved_event_into_async(&mut self.buf).await;
            let (resolved, event) = match result {
                Ok(x) => x,
                Err(e) => return Err(self.map_xml_error(e)),
            };
            // `resolved` borrows the reader; turn it into owned data right away.
            let element_ns = match &event {
                Event::Start(_) | Event::Empty(_) => Some(resolve_owned(&resolved)),
                _ => None,
            };
            let depth = self.builder.depth();
            match event {
                Event::Decl(d) => {
                    if self.opened {
                        return Err(StreamReadError::stream(
                            StreamErrorCondition::RestrictedXml,
                            "XML declaration inside the stream",
                        ));
                    }
                    if let Some(enc) = d.encoding() {
                        let enc = enc
                            .map_err(|e| StreamReadError::stream(StreamErrorCondition::NotWellFormed, e.to_string()))?;
                        let enc = String::from_utf8_lossy(&enc).into_owned();
                        if !enc.eq_ignore_ascii_case("utf-8") {
                            return Err(StreamReadError::stream(
                                StreamErrorCondition::UnsupportedEncoding,
                                format!("encoding '{enc}' is not supported: XMPP streams are UTF-8"),
                            ));
                        }
                    }
                }
                Event::Start(s) if !self.opened => {
                    let header = stream_header(element_ns, &s, &self.limits)?;
                    self.opened = true;
                    self.mark_boundary();
                    return Ok(StreamEvent::Open(header));
                }
                Event::Empty(_) if !self.opened => {
                    return Err(StreamReadError::stream(
                        StreamErrorCondition::BadFormat,
                        "the stream header must not be self-closed",
                    ));
                }
                Event::Start(s) => {
                    let ns = element_ns.unwrap_or_else(|| Ok(String::new()))?;
                    if depth == 0 && ns == ns::STREAMS && s.local_name().as_ref() == b"stream" {
                        // A second header inside an open stream: the caller refuses it.
                        let header = stream_header(Some(Ok(ns)), &s, &self.limits)?;
                        return Ok(StreamEvent::Open(header));
                    }
                    self.builder.start(ns, &s)?;
                }
                Event::Empty(s) => {
                    let ns = element_ns.unwrap_or_else(|| Ok(String::new()))?;
                    if let Some(el) = self.builder.empty(ns, &s)? {
                        return self.stanza_done(el);
                    }
                }
                Event::End(_) => {
                    if depth == 0 {
                        return Ok(StreamEvent::Close);
                    }
                    if let Some(el) = self.builder.end() {
                        return self.stanza_done(el);
                    }
                }
                Event::Text(t) => {
                    let text = t.xml10_content().map_err(|e| {
                        utf16_or(self.reader.get_ref().get_ref(), StreamErrorCondition::NotWellFormed, e.to_string())
                    })?;
                    if depth > 0 {
                        self.builder.text(&text);
                    } else if !text.trim().is_empty() {
                        return Err(StreamReadError::stream(
                            StreamErrorCondition::BadFormat,
                            "text outside any stanza",
                        ));
                    } else if self.opened {
                        self.mark_boundary();
                        return Ok(StreamEvent::Keepalive);
                    }
                }
                Event::CData(c) => {
                    if depth == 0 {
                        return Err(StreamReadError::stream(
                            StreamErrorCondition::BadFormat,
                            "CDATA outside any stanza",
                        ));
                    }
                    let text = c
                        .decode()
                        .map_err(|e| StreamReadError::stream(StreamErrorCondition::NotWellFormed, e.to_string()))?;
                    self.builder.text(&text);
                }
                Event::GeneralRef(r) => {
                    if depth == 0 {
                        return Err(StreamReadError::stream(
                            StreamErrorCondition::BadFormat,
                            "text outside any stanza",
                        ));
                    }
                    let text = resolve_reference(&r)?;
                    self.builder.text(&text);
                }
                Event::Comment(_) => {
                    return Err(StreamReadError::stream(
                        StreamErrorCondition::RestrictedXml,
                        "comments are not allowed",
                    ));
                }
                Event::PI(_) => {
                    return Err(StreamReadError::stream(
                        StreamErrorCondition::RestrictedXml,
                        "processing instructions are not allowed",
                    ));
                }
                Event::DocType(_) => {
                    return Err(StreamReadError::stream(
                        StreamErrorCondition::RestrictedXml,
                        "document type declarations are not allowed",
                    ));
                }
                Event::Eof => return Err(StreamReadError::Eof),
            }
        }
    }
}

/// UTF-16 input fails as garbage; say why (RFC 6120 §11.6) rather than "not well-formed".
fn utf16_or<R>(limited: &LimitedRead<R>, condition: StreamErrorCondition, text: String) -> StreamReadError {
    if limited.looks_like_utf16() {
        StreamReadError::stream(StreamErrorCondition::UnsupportedEncoding, "the stream must be UTF-8")
    } else {
        StreamReadError::Stream(condition, text)
    }
}

fn resolve_owned(resolved: &ResolveResult<'_>) -> Result<String, ParseError> {
    namespace_of(resolved)
}

/// Checks the opening tag (RFC 6120 §4.8): the streams namespace, under the
/// `stream` prefix. Content-namespace checks are the caller's (c2s, s2s differ).
fn stream_header(
    element_ns: Option<Result<String, ParseError>>,
    start: &quick_xml::events::BytesStart<'_>,
    limits: &StreamLimits,
) -> Result<StreamHeader, StreamReadError> {
    let ns = match element_ns {
        Some(Ok(ns)) => ns,
        Some(Err(ParseError::BadNamespacePrefix(p))) => {
            return Err(StreamReadError::stream(
                StreamErrorCondition::BadNamespacePrefix,
                format!("undeclared prefix '{p}' on the stream header"),
            ));
        }
        Some(Err(e)) => return Err(e.into()),
        None => String::new(),
    };
    let local = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
    if ns != ns::STREAMS || local != "stream" {
        return Err(StreamReadError::stream(
            StreamErrorCondition::InvalidNamespace,
            format!("expected <stream xmlns='{}'>, got <{local}> in '{ns}'", ns::STREAMS),
        ));
    }
    let prefix = start.name().prefix().map(|p| String::from_utf8_lossy(p.as_ref()).into_owned());
    if prefix.as_deref() != Some("stream") {
        return Err(StreamReadError::stream(
            StreamErrorCondition::BadNamespacePrefix,
            "the streams namespace must use the 'stream' prefix",
        ));
    }
    let tree_limits = TreeLimits { max_depth: limits.max_depth, max_attributes: limits.max_attributes };
    let attrs = read_attributes(start, &tree_limits)?;
    let mut default_ns = None;
    for attr in start.attributes().flatten() {
        if attr.key.as_ref() == b"xmlns" {
            default_ns = Some(String::from_utf8_lossy(&attr.value).into_owned());
        }
    }
    Ok(StreamHeader { attrs, default_ns })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: StreamLimits = StreamLimits { max_stanza_bytes: 2048, max_depth: 8, max_attributes: 8 };
    const OPEN: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>";

    async fn events(input: &str) -> (Vec<StreamEvent>, Option<StreamReadError>) {
        let mut r = StreamReader::new(input.as_bytes(), LIMITS);
        let mut out = Vec::new();
        loop {
            match r.next().await {
                Ok(ev) => out.push(ev),
                Err(StreamReadError::Eof) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    async fn error_of(input: &str) -> StreamErrorCondition {
        match events(input).await.1 {
            Some(StreamReadError::Stream(c, _)) => c,
            other => panic!("expected a stream error for {input:?}, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn reads_header_stanzas_and_close() {
        let input =
            format!("{OPEN} <message to='a@b'><body>x &lt; y</body></message><iq type='get' id='1'/></stream:stream>");
        let (evs, err) = events(&input).await;
        assert!(err.is_none(), "{err:?}");
        let StreamEvent::Open(h) = &evs[0] else { panic!("{evs:?}") };
        assert_eq!(h.attr("to"), Some("localhost"));
        assert_eq!(h.default_ns.as_deref(), Some("jabber:client"));
        assert!(matches!(evs[1], StreamEvent::Keepalive));
        let StreamEvent::Stanza(m) = &evs[2] else { panic!("{evs:?}") };
        assert_eq!(m.ns, "jabber:client");
        assert_eq!(m.child("body", "jabber:client").map(|b| b.text()), Some("x < y".to_string()));
        assert!(matches!(&evs[3], StreamEvent::Stanza(iq) if iq.name == "iq"));
        assert!(matches!(evs[4], StreamEvent::Close));
    }

    #[tokio::test]
    async fn maps_bad_input_to_stream_errors() {
        use StreamErrorCondition::*;
        let cases: Vec<(String, StreamErrorCondition)> = vec![
            (format!("{OPEN}<message><body></message>"), NotWellFormed),
            (format!("{OPEN}<!-- hi -->"), RestrictedXml),
            (format!("{OPEN}<?php x?>"), RestrictedXml),
            ("<!DOCTYPE x [<!ENTITY a 'b'>]><stream:stream/>".into(), RestrictedXml),
            (format!("{OPEN}<message>&ent;</message>"), NotWellFormed),
            (format!("{OPEN}<foo:message/>"), BadNamespacePrefix),
            ("<stream xmlns='http://etherx.jabber.org/streams'>".into(), BadNamespacePrefix),
            ("<stream:stream xmlns:stream='urn:wrong'>".into(), InvalidNamespace),
            ("<x:stream xmlns:y='z'>".into(), BadNamespacePrefix),
            ("<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream>".into(), UnsupportedEncoding),
            (format!("{OPEN}hello"), BadFormat),
            (format!("{OPEN}<a><b><c><d><e><f><g><h><i/></h></g></f></e></d></c></b></a>"), PolicyViolation),
            (format!("{OPEN}<message a='1' b='2' c='3' d='4' e='5' f='6' g='7' h='8' i='9'/>"), PolicyViolation),
        ];
        for (input, want) in cases {
            assert_eq!(error_of(&input).await, want, "{input}");
        }
    }

    #[tokio::test]
    async fn utf16_is_unsupported_encoding() {
        let bytes: Vec<u8> = "\u{feff}<stream:stream>".encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
        let mut r = StreamReader::new(&bytes[..], LIMITS);
        match r.next().await {
            Err(StreamReadError::Stream(c, _)) => assert_eq!(c, StreamErrorCondition::UnsupportedEncoding),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn oversized_stanza_is_policy_violation_without_buffering_it() {
        let big = "x".repeat(1 << 20);
        let input = format!("{OPEN}<message><body>{big}</body></message>");
        assert_eq!(error_of(&input).await, StreamErrorCondition::PolicyViolation);
        // Many small stanzas in one burst stay under the limit.
        let many: String = (0..200).map(|i| format!("<message id='{i}'/>")).collect();
        let (evs, err) = events(&format!("{OPEN}{many}</stream:stream>")).await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(evs.len(), 202);
    }

    #[tokio::test]
    async fn a_second_header_inside_the_stream_is_reported() {
        let again = OPEN.trim_start_matches("<?xml version='1.0'?>");
        let input = format!("{OPEN}<message/>{again}<message/>");
        let (evs, _) = events(&input).await;
        assert!(matches!(evs.get(2), Some(StreamEvent::Open(_))), "{evs:?}");
    }

    #[tokio::test]
    async fn restart_keeps_buffered_bytes() {
        let input = format!("{OPEN}<auth/>{OPEN}<iq/>");
        let mut r = StreamReader::new(input.as_bytes(), LIMITS);
        assert!(matches!(r.next().await, Ok(StreamEvent::Open(_))));
        assert!(matches!(r.next().await, Ok(StreamEvent::Stanza(_))));
        let mut r = r.restart();
        assert!(matches!(r.next().await, Ok(StreamEvent::Open(_))));
        assert!(matches!(r.next().await, Ok(StreamEvent::Stanza(e)) if e.name == "iq"));
    }

    #[tokio::test]
    async fn into_inner_refuses_pipelined_bytes() {
        let input = format!("{OPEN}<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\x16\x03\x01");
        let mut r = StreamReader::new(input.as_bytes(), LIMITS);
        assert!(matches!(r.next().await, Ok(StreamEvent::Open(_))));
        assert!(matches!(r.next().await, Ok(StreamEvent::Stanza(_))));
        assert!(r.into_inner().is_err());
    }
}
