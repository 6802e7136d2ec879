/// One XML element with its namespace resolved.
///
/// Attribute names are kept as written (`xml:lang`, `type`); namespace
/// declarations other than the element's own default namespace are kept as
/// `xmlns:prefix` attributes so prefixed attribute names still mean the same
/// thing when the element is written out again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub ns: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Node>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    Text(String),
}

impl Element {
    pub fn new(name: impl Into<String>, ns: impl Into<String>) -> Self {
        Element { name: name.into(), ns: ns.into(), attrs: Vec::new(), children: Vec::new() }
    }

    /// Builder: sets an attribute.
    pub fn with_attr(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.set_attr(name, value);
        self
    }

    /// Builder: appends a child element.
    pub fn with_child(mut self, child: Element) -> Self {
        self.children.push(Node::Element(child));
        self
    }

    /// Builder: appends character data.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.children.push(Node::Text(text.into()));
        self
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn set_attr(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        match self.attrs.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => self.attrs.push((name, value)),
        }
    }

    pub fn remove_attr(&mut self, name: &str) -> Option<String> {
        let pos = self.attrs.iter().position(|(k, _)| k == name)?;
        Some(self.attrs.remove(pos).1)
    }

    pub fn push_child(&mut self, child: Element) {
        self.children.push(Node::Element(child));
    }

    pub fn is(&self, name: &str, ns: &str) -> bool {
        self.name == name && self.ns == ns
    }

    /// Child elements, skipping character data.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    pub fn child(&self, name: &str, ns: &str) -> Option<&Element> {
        self.elements().find(|e| e.is(name, ns))
    }

    pub fn child_mut(&mut self, name: &str, ns: &str) -> Option<&mut Element> {
        self.children.iter_mut().find_map(|n| match n {
            Node::Element(e) if e.is(name, ns) => Some(e),
            _ => None,
        })
    }

    /// The first child element: the payload of an iq, for instance.
    pub fn first_element(&self) -> Option<&Element> {
        self.elements().next()
    }

    /// All character data directly inside this element, concatenated.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for n in &self.children {
            if let Node::Text(t) = n {
                out.push_str(t);
            }
        }
        out
    }

    /// Moves this element, if it is in namespace `from`, into `to`, with the
    /// descendants that inherit that namespace from it: a stanza crosses
    /// from a `jabber:server` stream into the kernel's `jabber:client` model
    /// (and back) with its unqualified children (`<body/>`, `<status/>`), as
    /// RFC 6120 §4.8.3 has them. A subtree in another namespace is left as
    /// it is, so a forwarded `<message xmlns='jabber:client'/>` (XEP-0297)
    /// inside it keeps its namespace.
    pub fn map_ns(&mut self, from: &str, to: &str) {
        if self.ns != from {
            return;
        }
        self.ns = to.to_string();
        for n in &mut self.children {
            if let Node::Element(e) = n {
                e.map_ns(from, to);
            }
        }
    }

    /// Serialises as a child of an element whose default namespace is
    /// `parent_ns`: an `xmlns` attribute is written only where the namespace
    /// changes, so stanzas in a `jabber:client` stream carry none.
    pub fn write_to(&self, out: &mut String, parent_ns: &str) {
        out.push('<');
        out.push_str(&self.name);
        if self.ns != parent_ns {
            out.push_str(" xmlns='");
            escape_attr_into(out, &self.ns);
            out.push('\'');
        }
        for (k, v) in &self.attrs {
            out.push(' ');
            out.push_str(k);
            out.push_str("='");
            escape_attr_into(out, v);
            out.push('\'');
        }
        if self.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        for n in &self.children {
            match n {
                Node::Element(e) => e.write_to(out, &self.ns),
                Node::Text(t) => escape_text_into(out, t),
            }
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push('>');
    }

    /// Serialises as a top-level stanza of a stream whose default namespace is `stream_ns`.
    pub fn to_xml_in(&self, stream_ns: &str) -> String {
        let mut out = String::with_capacity(256);
        self.write_to(&mut out, stream_ns);
        out
    }

    /// Serialises standalone, with its namespace declared.
    pub fn to_xml(&self) -> String {
        self.to_xml_in("")
    }
}

