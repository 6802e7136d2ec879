//! XEP-0227 migration with the real binary: `waxwing import FILE` on a
//! stopped server, then users log in with their old passwords and find
//! their roster (subscription states kept), vCard, private XML and offline
//! messages; `waxwing export` and a re-import into a fresh server give the
//! same; bad files are refused with the line and element named, and
//! nothing half-imported; a real ejabberd export (SCRAM-SHA-1 only) imports.

use std::path::{Path, PathBuf};
use std::process::Output;

use waxwing_tests::{Element, Mech, RawClient, Server, body};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/piefxis").join(name)
}

fn out(o: &Output) -> String {
    format!(
        "exit {}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[track_caller]
fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", out(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[track_caller]
fn fails(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "{}", out(o));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn roster_items(r: &Element) -> Vec<(String, String, Option<String>)> {
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    let q = r.child("query", "jabber:iq:roster").unwrap_or_else(|| panic!("{r}"));
    let mut items: Vec<_> = q
        .elements()
        .map(|i| {
            (
                i.attr("jid").unwrap_or_default().to_string(),
                i.attr("subscription").unwrap_or_default().to_string(),
                i.attr("ask").map(str::to_string),
            )
        })
        .collect();
    items.sort();
    items
}

/// Everything of basic.xml is there for alice and bob.
async fn check_basic(s: &Server, mech: Mech) {
    let mut alice = RawClient::login_with(s, "alice@localhost", "alice-old-pw", mech, Some("pc")).await;
    let r = alice.iq("get", None, "<query xmlns='jabber:iq:roster'/>").await;
    assert_eq!(
        roster_items(&r),
        vec![
            ("bob@localhost".into(), "both".into(), None),
            ("carol@example.net".into(), "to".into(), None),
            ("dave@example.net".into(), "none".into(), Some("subscribe".into())),
        ]
    );
    let bob_item = r
        .child("query", "jabber:iq:roster")
        .and_then(|q| q.elements().find(|i| i.attr("jid") == Some("bob@localhost")));
    let bob_item = bob_item.expect("bob's item");
    assert_eq!(bob_item.attr("name"), Some("Bob"));
    assert_eq!(bob_item.elements().map(Element::text).collect::<Vec<_>>(), ["Friends"]);

    let r = alice.iq("get", None, "<vCard xmlns='vcard-temp'/>").await;
    let fname = r.child("vCard", "vcard-temp").and_then(|v| v.child("FN", "vcard-temp")).map(Element::text);
    assert_eq!(fname.as_deref(), Some("Alice Liddell"), "{r}");

    let r =
        alice.iq("get", None, "<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query>").await;
    let conf = r
        .child("query", "jabber:iq:private")
        .and_then(|q| q.child("storage", "storage:bookmarks"))
        .and_then(|st| st.child("conference", "storage:bookmarks"))
        .and_then(|c| c.attr("jid").map(str::to_string));
    assert_eq!(conf.as_deref(), Some("tea@conference.example.net"), "{r}");

    // The offline message comes with the first available presence, stamped
    // with when it first arrived.
    alice.send("<presence/>").await;
    let m = alice.next_where("the offline message", |e| e.name == "message").await;
    assert_eq!(body(&m), "see you at the tea party");
    assert_eq!(m.attr("from"), Some("bob@localhost/pc"));
    let delays: Vec<&Element> = m.elements().filter(|e| e.name == "delay").collect();
    assert_eq!(delays.len(), 1, "{m}");
    assert_eq!(delays[0].attr("stamp"), Some("2021-03-04T05:06:07.000Z"), "{m}");

    // Bob sees alice with the same subscription, and both being `both`,
    // presence flows: alice's goes to bob when he comes online.
    let mut bob = RawClient::login_with(s, "bob@localhost", "bob-old-pw", mech, Some("pc")).await;
    let r = bob.iq("get", None, "<query xmlns='jabber:iq:roster'/>").await;
    assert_eq!(roster_items(&r), vec![("alice@localhost".into(), "both".into(), None)]);
    bob.send("<presence/>").await;
    bob.next_where("alice's presence", |e| e.name == "presence" && e.attr("from") == Some("alice@localhost/pc")).await;
}

#[tokio::test]
async fn import_then_log_in_export_and_import_again() {
    let mut s = Server::configure("");
    let o = s.cli(&["import", path(&fixture("basic.xml"))]);
    let text = ok(&o);
    assert!(
        text.contains("imported alice@localhost") && text.contains("2 users imported, 0 not imported"),
        "{}",
        out(&o)
    );

    // Export while stopped: to a file, mode 0600.
    let exported = s.dir().join("export.xml");
    ok(&s.cli(&["export", path(&exported)]));
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&exported).expect("export").permissions());
    assert_eq!(mode & 0o777, 0o600);
    let dump = std::fs::read_to_string(&exported).expect("reading the export");
    assert!(dump.contains("SCRAM-SHA-256") && !dump.contains("alice-old-pw"), "{dump}");

    s.launch();
    check_basic(&s, Mech::ScramSha256).await;

    // Beside the running server they go through its plugins: the same file
    // again finds its users there, and the export shows them.
    let err = fails(&s.cli(&["import", path(&fixture("basic.xml"))]));
    assert!(err.contains("already exists"), "{err}");
    let live = ok(&s.cli(&["export"]));
    assert!(live.contains("<user name='alice'>"), "{live}");
    s.terminate();

    // Standard output gives the same export.
    let again = ok(&s.cli(&["export"]));
    assert!(again.contains("<user name='alice'>"), "{again}");

    // Into a fresh server: the SCRAM credentials carry the old passwords.
    let mut fresh = Server::configure("");
    let o = fresh.cli(&["import", path(&exported)]);
    assert!(ok(&o).contains("2 users imported"), "{}", out(&o));
    fresh.launch();
    check_basic(&fresh, Mech::ScramSha1).await;
    // (The offline message was delivered on the first server after the export.)
}

