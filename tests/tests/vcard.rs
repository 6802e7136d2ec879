//! XEP-0054 vcard-temp end to end through the `vcard` plugin: an account
//! writes its own vCard, anyone reads it, nobody else writes it.

use waxwing_tests::server::vhost_with_plugins;
use waxwing_tests::{Mech, RawClient, Server, stanza_error_condition, stanza_error_type};

const PW: &str = "vcard-pw";
const NS: &str = "vcard-temp";
const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
/// Small, so the test of the limit needs no large stanza.
const MAX_BYTES: usize = 2048;

fn start(users: &[&str]) -> Server {
    let config = vhost_with_plugins(&[("disco", ""), ("vcard", &format!("max_bytes = {MAX_BYTES}"))]);
    Server::start_with_localhost_users(&config, users, PW)
}

async fn login(s: &Server, user: &str) -> RawClient {
    RawClient::login_with(s, &format!("{user}@localhost"), PW, Mech::ScramSha256, Some("r")).await
}

fn full_name(r: &waxwing_tests::Element) -> Option<String> {
    r.child("vCard", NS)?.child("FN", NS).map(|f| f.text())
}

#[tokio::test]
async fn own_vcard_is_stored_and_readable_by_others() {
    let s = start(&["alice", "bob"]);
    let mut alice = login(&s, "alice").await;
    let mut bob = login(&s, "bob").await;

    let info = alice.iq("get", Some("localhost"), &format!("<query xmlns='{DISCO_INFO}'/>")).await;
    let q = info.child("query", DISCO_INFO).unwrap_or_else(|| panic!("{info}"));
    assert!(q.elements().any(|f| f.attr("var") == Some(NS)), "vcard-temp not advertised: {info}");

    // Nothing stored yet: item-not-found, as Prosody answers.
    let r = alice.iq("get", None, &format!("<vCard xmlns='{NS}'/>")).await;
    assert_eq!(stanza_error_condition(&r).as_deref(), Some("item-not-found"), "{r}");

    let r = alice
        .iq("set", None, &format!("<vCard xmlns='{NS}'><FN>Alice Liddell</FN><NICKNAME>al</NICKNAME></vCard>"))
        .await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    assert!(r.first_element().is_none(), "an empty result: {r}");

    let r = alice.iq("get", None, &format!("<vCard xmlns='{NS}'/>")).await;
    assert_eq!(full_name(&r).as_deref(), Some("Alice Liddell"), "{r}");
    let r = alice.iq("get", Some("alice@localhost"), &format!("<vCard xmlns='{NS}'/>")).await;
    assert_eq!(full_name(&r).as_deref(), Some("Alice Liddell"), "to the own bare JID: {r}");

    let r = bob.iq("get", Some("alice@localhost"), &format!("<vCard xmlns='{NS}'/>")).await;
    assert_eq!(r.attr("from"), Some("alice@localhost"), "{r}");
    assert_eq!(full_name(&r).as_deref(), Some("Alice Liddell"), "{r}");
    let nick = r.child("vCard", NS).and_then(|v| v.child("NICKNAME", NS)).map(|n| n.text());
    assert_eq!(nick.as_deref(), Some("al"), "stored whole: {r}");

    // A later set replaces the vCard.
    let r = alice.iq("set", None, &format!("<vCard xmlns='{NS}'><FN>Alice</FN></vCard>")).await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    let r = bob.iq("get", Some("alice@localhost"), &format!("<vCard xmlns='{NS}'/>")).await;
    assert_eq!(full_name(&r).as_deref(), Some("Alice"), "{r}");
    assert!(r.child("vCard", NS).and_then(|v| v.child("NICKNAME", NS)).is_none(), "{r}");
}

#[tokio::test]
async fn others_cannot_write_and_oversized_vcards_are_refused() {
    let s = start(&["alice", "bob"]);
    let mut alice = login(&s, "alice").await;
    let mut bob = login(&s, "bob").await;
    let r = alice.iq("set", None, &format!("<vCard xmlns='{NS}'><FN>Alice</FN></vCard>")).await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");

    let r = bob.iq("set", Some("alice@localhost"), &format!("<vCard xmlns='{NS}'><FN>Bob was here</FN></vCard>")).await;
    assert_eq!(stanza_error_condition(&r).as_deref(), Some("forbidden"), "{r}");

    let huge = "x".repeat(MAX_BYTES);
    let r = alice.iq("set", None, &format!("<vCard xmlns='{NS}'><FN>{huge}</FN></vCard>")).await;
    assert_eq!(stanza_error_condition(&r).as_deref(), Some("not-acceptable"), "{r}");
    assert_eq!(stanza_error_type(&r).as_deref(), Some("modify"), "{r}");

    // Neither touched what was stored, and the server still serves.
    let r = bob.iq("get", Some("alice@localhost"), &format!("<vCard xmlns='{NS}'/>")).await;
    assert_eq!(full_name(&r).as_deref(), Some("Alice"), "{r}");

    // Someone without a vCard, or no such account: item-not-found.
    for who in ["bob@localhost", "nobody@localhost"] {
        let r = alice.iq("get", Some(who), &format!("<vCard xmlns='{NS}'/>")).await;
        assert_eq!(stanza_error_condition(&r).as_deref(), Some("item-not-found"), "{who}: {r}");
    }
}

#[tokio::test]
async fn deleting_an_account_deletes_its_vcard() {
    let s = start(&["alice", "carol"]);
    let mut alice = login(&s, "alice").await;
    let mut carol = login(&s, "carol").await;
    let r = carol.iq("set", None, &format!("<vCard xmlns='{NS}'><FN>Carol</FN></vCard>")).await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    carol.close().await;

    let out = s.cli(&["user", "del", "carol@localhost"]);
    assert!(out.status.success(), "user del: {}", String::from_utf8_lossy(&out.stderr));
    // The event reaches the plugin on another task of the server.
    let deadline = tokio::time::Instant::now() + waxwing_tests::TIMEOUT;
    loop {
        let r = alice.iq("get", Some("carol@localhost"), &format!("<vCard xmlns='{NS}'/>")).await;
        if stanza_error_condition(&r).as_deref() == Some("item-not-found") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the vCard outlived its account: {r}");
    }
    // A new account of the same name starts without one.
    s.add_user("carol@localhost", PW);
    let mut carol = login(&s, "carol").await;
    let r = carol.iq("get", None, &format!("<vCard xmlns='{NS}'/>")).await;
    assert_eq!(stanza_error_condition(&r).as_deref(), Some("item-not-found"), "{r}");
}
