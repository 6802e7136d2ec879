//! Building [`Element`]s from quick-xml events, shared by the one-shot string
//! parser here and the kernel's incremental stream parser.

use quick_xml::NsReader;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::name::ResolveResult;

use crate::element::{Element, Node};

/// Why some XML was refused. The kernel maps each onto a stream error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Not XML: broken syntax, mismatched tags, undefined entities, bad UTF-8.
    NotWellFormed(String),
    /// XML that XMPP forbids: comments, processing instructions, DTDs (RFC 6120 §11.1).
    Restricted(String),
    /// A prefix used without a declaration.
    BadNamespacePrefix(String),
    /// An encoding other than UTF-8 was declared.
    UnsupportedEncoding(String),
    /// A configured limit (depth, attributes) was passed.
    Limit(String),
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::NotWellFormed(m) => write!(f, "not well-formed XML: {m}"),
            ParseError::Restricted(m) => write!(f, "restricted XML: {m}"),
            ParseError::BadNamespacePrefix(p) => write!(f, "undeclared namespace prefix '{p}'"),
            ParseError::UnsupportedEncoding(e) => write!(f, "unsupported encoding '{e}'"),
            ParseError::Limit(m) => write!(f, "limit exceeded: {m}"),
        }
    }
}

impl std::error::Error for ParseError {}

impl From<quick_xml::Error> for ParseError {
    fn from(e: quick_xml::Error) -> Self {
        match e {
            quick_xml::Error::Namespace(quick_xml::name::NamespaceError::UnknownPrefix(p)) => {
                ParseError::BadNamespacePrefix(String::from_utf8_lossy(&p).into_owned())
            }
            other => ParseError::NotWellFormed(other.to_string()),
        }
    }
}

impl From<quick_xml::events::attributes::AttrError> for ParseError {
    fn from(e: quick_xml::events::attributes::AttrError) -> Self {
        ParseError::NotWellFormed(e.to_string())
    }
}

/// Limits applied while building a tree, counted from the builder's root.
#[derive(Debug, Clone, Copy)]
pub struct TreeLimits {
    pub max_depth: usize,
    pub max_attributes: usize,
}

impl Default for TreeLimits {
    fn default() -> Self {
        TreeLimits { max_depth: 64, max_attributes: 64 }
    }
}

/// Turns a resolved namespace into a string, refusing undeclared prefixes.
pub fn namespace_of(resolved: &ResolveResult<'_>) -> Result<String, ParseError> {
    match resolved {
        ResolveResult::Bound(ns) => Ok(String::from_utf8_lossy(ns.as_ref()).into_owned()),
        ResolveResult::Unbound => Ok(String::new()),
        ResolveResult::Unknown(p) => Err(ParseError::BadNamespacePrefix(String::from_utf8_lossy(p).into_owned())),
    }
}

/// Reads the attributes of a start tag. `xmlns` itself is dropped (the
/// element's namespace is carried separately); `xmlns:p` declarations are
/// kept so that prefixed attributes stay meaningful.
pub fn read_attributes(start: &BytesStart<'_>, limits: &TreeLimits) -> Result<Vec<(String, String)>, ParseError> {
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr?;
        let key = std::str::from_utf8(attr.key.as_ref())
            .map_err(|_| ParseError::NotWellFormed("attribute name is not UTF-8".into()))?;
        if key == "xmlns" {
            continue;
        }
        if attrs.len() >= limits.max_attributes {
            return Err(ParseError::Limit(format!("more than {} attributes on one element", limits.max_attributes)));
        }
        let value = attr.unescape_value().map_err(|e| ParseError::NotWellFormed(e.to_string()))?;
        attrs.push((key.to_string(), value.into_owned()));
    }
    Ok(attrs)
}

