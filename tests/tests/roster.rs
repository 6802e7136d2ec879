//! The `roster` plugin's iq side end to end: `jabber:iq:roster` get, set,
//! remove and pushes (RFC 6121 §2), roster versioning (XEP-0237), last
//! activity of contacts (XEP-0012), and what bad requests get.
//! Subscriptions and presence are in `presence.rs`.

use waxwing_tests::server::vhost_with_plugins;
use waxwing_tests::{Element, Mech, RawClient, Server, stanza_error_condition};

const PW: &str = "roster-pw";
const NS_ROSTER: &str = "jabber:iq:roster";
const NS_LAST: &str = "jabber:iq:last";

/// A server with the roster plugin (and disco, to see its features).
fn start(users: &[&str]) -> Server {
    start_with_config(users, "")
}

/// Like [`start`], with a `[vhost.plugin.config]` table for the roster.
fn start_with_config(users: &[&str], roster_config: &str) -> Server {
    let config = vhost_with_plugins(&[("disco", ""), ("roster", roster_config)]);
    Server::start_with_localhost_users(&config, users, PW)
}

async fn login(s: &Server, user: &str, resource: &str) -> RawClient {
    RawClient::login_with(s, &format!("{user}@localhost"), PW, Mech::ScramSha256, Some(resource)).await
}

fn is_push(e: &Element) -> bool {
    e.name == "iq" && e.attr("type") == Some("set") && e.child("query", NS_ROSTER).is_some()
}

/// The `<query/>` of the next roster push.
async fn next_push(c: &mut RawClient) -> Element {
    let push = c.next_where("a roster push", is_push).await;
    push.child("query", NS_ROSTER).cloned().unwrap_or_else(|| panic!("a push without a query: {push}"))
}

fn items(query: &Element) -> Vec<&Element> {
    query.elements().filter(|e| e.is("item", NS_ROSTER)).collect()
}

fn item_summary(item: &Element) -> (String, String) {
    (item.attr("jid").unwrap_or_default().to_string(), item.attr("subscription").unwrap_or_default().to_string())
}

async fn roster_get(c: &mut RawClient, ver: Option<&str>) -> Element {
    let ver = ver.map(|v| format!(" ver='{v}'")).unwrap_or_default();
    c.iq("get", None, &format!("<query xmlns='{NS_ROSTER}'{ver}/>")).await
}

async fn roster_set(c: &mut RawClient, item: &str) -> Element {
    c.iq("set", None, &format!("<query xmlns='{NS_ROSTER}'>{item}</query>")).await
}

fn expect_result(r: &Element) {
    assert_eq!(r.attr("type"), Some("result"), "{r}");
}

fn expect_error(r: &Element, condition: &str) {
    assert_eq!(r.attr("type"), Some("error"), "{r}");
    assert_eq!(stanza_error_condition(r).as_deref(), Some(condition), "{r}");
}

/// Alice subscribes to bob and bob approves, both online with presence.
async fn subscribe(a: &mut RawClient, a_user: &str, b: &mut RawClient, b_user: &str) {
    a.send(&format!("<presence type='subscribe' to='{b_user}@localhost'/>")).await;
    b.next_where("the subscription request", |e| e.name == "presence" && e.attr("type") == Some("subscribe")).await;
    b.send(&format!("<presence type='subscribed' to='{a_user}@localhost'/>")).await;
    a.next_where("the approval", |e| e.name == "presence" && e.attr("type") == Some("subscribed")).await;
}

/// Alice on resource `a` and bob on `b`, each subscribed to the other's
/// presence; what that sent alice is read.
async fn mutual_contacts(s: &Server) -> (RawClient, RawClient) {
    let mut a = login(s, "alice", "a").await;
    let mut b = login(s, "bob", "b").await;
    for c in [&mut a, &mut b] {
        roster_get(c, None).await;
        c.available(0).await;
    }
    subscribe(&mut a, "alice", &mut b, "bob").await;
    subscribe(&mut b, "bob", &mut a, "alice").await;
    a.drain().await;
    (a, b)
}

