//! XEP-0049 private XML storage end to end through the `private` plugin.

use waxwing_tests::server::vhost_with_plugins;
use waxwing_tests::{Element, Mech, RawClient, Server, stanza_error_condition};

const PW: &str = "private-pw";
const NS: &str = "jabber:iq:private";
const BOOKMARKS: &str = "storage:bookmarks";
/// Small, so the test of the limit needs no large stanza.
const MAX_BYTES: usize = 1024;

fn start(users: &[&str]) -> Server {
    let config = vhost_with_plugins(&[("private", &format!("max_bytes = {MAX_BYTES}"))]);
    Server::start_with_localhost_users(&config, users, PW)
}

async fn login(s: &Server, user: &str, resource: &str) -> RawClient {
    RawClient::login_with(s, &format!("{user}@localhost"), PW, Mech::ScramSha256, Some(resource)).await
}

/// The element inside the `<query/>` of a result.
fn stored(r: &Element) -> &Element {
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    let q = r.child("query", NS).unwrap_or_else(|| panic!("no query: {r}"));
    q.first_element().unwrap_or_else(|| panic!("empty query: {r}"))
}

fn conferences(el: &Element) -> Vec<String> {
    el.elements().filter(|c| c.name == "conference").filter_map(|c| c.attr("jid").map(str::to_owned)).collect()
}

#[tokio::test]
async fn elements_are_stored_per_namespace_and_read_back() {
    let s = start(&["alice"]);
    let mut pc = login(&s, "alice", "pc").await;
    let mut phone = login(&s, "alice", "phone").await;

    // Nothing stored: the empty element comes back.
    let r = pc.iq("get", None, &format!("<query xmlns='{NS}'><storage xmlns='{BOOKMARKS}'/></query>")).await;
    let el = stored(&r);
    assert!(el.is("storage", BOOKMARKS) && el.children.is_empty(), "{r}");

    let bookmarks = format!(
        "<query xmlns='{NS}'><storage xmlns='{BOOKMARKS}'>\
         <conference jid='room@conference.localhost' autojoin='true'><nick>al</nick></conference></storage></query>"
    );
    let r = pc.iq("set", None, &bookmarks).await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    let r = pc
        .iq("set", None, &format!("<query xmlns='{NS}'><prefs xmlns='urn:example:prefs'><a>1</a></prefs></query>"))
        .await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");

    // Another resource of the account reads each element by its namespace.
    let r = phone
        .iq("get", Some("alice@localhost"), &format!("<query xmlns='{NS}'><storage xmlns='{BOOKMARKS}'/></query>"))
        .await;
    let el = stored(&r);
    assert!(el.is("storage", BOOKMARKS), "{r}");
    assert_eq!(conferences(el), ["room@conference.localhost"], "{r}");
    let r = phone.iq("get", None, &format!("<query xmlns='{NS}'><prefs xmlns='urn:example:prefs'/></query>")).await;
    assert_eq!(stored(&r).child("a", "urn:example:prefs").map(Element::text).as_deref(), Some("1"), "{r}");
    // Same name, other namespace: a different element.
    let r = phone.iq("get", None, &format!("<query xmlns='{NS}'><storage xmlns='storage:rosternotes'/></query>")).await;
    assert!(stored(&r).children.is_empty(), "{r}");

    // Setting the empty element clears it.
    let r = phone.iq("set", None, &format!("<query xmlns='{NS}'><storage xmlns='{BOOKMARKS}'/></query>")).await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    let r = pc.iq("get", None, &format!("<query xmlns='{NS}'><storage xmlns='{BOOKMARKS}'/></query>")).await;
    assert!(conferences(stored(&r)).is_empty(), "{r}");
}

#[tokio::test]
async fn other_accounts_and_bad_requests_are_refused() {
    let s = start(&["alice", "bob"]);
    let mut alice = login(&s, "alice", "pc").await;
    let mut bob = login(&s, "bob", "pc").await;
    let secret = format!("<query xmlns='{NS}'><secret xmlns='urn:example:s'>alice's</secret></query>");
    let r = alice.iq("set", None, &secret).await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");

    for ty in ["get", "set"] {
        let r = bob
            .iq(ty, Some("alice@localhost"), &format!("<query xmlns='{NS}'><secret xmlns='urn:example:s'/></query>"))
            .await;
        assert_eq!(stanza_error_condition(&r).as_deref(), Some("forbidden"), "{ty}: {r}");
    }

    let bad = [
        (format!("<query xmlns='{NS}'><query xmlns='jabber:iq:roster'/></query>"), "not-acceptable"),
        (format!("<query xmlns='{NS}'><x xmlns='jabber:x:data'/></query>"), "not-acceptable"),
        (format!("<query xmlns='{NS}'><plain xmlns=''/></query>"), "not-acceptable"),
        (format!("<query xmlns='{NS}'/>"), "bad-request"),
        (format!("<query xmlns='{NS}'><a xmlns='urn:a'/><b xmlns='urn:b'/></query>"), "bad-request"),
        (format!("<query xmlns='{NS}'><big xmlns='urn:big'>{}</big></query>", "x".repeat(MAX_BYTES)), "not-acceptable"),
    ];
    for (payload, want) in &bad {
        let r = alice.iq("set", None, payload).await;
        assert_eq!(stanza_error_condition(&r).as_deref(), Some(*want), "{payload}: {r}");
    }
    let r = alice.iq("get", None, &format!("<query xmlns='{NS}'><query xmlns='jabber:iq:roster'/></query>")).await;
    assert_eq!(stanza_error_condition(&r).as_deref(), Some("not-acceptable"), "{r}");

    // What was stored is untouched, and only its owner sees it.
    let r = alice.iq("get", None, &format!("<query xmlns='{NS}'><secret xmlns='urn:example:s'/></query>")).await;
    assert_eq!(stored(&r).text(), "alice's", "{r}");
    let r = bob.iq("get", None, &format!("<query xmlns='{NS}'><secret xmlns='urn:example:s'/></query>")).await;
    assert_eq!(stored(&r).text(), "", "bob's own storage is his: {r}");
}

#[tokio::test]
async fn deleting_an_account_deletes_its_storage() {
    let s = start(&["carol"]);
    let mut carol = login(&s, "carol", "pc").await;
    for ns in ["urn:example:a", "urn:example:b"] {
        let r = carol.iq("set", None, &format!("<query xmlns='{NS}'><data xmlns='{ns}'>kept</data></query>")).await;
        assert_eq!(r.attr("type"), Some("result"), "{r}");
    }
    carol.close().await;
    let out = s.cli(&["user", "del", "carol@localhost"]);
    assert!(out.status.success(), "user del: {}", String::from_utf8_lossy(&out.stderr));

    // The event reaches the plugin on another task of the server: a new
    // account of the same name finds both elements gone once it has run.
    s.add_user("carol@localhost", PW);
    let mut carol = login(&s, "carol", "pc").await;
    let deadline = tokio::time::Instant::now() + waxwing_tests::TIMEOUT;
    for ns in ["urn:example:a", "urn:example:b"] {
        loop {
            let r = carol.iq("get", None, &format!("<query xmlns='{NS}'><data xmlns='{ns}'/></query>")).await;
            if stored(&r).text().is_empty() {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "storage outlived its account: {r}");
        }
    }
}
