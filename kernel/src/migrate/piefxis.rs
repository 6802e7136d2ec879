//! XEP-0227 (PIEFXIS) files: reading them into hosts and users, each with
//! the line it starts on, and writing them.
//!
//! Reading follows what servers actually write: ejabberd's
//! `export_piefxis` puts each host in a file of its own, pulled into the
//! `<server-data/>` file by XInclude (`<xi:include href='...'/>`, resolved
//! against the including file's folder), and base64-encodes SCRAM salts and
//! keys twice; Prosody's migrator writes one `<server-data/>` per user.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use quick_xml::NsReader;
use quick_xml::events::Event;
use waxwing_xml::{Element, Node, TreeBuilder, TreeLimits, namespace_of, resolve_reference};

pub const NS_PIE: &str = "urn:xmpp:pie:0";
pub const NS_SCRAM: &str = "urn:xmpp:pie:0#scram";
pub const NS_XINCLUDE: &str = "http://www.w3.org/2001/XInclude";

/// Where something is in the input: file and 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, line {}", self.file, self.line)
    }
}

/// SCRAM credentials as XEP-0227 §4 carries them, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scram {
    /// `SCRAM-SHA-1`, `SCRAM-SHA-256`, ...
    pub mechanism: String,
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

/// One `<user/>`.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub name: String,
    pub at: Location,
    pub password: Option<String>,
    pub scram: Vec<Scram>,
    /// Every other child (roster, vCard, private storage, offline messages,
    /// subscription requests...), in document order.
    pub data: Vec<Element>,
}

/// One `<host/>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    pub jid: String,
    pub at: Location,
    pub users: Vec<User>,
}

/// A file's hosts (the same host may appear in several files: they are
/// merged), and the users that could not be read, each with why.
#[derive(Debug, Default)]
pub struct Document {
    pub hosts: Vec<Host>,
    pub refused: Vec<(Location, String)>,
}

/// A file that cannot be read at all.
#[derive(Debug)]
pub struct FatalError(pub String);

impl fmt::Display for FatalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FatalError {}

/// An element with the line each of its descendant elements starts on, in
/// document order (the order [`Element::elements`] walks them).
struct Located {
    root: Element,
    /// Start lines of every element, in document (pre-)order.
    lines: Vec<usize>,
}

fn line_of(text: &str, pos: usize) -> usize {
    text.as_bytes()[..pos.min(text.len())].iter().filter(|b| **b == b'\n').count() + 1
}

/// Parses a whole document: an XML declaration and comments are allowed
/// (unlike in a stanza), a DTD is not.
fn parse_document(text: &str, file: &str) -> Result<Located, FatalError> {
    let mut reader = NsReader::from_str(text);
    reader.config_mut().check_end_names = true;
    reader.config_mut().allow_unmatched_ends = false;
    let limits = TreeLimits { max_depth: 256, max_attributes: 256 };
    let mut builder = TreeBuilder::new(limits);
    let mut lines = Vec::new();
    let mut root = None;
    let fail = |pos: usize, why: String| FatalError(format!("{file}, line {}: {why}", line_of(text, pos)));
    loop {
        let before = reader.buffer_position() as usize;
        let (resolved, event) = match reader.read_resolved_event() {
            Ok(e) => e,
            Err(e) => return Err(fail(reader.error_position() as usize, format!("not well-formed XML: {e}"))),
        };
        // The element starts at its '<', past any whitespace before it.
        let start = before + text[before.min(text.len())..].find('<').unwrap_or(0);
        let result: Result<(), waxwing_xml::ParseError> = (|| {
            match event {
                Event::Start(ref s) | Event::Empty(ref s) if root.is_some() => {
                    let _ = s;
                    return Err(waxwing_xml::ParseError::NotWellFormed("more than one root element".into()));
                }
                Event::Start(ref s) => {
                    lines.push(line_of(text, start));
                    builder.start(namespace_of(&resolved)?, s)?;
                }
                Event::Empty(ref s) => {
                    lines.push(line_of(text, start));
                    if let Some(done) = builder.empty(namespace_of(&resolved)?, s)? {
                        root = Some(done);
                    }
                }
                Event::End(_) => {
                    if let Some(done) = builder.end() {
                        root = Some(done);
                    }
                }
                Event::Text(ref t) => {
                    let t = t.xml10_content().map_err(|e| waxwing_xml::ParseError::NotWellFormed(e.to_string()))?;
                    if builder.depth() > 0 {
                        builder.text(&t);
                    } else if !t.trim().is_empty() {
                        return Err(waxwing_xml::ParseError::NotWellFormed("text outside the root element".into()));
                    }
                }
                Event::CData(ref c) => {
                    let t = c.decode().map_err(|e| waxwing_xml::ParseError::NotWellFormed(e.to_string()))?;
                    builder.text(&t);
                }
                Event::GeneralRef(ref r) => builder.text(&resolve_reference(r)?),
                Event::DocType(_) => {
                    return Err(waxwing_xml::ParseError::Restricted("a document type declaration".into()));
                }
                Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::Eof => {}
            }
            Ok(())
        })();
        if let Err(e) = result {
            return Err(fail(start, e.to_string()));
        }
        if matches!(event, Event::Eof) {
            break;
        }
    }
    if builder.depth() > 0 {
        return Err(fail(text.len(), "not well-formed XML: the document ends inside an element".into()));
    }
    let root = root.ok_or_else(|| FatalError(format!("{file}: no XML element in the file")))?;
    Ok(Located { root, lines })
}