#[test]
fn bad_files_are_refused_by_line_and_nothing_half_imported() {
    let s = Server::configure("");
    let write = |name: &str, text: &str| {
        let p = s.dir().join(name);
        std::fs::write(&p, text).expect("writing a bad file");
        p
    };
    let malformed = write(
        "malformed.xml",
        "<server-data xmlns='urn:xmpp:pie:0'>\n<host jid='localhost'>\n<user name='a'>\n</host>\n",
    );
    let err = fails(&s.cli(&["import", path(&malformed)]));
    assert!(err.contains("malformed.xml, line 4") && err.contains("not well-formed"), "{err}");

    let mixed = write(
        "mixed.xml",
        "<server-data xmlns='urn:xmpp:pie:0'>\n\
         <host jid='localhost'>\n\
         <user password='x'/>\n\
         <user name='ok' password='ok-pw'/>\n\
         <user name='ok' password='again'/>\n\
         <user name='half' password='half-pw'><vCard xmlns='vcard-temp'><FN>H</FN></vCard>\
         <query xmlns='jabber:iq:roster'><item jid='a@b/c'/></query></user>\n\
         </host>\n\
         <host jid='unknown.example'><user name='u' password='p'/></host>\n\
         </server-data>\n",
    );
    let o = s.cli(&["import", path(&mixed)]);
    let err = fails(&o);
    for (line, what) in [(3, "without a 'name'"), (5, "appears twice"), (6, "jabber:iq:roster"), (8, "unknown.example")]
    {
        assert!(
            err.contains(&format!("mixed.xml, line {line}: ")) && err.contains(what),
            "line {line}, {what}: {}",
            out(&o)
        );
    }
    assert!(String::from_utf8_lossy(&o.stdout).contains("1 users imported, 4 not imported"), "{}", out(&o));
    let users = ok(&s.cli(&["user", "list"]));
    assert_eq!(users.lines().collect::<Vec<_>>(), ["ok@localhost"], "half was rolled back");

    // Importing the same user again is refused, and changes nothing.
    let err = fails(&s.cli(&["import", path(&mixed)]));
    assert!(err.contains("ok@localhost already exists"), "{err}");

    let missing = fails(&s.cli(&["import", path(&s.dir().join("none.xml"))]));
    assert!(missing.contains("none.xml"), "{missing}");
}

/// A real ejabberd export (tests/fixtures/piefxis/ejabberd): XInclude'd
/// host file, SCRAM-SHA-1 credentials only (base64 twice, as ejabberd
/// writes them). The users log in with SCRAM-SHA-1 at once, and with
/// SCRAM-SHA-256 after one PLAIN login completes their credentials.
#[tokio::test]
async fn ejabberd_scram_export_imports() {
    let mut s = Server::configure("");
    let o = s.cli(&["import", path(&fixture("ejabberd/server-data.xml"))]);
    assert!(ok(&o).contains("2 users imported, 0 not imported"), "{}", out(&o));
    s.launch();
    let mut alice = RawClient::login_with(&s, "alice@localhost", "alice-pw", Mech::ScramSha1, None).await;
    let r = alice.iq("get", None, "<query xmlns='jabber:iq:roster'/>").await;
    assert_eq!(roster_items(&r), vec![("bob@localhost".into(), "both".into(), None)]);
    let r = alice.iq("get", None, "<vCard xmlns='vcard-temp'/>").await;
    assert!(r.to_string().contains("Alice A"), "{r}");

    let mut c = RawClient::connect_tls(&s).await;
    assert!(c.auth(Mech::ScramSha256, "bob", "bob-pw").await.is_err(), "no SHA-256 credentials yet");
    let mut c = RawClient::connect_tls(&s).await;
    c.auth(Mech::Plain, "bob", "bob-pw").await.expect("PLAIN checks the SHA-1 credentials");
    RawClient::login_with(&s, "bob@localhost", "bob-pw", Mech::ScramSha256, None).await;
}