impl std::fmt::Display for Element {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_xml())
    }
}

fn escape_text_into(out: &mut String, s: &str) {
    escape_into(out, s, |b| match b {
        b'<' => Some("&lt;"),
        b'>' => Some("&gt;"),
        b'&' => Some("&amp;"),
        _ => None,
    });
}

fn escape_attr_into(out: &mut String, s: &str) {
    escape_into(out, s, |b| match b {
        b'<' => Some("&lt;"),
        b'>' => Some("&gt;"),
        b'&' => Some("&amp;"),
        b'\'' => Some("&apos;"),
        b'"' => Some("&quot;"),
        // Literal whitespace in attributes is normalised by parsers; keep it exact.
        b'\n' => Some("&#10;"),
        b'\r' => Some("&#13;"),
        b'\t' => Some("&#9;"),
        _ => None,
    });
}

/// Copies `s` in runs between the bytes `entity` replaces: serialising is on
/// every stanza's path, and most text needs no escaping at all. Every byte
/// replaced is ASCII, so the runs are cut on character boundaries.
fn escape_into(out: &mut String, s: &str, entity: impl Fn(u8) -> Option<&'static str>) {
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        if let Some(e) = entity(b) {
            out.push_str(&s[start..i]);
            out.push_str(e);
            start = i + 1;
        }
    }
    out.push_str(&s[start..]);
}

pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_text_into(&mut out, s);
    out
}

pub fn escape_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_attr_into(&mut out, s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_namespace_only_where_it_changes() {
        let iq = Element::new("iq", "jabber:client")
            .with_attr("type", "get")
            .with_attr("id", "a'1")
            .with_child(Element::new("ping", "urn:xmpp:ping"));
        assert_eq!(iq.to_xml_in("jabber:client"), "<iq type='get' id='a&apos;1'><ping xmlns='urn:xmpp:ping'/></iq>");
        assert_eq!(
            iq.to_xml(),
            "<iq xmlns='jabber:client' type='get' id='a&apos;1'><ping xmlns='urn:xmpp:ping'/></iq>"
        );
    }

    #[test]
    fn map_ns_moves_the_stanza_and_its_unqualified_children_but_not_a_forwarded_stanza() {
        let mut m = Element::new("message", "jabber:server")
            .with_child(Element::new("body", "jabber:server").with_text("hi"))
            .with_child(Element::new("x", "jabber:x:oob").with_child(Element::new("url", "jabber:x:oob")))
            .with_child(
                Element::new("forwarded", "urn:xmpp:forward:0")
                    .with_child(Element::new("message", "jabber:server").with_attr("id", "inner")),
            );
        m.map_ns("jabber:server", "jabber:client");
        assert_eq!(
            m.to_xml_in("jabber:client"),
            "<message><body>hi</body><x xmlns='jabber:x:oob'><url/></x>\
             <forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:server' id='inner'/></forwarded></message>"
        );
    }

    #[test]
    fn escapes_text() {
        let m = Element::new("body", "jabber:client").with_text("a<b & c>d");
        assert_eq!(m.to_xml_in("jabber:client"), "<body>a&lt;b &amp; c&gt;d</body>");
    }

    #[test]
    fn escapes_around_multibyte_text_and_at_the_ends() {
        assert_eq!(escape_text("ünï<cödé>&😀"), "ünï&lt;cödé&gt;&amp;😀");
        assert_eq!(escape_text("<"), "&lt;");
        assert_eq!(escape_text(""), "");
        assert_eq!(escape_attr("\t'é\"\n\r"), "&#9;&apos;é&quot;&#10;&#13;");
        assert_eq!(escape_attr("plain"), "plain");
    }

    #[test]
    fn set_attr_replaces() {
        let mut e = Element::new("x", "y").with_attr("a", "1");
        e.set_attr("a", "2");
        assert_eq!(e.attrs, vec![("a".to_string(), "2".to_string())]);
        assert_eq!(e.remove_attr("a").as_deref(), Some("2"));
        assert_eq!(e.attr("a"), None);
    }
}
