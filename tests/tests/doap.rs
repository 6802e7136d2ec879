//! `doap.xml` stays true: a server on the default plugins is asked what it
//! announces — stream features before TLS, before and after authentication,
//! the SASL mechanisms and channel bindings, disco#info of the vhost, of an
//! account's bare JID (PEP), of every item of the vhost's disco#items, the
//! ad-hoc commands an admin sees, the host-meta links, the server-to-server
//! features, the component protocol and direct TLS's ALPN — and each thing
//! announced is mapped to the specs it shows through [`MEANS`]. The test
//! fails when something announced is missing from `doap.xml`, when
//! `doap.xml` lists a spec that is neither announced nor in
//! [`NOT_ANNOUNCED`], and when an announcement is not in [`MEANS`] at all:
//! a new plugin or feature cannot ship without its line in the DOAP file.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::timeout;
use waxwing_tests::{Element, Mech, RawClient, Server};

const INFO: &str = "http://jabber.org/protocol/disco#info";
const ITEMS: &str = "http://jabber.org/protocol/disco#items";
const COMMANDS: &str = "http://jabber.org/protocol/commands";
const PW: &str = "doap-pw";
const WAIT: Duration = Duration::from_secs(10);

/// What each announcement shows: the specs `doap.xml` must list for it. A
/// key ending in `*` covers every announcement starting with the rest (the
/// longest such prefix wins, an exact key before any). An empty list: known,
/// and part of no spec `doap.xml` lists.
///
/// Keys: `stream:NS` (a stream feature's namespace, any stage), `sasl:MECH`,
/// `channel-binding:TYPE`, `feature:VAR` and `identity:CATEGORY/TYPE` (disco#info),
/// `form:FORM_TYPE` (disco#info extensions), `command:NODE` (ad-hoc commands),
/// `host-meta:REL`, `s2s:NS` (server-to-server features), `component:NS`
/// (the component stream's namespace), `alpn:PROTOCOL` (direct TLS).
const MEANS: &[(&str, &[&str])] = &[
    // Core negotiation.
    ("stream:urn:ietf:params:xml:ns:xmpp-tls", &["RFC 6120", "RFC 7590"]),
    ("stream:urn:ietf:params:xml:ns:xmpp-sasl", &["RFC 6120", "RFC 4422"]),
    ("stream:urn:ietf:params:xml:ns:xmpp-bind", &["RFC 6120"]),
    // RFC 3921's session, offered as optional for old clients
    // (draft-cridland-xmpp-session): nothing to implement.
    ("stream:urn:ietf:params:xml:ns:xmpp-session", &[]),
    ("stream:urn:xmpp:features:rosterver", &["RFC 6121", "XEP-0237"]),
    ("stream:urn:xmpp:features:pre-approval", &["RFC 6121"]),
    ("stream:http://jabber.org/features/iq-register", &["XEP-0077"]),
    ("stream:http://jabber.org/protocol/caps", &["XEP-0115"]),
    ("stream:urn:xmpp:sasl-cb:0", &["XEP-0440"]),
    ("sasl:PLAIN", &["RFC 4616"]),
    ("sasl:SCRAM-SHA-1", &["RFC 5802"]),
    ("sasl:SCRAM-SHA-1-PLUS", &["RFC 5802", "RFC 9266"]),
    ("sasl:SCRAM-SHA-256", &["RFC 7677"]),
    ("sasl:SCRAM-SHA-256-PLUS", &["RFC 7677", "RFC 9266"]),
    ("channel-binding:tls-exporter", &["RFC 9266"]),
    ("alpn:xmpp-client", &["XEP-0368"]),
    // Server-to-server and components.
    ("s2s:urn:ietf:params:xml:ns:xmpp-tls", &["RFC 6120"]),
    ("s2s:urn:xmpp:features:dialback", &["XEP-0220"]),
    ("component:jabber:component:accept", &["XEP-0114"]),
    // Web clients.
    ("host-meta:urn:xmpp:alt-connections:websocket", &["XEP-0156", "RFC 7395"]),
    ("host-meta:urn:xmpp:alt-connections:xbosh", &["XEP-0156", "XEP-0124", "XEP-0206"]),
    // disco#info: identities.
    ("identity:server/im", &["RFC 6120", "XEP-0030"]),
    ("identity:account/registered", &["XEP-0030"]),
    ("identity:pubsub/pep", &["XEP-0163"]),
    ("identity:pubsub/service", &["XEP-0060"]),
    ("identity:conference/text", &["XEP-0045"]),
    ("identity:store/file", &["XEP-0363"]),
    ("identity:automation/rpc", &["XEP-0009"]),
    // disco#info: features.
    ("feature:http://jabber.org/protocol/disco#info", &["XEP-0030"]),
    ("feature:http://jabber.org/protocol/disco#items", &["XEP-0030"]),
    ("feature:http://jabber.org/protocol/commands", &["XEP-0050"]),
    ("feature:http://jabber.org/protocol/muc", &["XEP-0045"]),
    ("feature:http://jabber.org/protocol/muc#self-ping-optimization", &["XEP-0410"]),
    ("feature:muc_*", &["XEP-0045"]),
    ("feature:http://jabber.org/protocol/pubsub", &["XEP-0060"]),
    ("feature:http://jabber.org/protocol/pubsub#*", &["XEP-0060"]),
    ("feature:http://jabber.org/protocol/pubsub#collections", &["XEP-0248"]),
    ("feature:http://jabber.org/protocol/pubsub#rsm", &["XEP-0060", "XEP-0059"]),
    ("feature:jabber:iq:register", &["XEP-0077"]),
    ("feature:jabber:iq:rpc", &["XEP-0009"]),
    ("feature:jabber:iq:version", &["XEP-0092"]),
    ("feature:jabber:iq:last", &["XEP-0012"]),
    ("feature:jabber:iq:private", &["XEP-0049"]),
    ("feature:msgoffline", &["XEP-0160"]),
    ("feature:urn:xmpp:blocking", &["XEP-0191"]),
    ("feature:urn:xmpp:carbons:2", &["XEP-0280"]),
    ("feature:urn:xmpp:http:upload:0", &["XEP-0363"]),
    ("feature:urn:xmpp:invisible:0", &["XEP-0186"]),
    ("feature:urn:xmpp:pep-vcard-conversion:0", &["XEP-0398"]),
    ("feature:urn:xmpp:ping", &["XEP-0199"]),
    ("feature:urn:xmpp:time", &["XEP-0202"]),
    ("feature:vcard-temp", &["XEP-0054"]),
    // disco#info extensions (XEP-0128).
    ("form:urn:xmpp:http:upload:0", &["XEP-0363", "XEP-0128"]),
    ("form:http://jabber.org/network/serverinfo", &["XEP-0157", "XEP-0128"]),
    // Ad-hoc commands.
    ("command:http://jabber.org/protocol/admin#*", &["XEP-0133", "XEP-0004"]),
    // Waxwing's own administration (the plugins of a vhost): commands of no
    // spec but ad-hoc commands themselves.
    ("command:urn:waxwing:admin#*", &["XEP-0050", "XEP-0004"]),
];