#[tokio::test]
async fn set_get_and_push_to_interested_resources() {
    let s = start(&["alice", "bob"]);
    let mut a1 = login(&s, "alice", "a1").await;
    let mut a2 = login(&s, "alice", "a2").await;
    let mut a3 = login(&s, "alice", "a3").await;

    let r = roster_get(&mut a1, None).await;
    expect_result(&r);
    let q = r.child("query", NS_ROSTER).unwrap_or_else(|| panic!("no query: {r}"));
    assert!(items(q).is_empty(), "{r}");
    assert!(q.attr("ver").is_some(), "versioned result: {r}");
    expect_result(&roster_get(&mut a2, None).await);

    let r = roster_set(&mut a1, "<item jid='Bob@LocalHost' name='Bobby'><group>Friends</group></item>").await;
    expect_result(&r);
    for c in [&mut a1, &mut a2] {
        let q = next_push(c).await;
        let pushed = items(&q);
        assert_eq!(pushed.len(), 1, "{q}");
        assert_eq!(item_summary(pushed[0]), ("bob@localhost".into(), "none".into()));
        assert_eq!(pushed[0].attr("name"), Some("Bobby"));
        assert_eq!(pushed[0].child("group", NS_ROSTER).map(Element::text).as_deref(), Some("Friends"));
        assert!(q.attr("ver").is_some(), "{q}");
    }
    // a3 never asked for the roster: no pushes for it (§2.1.6).
    assert!(!a3.drain().await.iter().any(is_push), "a3 got a push");

    let r = roster_get(&mut a3, None).await;
    let q = r.child("query", NS_ROSTER).unwrap_or_else(|| panic!("no query: {r}"));
    assert_eq!(items(q).iter().map(|i| item_summary(i)).collect::<Vec<_>>(), [("bob@localhost".into(), "none".into())]);

    // Changing the name replaces the item, still one.
    expect_result(&roster_set(&mut a1, "<item jid='bob@localhost' name='Robert'/>").await);
    let q = next_push(&mut a3).await;
    assert_eq!(items(&q)[0].attr("name"), Some("Robert"));
    assert!(items(&q)[0].child("group", NS_ROSTER).is_none(), "groups replaced: {q}");
    let r = roster_get(&mut a1, None).await;
    assert_eq!(r.child("query", NS_ROSTER).map(|q| items(q).len()), Some(1), "{r}");
}

#[tokio::test]
async fn versioned_get_returns_only_changes() {
    let s = start(&["alice"]);
    let mut a = login(&s, "alice", "a").await;
    let r = roster_get(&mut a, Some("")).await;
    let v0 = r.child("query", NS_ROSTER).and_then(|q| q.attr("ver")).map(str::to_string).expect("a version");

    expect_result(&roster_set(&mut a, "<item jid='one@localhost'/>").await);
    let v1 = next_push(&mut a).await.attr("ver").map(str::to_string).expect("a pushed version");
    assert_ne!(v0, v1);

    // Up to date: an empty result and nothing else.
    let r = roster_get(&mut a, Some(&v1)).await;
    expect_result(&r);
    assert!(r.child("query", NS_ROSTER).is_none(), "an empty result: {r}");
    assert!(!a.drain().await.iter().any(is_push), "no pushes for an up-to-date roster");

    expect_result(&roster_set(&mut a, "<item jid='two@localhost'/>").await);
    next_push(&mut a).await;
    expect_result(&roster_set(&mut a, "<item jid='one@localhost' subscription='remove'/>").await);
    let removal = next_push(&mut a).await;
    assert_eq!(item_summary(items(&removal)[0]), ("one@localhost".into(), "remove".into()));
    let v3 = removal.attr("ver").map(str::to_string).expect("a version");

    // From v1: the empty result, then two's addition and one's removal only.
    let r = roster_get(&mut a, Some(&v1)).await;
    expect_result(&r);
    assert!(r.child("query", NS_ROSTER).is_none(), "{r}");
    let pushes: Vec<Element> = a.drain().await.into_iter().filter(is_push).collect();
    let got: Vec<(String, String)> = pushes
        .iter()
        .filter_map(|p| p.child("query", NS_ROSTER))
        .flat_map(|q| items(q).into_iter().map(item_summary).collect::<Vec<_>>())
        .collect();
    assert_eq!(got, [("two@localhost".into(), "none".into()), ("one@localhost".into(), "remove".into())]);
    let last_ver = pushes.last().and_then(|p| p.child("query", NS_ROSTER)).and_then(|q| q.attr("ver"));
    assert_eq!(last_ver, Some(v3.as_str()));

    // A version this server never gave out: the whole roster.
    let r = roster_get(&mut a, Some("not-a-version")).await;
    let q = r.child("query", NS_ROSTER).unwrap_or_else(|| panic!("a full roster: {r}"));
    assert_eq!(items(q).iter().map(|i| item_summary(i)).collect::<Vec<_>>(), [("two@localhost".into(), "none".into())]);
    assert_eq!(q.attr("ver"), Some(v3.as_str()));
    s.assert_no_plugin_failures();
}

