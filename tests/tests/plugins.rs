//! The default plugins (ping, time, version, disco) answering over the wire,
//! loaded as wasm by the default config.

use std::sync::OnceLock;

use waxwing_tests::{RawClient, Server, shared, stanza_error_condition};

const PW: &str = "plugins-pw";

fn server() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    shared(&S, "", &[("pat@localhost", PW), ("quinn@localhost", PW)])
}

const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
const DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";

#[tokio::test]
async fn xep0199_ping_to_the_server() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::login(s, "pat", PW).await;
    let r = c.iq("get", Some("localhost"), "<ping xmlns='urn:xmpp:ping'/>").await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    assert_eq!(r.attr("from"), Some("localhost"), "{r}");
    assert_eq!(r.attr("to"), c.jid.as_deref(), "{r}");
}

#[tokio::test]
async fn disco_info_lists_the_plugin_features_and_identity() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::login(s, "pat", PW).await;
    let r = c.iq("get", Some("localhost"), &format!("<query xmlns='{DISCO_INFO}'/>")).await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    let q = r.child("query", DISCO_INFO).unwrap_or_else(|| panic!("no disco#info query: {r}"));
    let features: Vec<String> =
        q.elements().filter(|e| e.name == "feature").filter_map(|e| e.attr("var").map(str::to_string)).collect();
    for want in ["urn:xmpp:ping", "urn:xmpp:time", "jabber:iq:version", DISCO_INFO, DISCO_ITEMS] {
        assert!(features.iter().any(|f| f == want), "disco#info lacks {want}: {features:?}");
    }
    let mut sorted = features.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), features.len(), "a feature is listed twice: {features:?}");
    let ids: Vec<(Option<&str>, Option<&str>)> =
        q.elements().filter(|e| e.name == "identity").map(|e| (e.attr("category"), e.attr("type"))).collect();
    assert!(ids.contains(&(Some("server"), Some("im"))), "no server/im identity: {ids:?}");
}

#[tokio::test]
async fn disco_items_answers() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::login(s, "quinn", PW).await;
    let r = c.iq("get", Some("localhost"), &format!("<query xmlns='{DISCO_ITEMS}'/>")).await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    assert!(r.child("query", DISCO_ITEMS).is_some(), "{r}");
}

#[tokio::test]
async fn xep0202_time() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::login(s, "quinn", PW).await;
    let r = c.iq("get", Some("localhost"), "<time xmlns='urn:xmpp:time'/>").await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    let t = r.child("time", "urn:xmpp:time").unwrap_or_else(|| panic!("no <time/>: {r}"));
    let utc = t.child("utc", "urn:xmpp:time").map(|u| u.text()).unwrap_or_else(|| panic!("no <utc/>: {r}"));
    let tzo = t.child("tzo", "urn:xmpp:time").map(|u| u.text()).unwrap_or_else(|| panic!("no <tzo/>: {r}"));
    let secs = parse_utc(&utc).unwrap_or_else(|| panic!("<utc/> is not an XEP-0082 UTC time: {utc:?}"));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs() as i64;
    assert!((secs - now).abs() < 300, "server time {utc} is {}s away from ours", secs - now);
    assert!(tzo == "Z" || (tzo.len() == 6 && (tzo.starts_with('+') || tzo.starts_with('-'))), "tzo {tzo:?}");
}

#[tokio::test]
async fn xep0092_version() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::login(s, "pat", PW).await;
    let r = c.iq("get", Some("localhost"), "<query xmlns='jabber:iq:version'/>").await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    let q = r.child("query", "jabber:iq:version").unwrap_or_else(|| panic!("{r}"));
    assert_eq!(q.child("name", "jabber:iq:version").map(|n| n.text()).as_deref(), Some("Waxwing"), "{r}");
    let v = q.child("version", "jabber:iq:version").map(|n| n.text()).unwrap_or_default();
    assert!(!v.is_empty(), "empty version: {r}");
}

#[tokio::test]
async fn version_set_is_refused() {
    // A plugin that serves `get` must not accept `set` as if it were one.
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::login(s, "quinn", PW).await;
    let r = c.iq("set", Some("localhost"), "<query xmlns='jabber:iq:version'/>").await;
    assert_eq!(r.attr("type"), Some("error"), "{r}");
    assert!(stanza_error_condition(&r).is_some(), "{r}");
}

/// "2024-05-06T07:08:09Z" or with fractional seconds, to seconds since 1970.
fn parse_utc(s: &str) -> Option<i64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let time = time.split('.').next()?;
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, min, sec) = (t.next()??, t.next()??, t.next()??);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || min > 59 || sec > 60 {
        return None;
    }
    Some(days_from_civil(y, m, day) * 86_400 + h * 3600 + min * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[test]
fn utc_parsing() {
    assert_eq!(parse_utc("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(parse_utc("2000-03-01T00:00:01.123Z"), Some(951_868_801));
    assert_eq!(parse_utc("2000-03-01T00:00:01"), None);
}