/// Specs `doap.xml` lists that no announcement shows, and why.
const NOT_ANNOUNCED: &[(&str, &str)] = &[
    ("RFC 7622", "addresses: every JID the server parses"),
    ("RFC 6125", "how a peer's certificate proves its domain (DNS-ID): s2s, after the handshake"),
    ("RFC 2782", "SRV lookups of s2s dialling (_xmpp-server, _xmpps-server)"),
    ("XEP-0012", "answered for an account to its contacts (the roster plugin); the host does not list it"),
    ("XEP-0049", "the private plugin answers jabber:iq:private without listing it in disco"),
    ("XEP-0082", "date and time formats inside other payloads"),
    ("XEP-0084", "a PEP payload: clients publish it, the pep plugin stores and delivers it"),
    ("XEP-0153", "a presence payload the vcard plugin adds"),
    ("XEP-0157", "a disco#info form only when the disco plugin's admin-addresses (etc.) are set"),
    ("XEP-0158", "fields of the registration form, only when a CAPTCHA is configured"),
    ("XEP-0178", "SASL EXTERNAL between servers, offered only to a peer whose certificate proves its domain"),
    ("XEP-0185", "how dialback keys are made: nothing on the wire says so"),
    ("XEP-0203", "<delay/> on offline messages and MUC history"),
    ("XEP-0222", "a PEP profile: the open access model and publish-options"),
    ("XEP-0223", "a PEP profile: the whitelist access model and publish-options"),
    ("XEP-0227", "waxwing import / export, a command line tool"),
    ("XEP-0334", "hints honoured by carbons and offline storage"),
    ("XEP-0402", "bookmarks in PEP: publish-options and max_items = max"),
];