#[tokio::test]
async fn remove_cancels_subscriptions_both_ways() {
    let s = start(&["alice", "bob"]);
    let (mut a, mut b) = mutual_contacts(&s).await;
    b.drain().await;
    let r = roster_get(&mut b, None).await;
    let q = r.child("query", NS_ROSTER).cloned().unwrap_or_else(|| panic!("{r}"));
    assert_eq!(
        items(&q).iter().map(|i| item_summary(i)).collect::<Vec<_>>(),
        [("alice@localhost".into(), "both".into())]
    );

    expect_result(&roster_set(&mut a, "<item jid='bob@localhost' subscription='remove'/>").await);
    let q = next_push(&mut a).await;
    assert_eq!(item_summary(items(&q)[0]), ("bob@localhost".into(), "remove".into()));

    // Bob hears both cancellations, sees alice go, and his item falls to none.
    let seen = b.drain().await;
    let types: Vec<&str> = seen.iter().filter(|e| e.name == "presence").filter_map(|e| e.attr("type")).collect();
    assert!(types.contains(&"unsubscribe") && types.contains(&"unsubscribed"), "{seen:?}");
    assert!(
        seen.iter().any(|e| e.name == "presence"
            && e.attr("type") == Some("unavailable")
            && e.attr("from") == Some("alice@localhost/a")),
        "alice's resource went unavailable for bob: {seen:?}"
    );
    let last_push = seen.iter().rev().find(|e| is_push(e)).and_then(|p| p.child("query", NS_ROSTER));
    let last_item = last_push.map(|q| items(q).into_iter().map(item_summary).collect::<Vec<_>>());
    assert_eq!(last_item, Some(vec![("alice@localhost".into(), "none".into())]), "{seen:?}");

    // Removing what is not there.
    expect_error(&roster_set(&mut a, "<item jid='bob@localhost' subscription='remove'/>").await, "item-not-found");
}

#[tokio::test]
async fn bad_roster_requests_get_errors_and_change_nothing() {
    let s = start(&["alice", "bob"]);
    let mut a = login(&s, "alice", "a").await;
    let cases = [
        ("<item jid='x@localhost'/><item jid='y@localhost'/>", "bad-request"),
        ("", "bad-request"),
        ("<item name='no jid'/>", "bad-request"),
        ("<item jid='a@b@c'/>", "jid-malformed"),
        ("<item jid='sp ace@localhost'/>", "jid-malformed"),
        ("<item jid='x@localhost'><group>G</group><group>G</group></item>", "bad-request"),
        ("<item jid='x@localhost'><group></group></item>", "not-acceptable"),
    ];
    for (item, condition) in cases {
        expect_error(&roster_set(&mut a, item).await, condition);
    }
    // Someone else's roster, either way.
    let r = a.iq("get", Some("bob@localhost"), &format!("<query xmlns='{NS_ROSTER}'/>")).await;
    expect_error(&r, "forbidden");
    let r = a
        .iq("set", Some("bob@localhost"), &format!("<query xmlns='{NS_ROSTER}'><item jid='x@localhost'/></query>"))
        .await;
    expect_error(&r, "forbidden");

    let r = roster_get(&mut a, None).await;
    let q = r.child("query", NS_ROSTER).unwrap_or_else(|| panic!("{r}"));
    assert!(items(q).is_empty(), "nothing was added: {r}");
    let mut b = login(&s, "bob", "b").await;
    let r = roster_get(&mut b, None).await;
    assert_eq!(r.child("query", NS_ROSTER).map(|q| items(q).len()), Some(0), "{r}");
    s.assert_no_plugin_failures();
}