/// Reads `path` (and the files it includes).
pub fn read_file(path: &Path) -> Result<Document, FatalError> {
    let mut doc = Document::default();
    read_into(path, &mut doc, 0)?;
    Ok(doc)
}

/// Reads a document from memory; `name` is what errors call it, `dir`
/// where its includes are looked for.
pub fn read_str(text: &str, name: &str, dir: &Path) -> Result<Document, FatalError> {
    let mut doc = Document::default();
    read_text(text, name, dir, &mut doc, 0)?;
    Ok(doc)
}

fn read_into(path: &Path, doc: &mut Document, depth: usize) -> Result<(), FatalError> {
    let bytes = std::fs::read(path).map_err(|e| FatalError(format!("reading {}: {e}", path.display())))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| FatalError(format!("{}: not UTF-8 (byte {})", path.display(), e.utf8_error().valid_up_to())))?;
    let dir = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    read_text(&text, &path.display().to_string(), &dir, doc, depth)
}

fn read_text(text: &str, file: &str, dir: &Path, doc: &mut Document, depth: usize) -> Result<(), FatalError> {
    if depth > 8 {
        return Err(FatalError(format!("{file}: XIncludes nested more than 8 deep")));
    }
    let located = parse_document(text, file)?;
    let mut cursor = Cursor { lines: &located.lines, next: 0, file };
    let root = &located.root;
    let root_line = cursor.take();
    if root.is("host", NS_PIE) {
        read_host(root, root_line, &mut cursor, doc);
        return Ok(());
    }
    if !root.is("server-data", NS_PIE) {
        return Err(FatalError(format!(
            "{file}, line {root_line}: the root element is <{} xmlns='{}'>, not XEP-0227's <server-data xmlns='{NS_PIE}'>",
            root.name, root.ns
        )));
    }
    for child in root.elements() {
        let line = cursor.take();
        if child.is("host", NS_PIE) {
            read_host(child, line, &mut cursor, doc);
        } else if child.is("include", NS_XINCLUDE) {
            cursor.skip(child);
            let Some(href) = child.attr("href") else {
                return Err(FatalError(format!("{file}, line {line}: <xi:include/> without an href")));
            };
            read_into(&dir.join(href), doc, depth + 1)
                .map_err(|e| FatalError(format!("{e} (included from {file}, line {line})")))?;
        } else {
            cursor.skip(child);
            tracing::warn!("{file}, line {line}: <{} xmlns='{}'> in <server-data/> ignored", child.name, child.ns);
        }
    }
    Ok(())
}

/// Walks the start lines in step with the tree.
struct Cursor<'a> {
    lines: &'a [usize],
    next: usize,
    file: &'a str,
}

impl Cursor<'_> {
    fn take(&mut self) -> usize {
        let line = self.lines.get(self.next).copied().unwrap_or(0);
        self.next += 1;
        line
    }

    /// Passes over the descendants of an element whose own line was taken.
    fn skip(&mut self, el: &Element) {
        self.next += count_descendants(el);
    }

    fn at(&self, line: usize) -> Location {
        Location { file: self.file.to_string(), line }
    }
}