/// The specs `doap.xml` lists: "RFC 6120" → "", "XEP-0030" → its version.
fn doap() -> BTreeMap<String, DoapEntry> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../doap.xml");
    let text = std::fs::read_to_string(path).expect("reading doap.xml");
    // The project's parser is the stanza parser: it refuses what streams
    // must not carry, so the file's declaration and comments go first.
    let root = Element::parse(&strip_prolog_and_comments(&text)).expect("doap.xml is not well-formed");
    const RDF: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";
    const DOAP: &str = "http://usefulinc.com/ns/doap#";
    const XMPP: &str = "https://linkmauve.fr/ns/xmpp-doap#";
    let project = root.child("Project", DOAP).expect("doap.xml has no doap:Project");
    let mut out = BTreeMap::new();
    for imp in project.elements().filter(|e| e.is("implements", DOAP)) {
        let (id, entry) = if let Some(res) = imp.attr("rdf:resource").or_else(|| attr_ns(imp, RDF, "resource")) {
            let n = res.rsplit_once("/rfc").map(|(_, n)| n).unwrap_or_else(|| panic!("not an RFC: {res}"));
            (format!("RFC {n}"), DoapEntry::default())
        } else {
            let xep = imp.child("SupportedXep", XMPP).unwrap_or_else(|| panic!("an <implements/> of nothing: {imp}"));
            let res = xep
                .child("xep", XMPP)
                .and_then(|x| attr_ns(x, RDF, "resource"))
                .unwrap_or_else(|| panic!("a SupportedXep without xmpp:xep: {xep}"));
            let n = res
                .strip_prefix("https://xmpp.org/extensions/xep-")
                .and_then(|r| r.strip_suffix(".html"))
                .unwrap_or_else(|| panic!("write https://xmpp.org/extensions/xep-NNNN.html, not {res}"));
            let text = |name: &str| xep.child(name, XMPP).map(|e| e.text().trim().to_string()).unwrap_or_default();
            (format!("XEP-{n}"), DoapEntry { version: text("version"), status: text("status"), since: text("since") })
        };
        assert!(out.insert(id.clone(), entry).is_none(), "doap.xml lists {id} twice");
    }
    out
}

#[derive(Debug, Default)]
struct DoapEntry {
    version: String,
    status: String,
    since: String,
}

fn attr_ns<'a>(e: &'a Element, _ns: &str, local: &str) -> Option<&'a str> {
    // Attributes keep their prefix as written; doap.xml uses rdf: throughout.
    e.attr(&format!("rdf:{local}"))
}

fn strip_prolog_and_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text.trim_start();
    if rest.starts_with("<?xml")
        && let Some(end) = rest.find("?>")
    {
        rest = &rest[end + 2..];
    }
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("-->").expect("an unterminated comment in doap.xml");
        rest = &rest[start + end + 3..];
    }
    out.push_str(rest);
    out
}

/// The specs an announcement shows, or None when [`MEANS`] does not know it.
fn means(key: &str) -> Option<&'static [&'static str]> {
    if let Some((_, specs)) = MEANS.iter().find(|(k, _)| *k == key) {
        return Some(specs);
    }
    MEANS
        .iter()
        .filter_map(|(k, specs)| k.strip_suffix('*').filter(|p| key.starts_with(p)).map(|p| (p.len(), *specs)))
        .max_by_key(|(len, _)| *len)
        .map(|(_, specs)| specs)
}

fn stream_keys(features: &Element, out: &mut BTreeSet<String>) {
    for f in features.elements() {
        out.insert(format!("stream:{}", f.ns));
        if f.name == "mechanisms" {
            out.extend(f.elements().map(|m| format!("sasl:{}", m.text().trim())));
        }
        for cb in f.elements().filter(|c| c.name == "channel-binding") {
            out.insert(format!("channel-binding:{}", cb.attr("type").unwrap_or("")));
        }
    }
}