/// Resolves `&name;` / `&#n;` references; XMPP forbids any entity beyond XML's predefined five.
pub fn resolve_reference(r: &BytesRef<'_>) -> Result<String, ParseError> {
    if r.is_char_ref() {
        return match r.resolve_char_ref() {
            Ok(Some(c)) => Ok(c.to_string()),
            Ok(None) => Err(ParseError::NotWellFormed("bad character reference".into())),
            Err(e) => Err(ParseError::NotWellFormed(e.to_string())),
        };
    }
    let name = r.decode().map_err(|e| ParseError::NotWellFormed(e.to_string()))?;
    match resolve_predefined_entity(&name) {
        Some(s) => Ok(s.to_string()),
        None => Err(ParseError::NotWellFormed(format!("undeclared entity '&{name};'"))),
    }
}

/// Accumulates the events of one element (and its descendants) into a tree.
#[derive(Debug, Default)]
pub struct TreeBuilder {
    stack: Vec<Element>,
    limits: TreeLimits,
}

impl TreeBuilder {
    pub fn new(limits: TreeLimits) -> Self {
        TreeBuilder { stack: Vec::new(), limits }
    }

    /// How many elements are open.
    pub fn depth(&self) -> usize {
        self.stack.len()
    }

    /// An opening tag; nothing completes yet.
    pub fn start(&mut self, ns: String, start: &BytesStart<'_>) -> Result<(), ParseError> {
        if self.stack.len() >= self.limits.max_depth {
            return Err(ParseError::Limit(format!("elements nested deeper than {}", self.limits.max_depth)));
        }
        let el = self.element(ns, start)?;
        self.stack.push(el);
        Ok(())
    }

    /// A self-closing tag; returns the tree when it was the root.
    pub fn empty(&mut self, ns: String, start: &BytesStart<'_>) -> Result<Option<Element>, ParseError> {
        if self.stack.len() >= self.limits.max_depth {
            return Err(ParseError::Limit(format!("elements nested deeper than {}", self.limits.max_depth)));
        }
        let el = self.element(ns, start)?;
        Ok(self.attach(el))
    }

    /// Character data inside the open element (already unescaped).
    pub fn text(&mut self, text: &str) {
        if let Some(top) = self.stack.last_mut() {
            if let Some(Node::Text(prev)) = top.children.last_mut() {
                prev.push_str(text);
            } else {
                top.children.push(Node::Text(text.to_string()));
            }
        }
    }

    /// A closing tag (quick-xml has already checked it matches); returns the tree when it closed the root.
    pub fn end(&mut self) -> Option<Element> {
        let el = self.stack.pop()?;
        self.attach(el)
    }

    fn element(&self, ns: String, start: &BytesStart<'_>) -> Result<Element, ParseError> {
        let name = std::str::from_utf8(start.local_name().as_ref())
            .map_err(|_| ParseError::NotWellFormed("element name is not UTF-8".into()))?
            .to_string();
        let attrs = read_attributes(start, &self.limits)?;
        Ok(Element { name, ns, attrs, children: Vec::new() })
    }

    fn attach(&mut self, el: Element) -> Option<Element> {
        match self.stack.last_mut() {
            Some(parent) => {
                parent.children.push(Node::Element(el));
                None
            }
            None => Some(el),
        }
    }
}

impl Element {
    /// Parses one complete element from a string, under the same rules as a
    /// stream: no DTD, comments or processing instructions.
    pub fn parse(xml: &str) -> Result<Element, ParseError> {
        Self::parse_with_limits(xml, TreeLimits::default())
    }