fn count_descendants(el: &Element) -> usize {
    el.elements().map(|c| 1 + count_descendants(c)).sum()
}

fn read_host(el: &Element, line: usize, cursor: &mut Cursor<'_>, doc: &mut Document) {
    let at = cursor.at(line);
    let Some(jid) = el.attr("jid").filter(|j| !j.is_empty()) else {
        cursor.skip(el);
        doc.refused.push((at, "a <host/> without a 'jid': its users were not read".into()));
        return;
    };
    let jid = jid.to_ascii_lowercase();
    let index = match doc.hosts.iter().position(|h| h.jid == jid) {
        Some(i) => i,
        None => {
            doc.hosts.push(Host { jid: jid.clone(), at: at.clone(), users: Vec::new() });
            doc.hosts.len() - 1
        }
    };
    let mut seen: HashMap<String, Location> =
        doc.hosts[index].users.iter().map(|u| (u.name.to_lowercase(), u.at.clone())).collect();
    for child in el.elements() {
        let line = cursor.take();
        cursor.skip(child);
        let uat = cursor.at(line);
        if !child.is("user", NS_PIE) {
            tracing::warn!("{uat}: <{} xmlns='{}'> in <host/> ignored", child.name, child.ns);
            continue;
        }
        match read_user(child, uat.clone()) {
            Ok(user) => {
                let key = user.name.to_lowercase();
                if let Some(first) = seen.get(&key) {
                    doc.refused.push((
                        uat,
                        format!("<user name='{}'> appears twice in host {jid} (first at {first})", user.name),
                    ));
                    continue;
                }
                seen.insert(key, uat);
                doc.hosts[index].users.push(user);
            }
            Err(why) => doc.refused.push((uat, why)),
        }
    }
}

fn read_user(el: &Element, at: Location) -> Result<User, String> {
    let name = match el.attr("name") {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => return Err("a <user/> without a 'name'".into()),
    };
    let mut user =
        User { name, at, password: el.attr("password").map(str::to_string), scram: Vec::new(), data: Vec::new() };
    for child in el.elements() {
        if child.is("scram-credentials", NS_SCRAM) {
            let scram = read_scram(child).map_err(|e| format!("<user name='{}'>: {e}", user.name))?;
            user.scram.push(scram);
        } else {
            user.data.push(child.clone());
        }
    }
    Ok(user)
}

fn read_scram(el: &Element) -> Result<Scram, String> {
    let mechanism = el.attr("mechanism").ok_or("<scram-credentials/> without a 'mechanism'")?.to_string();
    let text = |name: &str| {
        el.child(name, NS_SCRAM)
            .map(|c| c.text().trim().to_string())
            .ok_or_else(|| format!("<scram-credentials mechanism='{mechanism}'> has no <{name}/>"))
    };
    let iterations: u32 = text("iter-count")?.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
        format!("<scram-credentials mechanism='{mechanism}'>: <iter-count/> is not a positive number")
    })?;
    let decode = |name: &str| {
        let t = text(name)?;
        B64.decode(t.as_bytes()).map_err(|_| format!("<{name}/> of {mechanism} is not base64"))
    };
    let (mut salt, mut stored_key, mut server_key) = (decode("salt")?, decode("stored-key")?, decode("server-key")?);
    // ejabberd encodes its (already base64) values once more: keys of the
    // hash's length decoded twice are the sign of it.
    let len = match mechanism.as_str() {
        "SCRAM-SHA-1" => Some(20),
        "SCRAM-SHA-256" => Some(32),
        "SCRAM-SHA-512" => Some(64),
        _ => None,
    };
    if let Some(len) = len
        && stored_key.len() != len
        && let (Ok(st), Ok(sv), Ok(sa)) = (B64.decode(&stored_key), B64.decode(&server_key), B64.decode(&salt))
        && st.len() == len
        && sv.len() == len
    {
        (stored_key, server_key, salt) = (st, sv, sa);
    }
    Ok(Scram { mechanism, iterations, salt, stored_key, server_key })
}