#[tokio::test]
async fn last_activity_for_subscribers_only() {
    let s = start(&["alice", "bob", "carol"]);
    let mut a = login(&s, "alice", "a").await;
    let mut b = login(&s, "bob", "b").await;
    a.available(0).await;
    b.available(0).await;
    subscribe(&mut a, "alice", &mut b, "bob").await;

    let query = format!("<query xmlns='{NS_LAST}'/>");
    // Bob is online: no idle time.
    let r = a.iq("get", Some("bob@localhost"), &query).await;
    expect_result(&r);
    assert_eq!(r.child("query", NS_LAST).and_then(|q| q.attr("seconds")), Some("0"), "{r}");

    b.send("<presence type='unavailable'><status>lunch</status></presence>").await;
    b.drain().await;
    b.close().await;
    let r = a.iq("get", Some("bob@localhost"), &query).await;
    expect_result(&r);
    let q = r.child("query", NS_LAST).unwrap_or_else(|| panic!("{r}"));
    let seconds: u64 = q.attr("seconds").and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("seconds: {r}"));
    assert!(seconds < 60, "{r}");
    assert_eq!(q.text(), "lunch");

    // Carol is not subscribed to bob.
    let mut c = login(&s, "carol", "c").await;
    expect_error(&c.iq("get", Some("bob@localhost"), &query).await, "forbidden");
    // Nor to alice, who has no subscriber at all; she may ask about herself.
    expect_error(&c.iq("get", Some("alice@localhost"), &query).await, "forbidden");
    expect_result(&a.iq("get", Some("alice@localhost"), &query).await);
    s.assert_no_plugin_failures();
}

#[tokio::test]
async fn features_are_announced() {
    let s = start(&["alice"]);
    let mut a = login(&s, "alice", "a").await;
    let features = a.features.clone().expect("stream features");
    assert!(features.child("ver", "urn:xmpp:features:rosterver").is_some(), "{features}");
    assert!(features.child("sub", "urn:xmpp:features:pre-approval").is_some(), "{features}");
    let r = a.iq("get", Some("localhost"), "<query xmlns='http://jabber.org/protocol/disco#info'/>").await;
    let vars: Vec<String> = r
        .child("query", "http://jabber.org/protocol/disco#info")
        .map(|q| {
            q.elements().filter(|e| e.name == "feature").filter_map(|e| e.attr("var").map(str::to_string)).collect()
        })
        .unwrap_or_default();
    assert!(vars.iter().any(|v| v == "urn:xmpp:invisible:0"), "{r}");
    assert!(!vars.iter().any(|v| v.starts_with('<')), "stream features are not disco features: {r}");
}

#[tokio::test]
async fn deleted_account_leaves_its_contacts_rosters() {
    let s = start(&["alice", "bob"]);
    // Bob stays online: his account goes while he is logged in.
    let (mut a, _b) = mutual_contacts(&s).await;

    let out = s.cli(&["user", "del", "bob@localhost"]);
    assert!(out.status.success(), "user del: {}", String::from_utf8_lossy(&out.stderr));
    // Both subscriptions end: alice's item for bob falls to none.
    loop {
        let q = next_push(&mut a).await;
        if item_summary(items(&q)[0]) == ("bob@localhost".into(), "none".into()) {
            break;
        }
    }
    let r = roster_get(&mut a, None).await;
    let q = r.child("query", NS_ROSTER).cloned().unwrap_or_else(|| panic!("{r}"));
    assert_eq!(
        items(&q).iter().map(|i| item_summary(i)).collect::<Vec<_>>(),
        [("bob@localhost".into(), "none".into())]
    );

    // A new bob starts with an empty roster.
    s.add_user("bob@localhost", PW);
    let mut b2 = login(&s, "bob", "b2").await;
    let r = roster_get(&mut b2, None).await;
    assert_eq!(r.child("query", NS_ROSTER).map(|q| items(q).len()), Some(0), "{r}");
    s.assert_no_plugin_failures();
}