    pub fn parse_with_limits(xml: &str, limits: TreeLimits) -> Result<Element, ParseError> {
        let mut reader = NsReader::from_str(xml);
        reader.config_mut().check_end_names = true;
        reader.config_mut().allow_unmatched_ends = false;
        let mut builder = TreeBuilder::new(limits);
        let mut root = None;
        loop {
            let (resolved, event) = reader.read_resolved_event()?;
            match event {
                Event::Start(ref s) if root.is_none() => {
                    let ns = namespace_of(&resolved)?;
                    builder.start(ns, s)?;
                }
                Event::Empty(ref s) if root.is_none() => {
                    let ns = namespace_of(&resolved)?;
                    if let Some(done) = builder.empty(ns, s)? {
                        root = Some(done);
                    }
                }
                Event::End(_) => {
                    if let Some(done) = builder.end() {
                        root = Some(done);
                    }
                }
                Event::Text(ref t) => {
                    let text = t.xml10_content().map_err(|e| ParseError::NotWellFormed(e.to_string()))?;
                    if builder.depth() > 0 {
                        builder.text(&text);
                    } else if !text.trim().is_empty() {
                        return Err(ParseError::NotWellFormed("text outside the root element".into()));
                    }
                }
                Event::CData(ref c) => {
                    let text = c.decode().map_err(|e| ParseError::NotWellFormed(e.to_string()))?;
                    builder.text(&text);
                }
                Event::GeneralRef(ref r) => {
                    let text = resolve_reference(r)?;
                    builder.text(&text);
                }
                Event::Comment(_) => return Err(ParseError::Restricted("comment".into())),
                Event::PI(_) => return Err(ParseError::Restricted("processing instruction".into())),
                Event::DocType(_) => return Err(ParseError::Restricted("document type declaration".into())),
                Event::Decl(_) => return Err(ParseError::Restricted("XML declaration inside a stanza".into())),
                Event::Start(_) | Event::Empty(_) => {
                    return Err(ParseError::NotWellFormed("more than one root element".into()));
                }
                Event::Eof => break,
            }
        }
        if builder.depth() > 0 {
            return Err(ParseError::NotWellFormed("unexpected end of input".into()));
        }
        root.ok_or_else(|| ParseError::NotWellFormed("no element".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_a_stanza() {
        let src = "<message xmlns='jabber:client' to='a@b' type='chat'><body>hi &amp; &#x263A;</body><x:y xmlns:x='urn:x' x:z='1'/></message>";
        let el = Element::parse(src).unwrap();
        assert_eq!(el.name, "message");
        assert_eq!(el.ns, "jabber:client");
        assert_eq!(el.child("body", "jabber:client").unwrap().text(), "hi & \u{263A}");
        let y = el.child("y", "urn:x").unwrap();
        assert_eq!(y.attr("x:z"), Some("1"));
        let again = Element::parse(&el.to_xml()).unwrap();
        assert_eq!(again, el);
    }

    #[test]
    fn refuses_restricted_xml() {
        assert!(matches!(Element::parse("<a xmlns='x'><!-- c --></a>"), Err(ParseError::Restricted(_))));
        assert!(matches!(Element::parse("<a xmlns='x'><?pi x?></a>"), Err(ParseError::Restricted(_))));
        assert!(matches!(Element::parse("<!DOCTYPE a><a/>"), Err(ParseError::Restricted(_))));
    }

    #[test]
    fn refuses_broken_xml() {
        assert!(matches!(Element::parse("<a xmlns='x'><b></a>"), Err(ParseError::NotWellFormed(_))));
        assert!(matches!(Element::parse("<a xmlns='x'>&foo;</a>"), Err(ParseError::NotWellFormed(_))));
        assert!(matches!(Element::parse("<a xmlns='x'>"), Err(ParseError::NotWellFormed(_))));
        assert!(matches!(Element::parse("<p:a/>"), Err(ParseError::BadNamespacePrefix(_))));
    }

    #[test]
    fn enforces_limits() {
        let limits = TreeLimits { max_depth: 2, max_attributes: 1 };
        assert!(Element::parse_with_limits("<a xmlns='x'><b/></a>", limits).is_ok());
        assert!(matches!(
            Element::parse_with_limits("<a xmlns='x'><b><c/></b></a>", limits),
            Err(ParseError::Limit(_))
        ));
        assert!(matches!(Element::parse_with_limits("<a xmlns='x' p='1' q='2'/>", limits), Err(ParseError::Limit(_))));
    }
}