/// Writes one `<server-data/>` document.
pub fn write(hosts: &[Host]) -> String {
    let mut out = String::from("<?xml version='1.0' encoding='UTF-8'?>\n");
    out.push_str(&format!("<server-data xmlns='{NS_PIE}'>\n"));
    for host in hosts {
        out.push_str(&format!("  <host jid='{}'>\n", waxwing_xml::escape_attr(&host.jid)));
        for user in &host.users {
            let mut el = Element::new("user", NS_PIE).with_attr("name", user.name.clone());
            if let Some(pw) = &user.password {
                el.set_attr("password", pw.clone());
            }
            for s in &user.scram {
                el.push_child(scram_element(s));
            }
            for d in &user.data {
                el.push_child(d.clone());
            }
            out.push_str("    ");
            el.write_to(&mut out, NS_PIE);
            out.push('\n');
        }
        out.push_str("  </host>\n");
    }
    out.push_str("</server-data>\n");
    out
}

fn scram_element(s: &Scram) -> Element {
    let child = |name: &str, text: String| Element::new(name, NS_SCRAM).with_text(text);
    Element::new("scram-credentials", NS_SCRAM)
        .with_attr("mechanism", s.mechanism.clone())
        .with_child(child("iter-count", s.iterations.to_string()))
        .with_child(child("salt", B64.encode(&s.salt)))
        .with_child(child("server-key", B64.encode(&s.server_key)))
        .with_child(child("stored-key", B64.encode(&s.stored_key)))
}