#[tokio::test]
async fn rosters_stop_growing_at_max_items() {
    let s = start_with_config(&["alice", "bob"], "max_items = 2");
    let mut a = login(&s, "alice", "a").await;
    a.available(0).await;
    expect_result(&roster_set(&mut a, "<item jid='one@localhost'/>").await);
    expect_result(&roster_set(&mut a, "<item jid='two@localhost'/>").await);
    expect_error(&roster_set(&mut a, "<item jid='three@localhost'/>").await, "resource-constraint");
    // Changing a listed item is still fine.
    expect_result(&roster_set(&mut a, "<item jid='two@localhost' name='Two'/>").await);
    // A subscription request would list a third contact: refused too, and bob never hears of it.
    a.send("<presence type='subscribe' to='bob@localhost'/>").await;
    let e = a.next_where("the refusal", |e| e.name == "presence" && e.attr("type") == Some("error")).await;
    assert_eq!(stanza_error_condition(&e).as_deref(), Some("resource-constraint"), "{e}");
    let mut b = login(&s, "bob", "b").await;
    b.send("<presence/>").await;
    let seen = b.drain().await;
    assert!(!seen.iter().any(|e| e.attr("type") == Some("subscribe")), "{seen:?}");
    let r = roster_get(&mut a, None).await;
    assert_eq!(r.child("query", NS_ROSTER).map(|q| items(q).len()), Some(2), "{r}");
    s.assert_no_plugin_failures();
}

/// Two sessions of one account change its roster at the same moment, each
/// sending its sets without waiting: every item is kept, and every change
/// gets a version of its own, so a client that caches by version misses
/// none (the roster's read-modify-write goes through compare-and-swap).
#[tokio::test]
async fn concurrent_changes_from_two_sessions_lose_nothing() {
    const EACH: usize = 20;
    let s = start(&["alice"]);
    let mut a1 = login(&s, "alice", "a1").await;
    let mut a2 = login(&s, "alice", "a2").await;
    expect_result(&roster_get(&mut a1, None).await);
    expect_result(&roster_get(&mut a2, None).await);

    let sets = |prefix: &str| -> String {
        (0..EACH)
            .map(|i| format!("<iq type='set' id='{prefix}{i}'><query xmlns='{NS_ROSTER}'><item jid='{prefix}{i}@localhost'/></query></iq>"))
            .collect()
    };
    let (first, second) = (sets("c"), sets("d"));
    tokio::join!(a1.send(&first), a2.send(&second));

    // a1 hears a push for every change, its own and a2's.
    let mut pushed: Vec<(String, String)> = Vec::new();
    while pushed.len() < 2 * EACH {
        let q = next_push(&mut a1).await;
        let ver = q.attr("ver").unwrap_or_else(|| panic!("a push without a version: {q}")).to_string();
        for item in items(&q) {
            pushed.push((item.attr("jid").unwrap_or_default().to_string(), ver.clone()));
        }
    }
    let mut versions: Vec<&str> = pushed.iter().map(|(_, v)| v.as_str()).collect();
    versions.sort_unstable();
    versions.dedup();
    assert_eq!(versions.len(), 2 * EACH, "two changes share a version: {pushed:?}");

    let r = roster_get(&mut a2, None).await;
    let q = r.child("query", NS_ROSTER).unwrap_or_else(|| panic!("no query: {r}"));
    let mut jids: Vec<String> = items(q).iter().map(|i| item_summary(i).0).collect();
    jids.sort();
    let mut want: Vec<String> =
        (0..EACH).flat_map(|i| [format!("c{i}@localhost"), format!("d{i}@localhost")]).collect();
    want.sort();
    assert_eq!(jids, want, "an item was lost");
    s.assert_no_plugin_failures();
}