fn info_keys(jid: &str, answer: &Element, out: &mut BTreeSet<String>) {
    let q = answer.child("query", INFO).unwrap_or_else(|| panic!("no disco#info from {jid}: {answer}"));
    for e in q.elements() {
        match e.name.as_str() {
            "feature" => {
                out.insert(format!("feature:{}", e.attr("var").unwrap_or("")));
            }
            "identity" => {
                out.insert(format!("identity:{}/{}", e.attr("category").unwrap_or(""), e.attr("type").unwrap_or("")));
            }
            "x" => {
                for field in e.elements().filter(|f| f.attr("var") == Some("FORM_TYPE")) {
                    out.extend(field.elements().map(|v| format!("form:{}", v.text().trim())));
                }
            }
            _ => {}
        }
    }
}

/// Opens a raw stream of `xmlns` to `to` on `addr` and returns what the
/// server sent up to `until` (its features, or its header).
async fn raw_open(addr: SocketAddr, header: &str, until: &str) -> String {
    let mut tcp = TcpStream::connect(addr).await.expect("connecting");
    tcp.write_all(header.as_bytes()).await.expect("writing the header");
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while !text.contains(until) {
        match timeout(WAIT, tcp.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => text.push_str(&String::from_utf8_lossy(&buf[..n])),
            other => panic!("no {until:?} from {addr} ({other:?}); got {text:?}"),
        }
    }
    text
}

/// `/.well-known/host-meta` over plain HTTP: the XRD's link relations.
async fn host_meta_rels(addr: SocketAddr) -> Vec<String> {
    let mut tcp = TcpStream::connect(addr).await.expect("connecting to the HTTP port");
    let req = "GET /.well-known/host-meta HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    tcp.write_all(req.as_bytes()).await.expect("writing the request");
    let mut raw = Vec::new();
    timeout(WAIT, tcp.read_to_end(&mut raw)).await.expect("host-meta answered in time").expect("reading host-meta");
    let raw = String::from_utf8(raw).expect("host-meta is UTF-8");
    assert!(raw.starts_with("HTTP/1.1 200"), "host-meta: {raw}");
    let (_, body) = raw.split_once("\r\n\r\n").expect("an HTTP body");
    let xrd = Element::parse(&strip_prolog_and_comments(body)).unwrap_or_else(|e| panic!("host-meta {body:?}: {e}"));
    xrd.elements().filter(|l| l.name == "Link").filter_map(|l| l.attr("rel").map(str::to_string)).collect()
}

/// Everything the server announces, as [`MEANS`] keys.
async fn announced() -> BTreeSet<String> {
    // An admin, to see the admin commands; a plain-text s2s listener that
    // does not insist on TLS, so its first features already say what it
    // offers; a component port.
    let listen = "s2s = [\"127.0.0.1:0\"]\ncomponent = [\"127.0.0.1:0\"]\n";
    let config = "[s2s]\nrequire_tls = false\n\n[[vhost]]\ndomain = \"localhost\"\nadmins = [\"alice@localhost\"]\n";
    let mut s = Server::configure_listening(listen, config);
    s.launch();
    s.add_users(&[("alice@localhost", PW)]);
    let _log = s.log_on_panic();
    let mut keys = BTreeSet::new();

    let mut c = RawClient::connect(&s).await;
    stream_keys(&c.open_stream("localhost").await, &mut keys);
    c.starttls().await;
    stream_keys(&c.open_stream("localhost").await, &mut keys);
    c.auth(Mech::ScramSha256, "alice@localhost", PW).await.expect("alice logs in");
    stream_keys(&c.open_stream("localhost").await, &mut keys);
    c.bind(Some("doap")).await;

    for jid in ["localhost", "alice@localhost"] {
        let answer = c.iq("get", Some(jid), &format!("<query xmlns='{INFO}'/>")).await;
        info_keys(jid, &answer, &mut keys);
    }
    let items = c.iq("get", Some("localhost"), &format!("<query xmlns='{ITEMS}'/>")).await;
    let jids: Vec<String> = items
        .child("query", ITEMS)
        .map(|q| q.elements().filter_map(|i| i.attr("jid").map(str::to_string)).collect())
        .unwrap_or_default();
    assert!(jids.len() >= 3, "the default plugins' services (muc, pubsub, upload) are listed: {items}");
    for jid in &jids {
        let answer = c.iq("get", Some(jid), &format!("<query xmlns='{INFO}'/>")).await;
        info_keys(jid, &answer, &mut keys);
    }
    let commands = c.iq("get", Some("localhost"), &format!("<query xmlns='{ITEMS}' node='{COMMANDS}'/>")).await;
    let nodes: Vec<String> = commands
        .child("query", ITEMS)
        .map(|q| q.elements().filter_map(|i| i.attr("node").map(|n| format!("command:{n}"))).collect())
        .unwrap_or_default();
    assert!(!nodes.is_empty(), "the admin sees commands: {commands}");
    keys.extend(nodes);

    let direct = RawClient::connect_direct_tls(&s).await;
    let alpn = direct.alpn().map(|p| String::from_utf8_lossy(p).into_owned()).unwrap_or_default();
    keys.insert(format!("alpn:{alpn}"));

    keys.extend(host_meta_rels(s.http_addr()).await.into_iter().map(|r| format!("host-meta:{r}")));

    let s2s_header = "<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:db='jabber:server:dialback' \
         xmlns:stream='http://etherx.jabber.org/streams' from='peer.example' to='localhost' version='1.0'>";
    let text = raw_open(s.s2s_addr(), s2s_header, "</stream:features>").await;
    let start = text.find("<stream:features").expect("s2s features");
    let features = text[start..].replacen(
        "<stream:features",
        "<stream:features xmlns:stream='http://etherx.jabber.org/streams'",
        1,
    );
    let features = Element::parse(&features).unwrap_or_else(|e| panic!("s2s features {features:?}: {e}"));
    keys.extend(features.elements().map(|f| format!("s2s:{}", f.ns)));

    let component_header = "<stream:stream xmlns='jabber:component:accept' \
         xmlns:stream='http://etherx.jabber.org/streams' to='bridge.localhost'>";
    let text = raw_open(s.component_addr(), component_header, ">").await;
    if text.contains("jabber:component:accept") {
        keys.insert("component:jabber:component:accept".into());
    }
    keys
}