/// Whether an element has any content worth writing.
pub fn is_empty(el: &Element) -> bool {
    !el.children.iter().any(|n| match n {
        Node::Element(_) => true,
        Node::Text(t) => !t.trim().is_empty(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Document, FatalError> {
        read_str(text, "test.xml", Path::new("/nonexistent"))
    }

    #[test]
    fn users_with_lines_passwords_and_data() {
        let text = "<?xml version='1.0' encoding='UTF-8'?>\n\
            <!-- a comment -->\n\
            <server-data xmlns='urn:xmpp:pie:0'>\n\
              <host jid='Example.ORG'>\n\
                <user name='alice' password='s3cret'>\n\
                  <query xmlns='jabber:iq:roster'><item jid='bob@example.org' subscription='both'/></query>\n\
                  <vCard xmlns='vcard-temp'><FN>Alice</FN></vCard>\n\
                </user>\n\
                <user name='bob'/>\n\
              </host>\n\
            </server-data>\n";
        let doc = read(text).unwrap();
        assert!(doc.refused.is_empty(), "{:?}", doc.refused);
        assert_eq!(doc.hosts.len(), 1);
        let host = &doc.hosts[0];
        assert_eq!((host.jid.as_str(), host.at.line), ("example.org", 4));
        let alice = &host.users[0];
        assert_eq!((alice.name.as_str(), alice.password.as_deref(), alice.at.line), ("alice", Some("s3cret"), 5));
        assert_eq!(alice.data.len(), 2);
        assert!(alice.data[0].is("query", "jabber:iq:roster"));
        assert!(alice.data[1].is("vCard", "vcard-temp"));
        assert_eq!(
            (host.users[1].name.as_str(), host.users[1].at.line, host.users[1].password.clone()),
            ("bob", 9, None)
        );
    }

    #[test]
    fn malformed_xml_names_the_line() {
        let err =
            read("<server-data xmlns='urn:xmpp:pie:0'>\n<host jid='a'>\n<user name='x'>\n</host>\n</server-data>")
                .unwrap_err()
                .to_string();
        assert!(err.contains("test.xml, line 4") && err.contains("not well-formed"), "{err}");
        let err = read("<server-data xmlns='urn:xmpp:pie:0'>\n<host jid='a'>").unwrap_err().to_string();
        assert!(err.contains("ends inside an element"), "{err}");
        let err = read("<other/>").unwrap_err().to_string();
        assert!(err.contains("server-data"), "{err}");
        let err = read("").unwrap_err().to_string();
        assert!(err.contains("no XML element"), "{err}");
    }

    #[test]
    fn nameless_and_duplicate_users_are_refused_alone() {
        let text = "<server-data xmlns='urn:xmpp:pie:0'>\n<host jid='a.example'>\n<user password='x'/>\n\
                    <user name='dup'/>\n<user name='ok'/>\n<user name='DUP'><vCard xmlns='vcard-temp'/></user>\n\
                    </host>\n<host><user name='lost'/></host>\n</server-data>";
        let doc = read(text).unwrap();
        let names: Vec<&str> = doc.hosts[0].users.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["dup", "ok"]);
        let refused: Vec<(usize, &str)> = doc.refused.iter().map(|(l, w)| (l.line, w.as_str())).collect();
        assert_eq!(refused.len(), 3, "{refused:?}");
        assert_eq!(refused[0].0, 3);
        assert!(refused[0].1.contains("without a 'name'"));
        assert_eq!(refused[1].0, 6);
        assert!(refused[1].1.contains("twice") && refused[1].1.contains("line 4"), "{}", refused[1].1);
        assert_eq!(refused[2].0, 8);
        assert!(refused[2].1.contains("without a 'jid'"));
    }

    #[test]
    fn ejabberd_xinclude_and_double_base64_scram() {
        let dir = crate::testutil::tempdir("piefxis");
        std::fs::write(
            dir.join("main.xml"),
            "<?xml version='1.0' encoding='UTF-8'?><server-data xmlns='urn:xmpp:pie:0' \
             xmlns:xi='http://www.w3.org/2001/XInclude'><xi:include href='host.xml'/></server-data>",
        )
        .unwrap();
        // From a real `ejabberdctl export_piefxis` (ejabberd 23.01).
        std::fs::write(
            dir.join("host.xml"),
            "<?xml version='1.0' encoding='UTF-8'?><host xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude' \
             jid='ej.test'><user name='alice'><scram-credentials xmlns='urn:xmpp:pie:0#scram' mechanism='SCRAM-SHA-1'>\
             <iter-count>4096</iter-count><salt>dndyRmM1VWsyVkhYZUd2T25HSkYwQT09</salt>\
             <server-key>VTFuTXI5ZHVNQXFqWGtDeW8wL2I0bndCSnNvPQ==</server-key>\
             <stored-key>UjloaENDaXJUZldkaldFbmFCazJXUlZDRlA0PQ==</stored-key></scram-credentials>\
             <query xmlns='jabber:iq:roster'><item subscription='both' name='Bob' jid='bob@ej.test'><group>Friends</group>\
             </item></query></user></host>",
        )
        .unwrap();
        let doc = read_file(&dir.join("main.xml")).unwrap();
        let alice = &doc.hosts[0].users[0];
        assert_eq!(alice.scram.len(), 1);
        let s = &alice.scram[0];
        assert_eq!((s.mechanism.as_str(), s.iterations), ("SCRAM-SHA-1", 4096));
        assert_eq!((s.salt.len(), s.stored_key.len(), s.server_key.len()), (16, 20, 20));
        assert_eq!(alice.data.len(), 1);
        let missing = read_str(
            "<server-data xmlns='urn:xmpp:pie:0' xmlns:xi='http://www.w3.org/2001/XInclude'>\n<xi:include href='none.xml'/></server-data>",
            "m.xml",
            &dir,
        )
        .unwrap_err()
        .to_string();
        assert!(missing.contains("none.xml") && missing.contains("m.xml, line 2"), "{missing}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn written_files_read_back() {
        let user = User {
            name: "alice".into(),
            at: Location { file: String::new(), line: 0 },
            password: None,
            scram: vec![Scram {
                mechanism: "SCRAM-SHA-256".into(),
                iterations: 4096,
                salt: vec![1; 16],
                stored_key: vec![2; 32],
                server_key: vec![3; 32],
            }],
            data: vec![Element::parse("<vCard xmlns='vcard-temp'><FN>A &amp; B</FN></vCard>").unwrap()],
        };
        let hosts =
            vec![Host { jid: "a.example".into(), at: Location { file: String::new(), line: 0 }, users: vec![user] }];
        let text = write(&hosts);
        let doc = read(&text).unwrap();
        let back = &doc.hosts[0].users[0];
        assert_eq!(back.scram, hosts[0].users[0].scram);
        assert_eq!(back.data, hosts[0].users[0].data);
        assert_eq!(back.at.line, 4);
    }
}