#[tokio::test]
async fn doap_lists_what_the_server_announces() {
    let doap = doap();
    let keys = announced().await;

    let mut unknown = Vec::new();
    let mut shown: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for key in &keys {
        match means(key) {
            Some(specs) => specs.iter().for_each(|spec| shown.entry(spec).or_default().push(key)),
            None => unknown.push(key.as_str()),
        }
    }
    let mut problems = Vec::new();
    if !unknown.is_empty() {
        problems.push(format!(
            "announced but not in MEANS (say which RFC or XEP each shows, and list it in doap.xml): {unknown:#?}"
        ));
    }
    for (spec, by) in &shown {
        if !doap.contains_key(*spec) {
            problems.push(format!("{spec} is announced ({by:?}) but doap.xml does not list it"));
        }
    }
    for (spec, why) in NOT_ANNOUNCED {
        if let Some(by) = shown.get(spec) {
            problems.push(format!("{spec} is in NOT_ANNOUNCED ({why}) but is announced by {by:?}: take it out"));
        }
        if !doap.contains_key(*spec) {
            problems.push(format!("{spec} is in NOT_ANNOUNCED but doap.xml does not list it"));
        }
    }
    for (spec, entry) in &doap {
        if !shown.contains_key(spec.as_str()) && !NOT_ANNOUNCED.iter().any(|(s, _)| s == spec) {
            problems.push(format!(
                "doap.xml lists {spec}, which nothing announces: add what shows it to MEANS, or say why in NOT_ANNOUNCED"
            ));
        }
        if spec.starts_with("XEP-") {
            if entry.version.is_empty() || !entry.version.chars().all(|c| c.is_ascii_digit() || c == '.') {
                problems.push(format!("{spec}: xmpp:version {:?} is not a XEP version", entry.version));
            }
            if !["complete", "partial", "planned", "deprecated", "removed", "wontfix"].contains(&entry.status.as_str())
            {
                problems.push(format!("{spec}: xmpp:status {:?} is not one XEP-0453 names", entry.status));
            }
            if entry.since.is_empty() {
                problems.push(format!("{spec}: no xmpp:since"));
            }
        }
    }
    assert!(problems.is_empty(), "doap.xml and the server disagree:\n{}", problems.join("\n"));
}

#[test]
fn means_prefers_exact_keys_and_the_longest_prefix() {
    assert_eq!(means("feature:http://jabber.org/protocol/pubsub#collections"), Some(&["XEP-0248"][..]));
    assert_eq!(means("feature:http://jabber.org/protocol/pubsub#publish"), Some(&["XEP-0060"][..]));
    assert_eq!(means("feature:http://jabber.org/protocol/pubsubx"), None);
    assert_eq!(means("feature:urn:example:new"), None);
}
