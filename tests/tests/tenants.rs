//! Multi-tenant hosting: tenants added, changed and removed while the
//! server runs, each with its own certificate and quotas, and the other
//! tenants' clients noticing nothing.

use std::path::{Path, PathBuf};
use std::process::Output;

use waxwing_tests::client::{Mech, RawClient};
use waxwing_tests::server::Server;
use waxwing_xml::Element;

const A: &str = "[[vhost]]\ndomain = \"a.test\"\n";
const PASSWORD: &str = "tenant-secret";

fn ok(out: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn failed(out: &Output, what: &str) -> String {
    assert!(!out.status.success(), "{what} should have failed:\n{}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A certificate and key of the tenant's own, as a hosting customer brings.
fn own_certificate(dir: &Path, domain: &str) -> (PathBuf, PathBuf) {
    let key = rcgen::KeyPair::generate().expect("a key pair");
    let mut params = rcgen::CertificateParams::new(vec![domain.to_string()]).expect("certificate params");
    params.distinguished_name.push(rcgen::DnType::CommonName, domain);
    let cert = params.self_signed(&key).expect("a self-signed certificate");
    let (cert_path, key_path) = (dir.join(format!("{domain}.pem")), dir.join(format!("{domain}.key")));
    std::fs::write(&cert_path, cert.pem()).expect("writing the certificate");
    std::fs::write(&key_path, key.serialize_pem()).expect("writing the key");
    (cert_path, key_path)
}

/// Logs in to `domain` over STARTTLS, trusting only `cert`: the handshake
/// succeeds only if the server presents that certificate for that name (SNI).
async fn login_trusting(s: &Server, cert: &Path, user: &str) -> RawClient {
    let mut c = RawClient::connect_to(s.c2s_addr(), cert).await;
    c.authenticate_and_bind(user, PASSWORD, Mech::ScramSha256, Some("r")).await;
    c
}

fn ping(id: &str, to: &str) -> String {
    format!("<iq type='get' id='{id}' to='{to}'><ping xmlns='urn:xmpp:ping'/></iq>")
}

/// A client of another tenant keeps being served: a ping answered, and
/// nothing else (no stream error, no stray stanza) arrived meanwhile.
async fn still_served(c: &mut RawClient, n: usize) {
    let id = format!("alive-{n}");
    c.send(&ping(&id, "a.test")).await;
    let answer = c.next_where("the ping's answer", |e| e.name == "iq").await;
    assert_eq!(answer.attr("id"), Some(id.as_str()), "only the ping's answer arrives: {answer}");
    assert_eq!(answer.attr("type"), Some("result"), "{answer}");
}

#[tokio::test]
async fn a_tenant_is_added_serves_with_its_certificate_is_throttled_and_removed_while_others_notice_nothing() {
    let s = Server::start_with_users(A, &[("ann@a.test", PASSWORD)]);
    let _log = s.log_on_panic();
    let mut ann = login_trusting(&s, &s.cert_of("a.test"), "ann@a.test").await;
    still_served(&mut ann, 0).await;

    let (cert, key) = own_certificate(s.dir(), "b.test");
    let added = ok(
        &s.cli(&[
            "tenant",
            "add",
            "b.test",
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
            "--admin",
            "boss@b.test",
            "--quota",
            "session_stanzas_per_sec=2",
            "--quota",
            "session_stanza_burst=3",
            "--quota",
            "stanza_max_delay_ms=300",
            "--quota",
            "accounts=2",
        ]),
        "tenant add",
    );
    assert!(added.contains("b.test"), "{added}");
    still_served(&mut ann, 1).await;

    // Its accounts, within its quota of two.
    s.add_users(&[("bob@b.test", PASSWORD), ("boss@b.test", PASSWORD)]);
    let third = s.cli_with_stdin(&["user", "add", "--file", "-"], Some(&format!("eve@b.test {PASSWORD}\n")));
    let said = format!("{}{}", String::from_utf8_lossy(&third.stdout), String::from_utf8_lossy(&third.stderr));
    assert!(said.contains("quotas.accounts"), "the third account is refused, naming the quota: {said}");
    let (_, metrics) = waxwing_tests::http::get(s.metrics_addr(), "/metrics").await;
    assert!(metrics.contains("waxwing_tenant_accounts{tenant=\"b.test\"} 2"), "{metrics}");
    assert!(metrics.contains("waxwing_tenant_accounts_quota{tenant=\"b.test\"} 2"), "{metrics}");

    let mut bob = login_trusting(&s, &cert, "bob@b.test").await;
    let list = ok(&s.cli(&["tenant", "list"]), "tenant list");
    assert!(list.contains("a.test config sessions=1"), "{list}");
    assert!(list.contains("b.test runtime sessions=1"), "{list}");

    // A flood: every stanza is answered, the first few at once, the rest
    // after a delay or with <resource-constraint/>; nothing is lost.
    const FLOOD: usize = 30;
    let flood: String = (0..FLOOD).map(|i| ping(&format!("f{i}"), "b.test")).collect();
    bob.send(&flood).await;
    let mut results = 0;
    let mut refused = 0;
    for _ in 0..FLOOD {
        let el: Element = bob.next_where("an answer to the flood", |e| e.name == "iq").await;
        match el.attr("type") {
            Some("result") => results += 1,
            Some("error") => {
                let err = el.child("error", "jabber:client").unwrap_or_else(|| panic!("{el}"));
                assert_eq!(err.attr("type"), Some("wait"), "{el}");
                assert!(err.child("resource-constraint", "urn:ietf:params:xml:ns:xmpp-stanzas").is_some(), "{el}");
                refused += 1;
            }
            other => panic!("unexpected answer {other:?}: {el}"),
        }
    }
    assert!(results >= 3, "the burst passes: {results} results, {refused} refused");
    assert!(refused >= FLOOD / 2, "the flood is stopped: {results} results, {refused} refused");
    still_served(&mut ann, 2).await;

    let (_, metrics) = waxwing_tests::http::get(s.metrics_addr(), "/metrics").await;
    assert!(
        metrics.lines().any(|l| l.starts_with("waxwing_tenant_stanzas_refused_total{tenant=\"b.test\"}")),
        "refusals are visible per tenant:\n{metrics}"
    );

    // Removed: its sessions hear <host-gone/>, its data is gone, the other
    // tenant's client is served on.
    let removed = ok(&s.cli(&["tenant", "remove", "b.test"]), "tenant remove");
    assert!(removed.contains("1 sessions closed") && removed.contains("deleted"), "{removed}");
    bob.expect_stream_error("host-gone").await;
    still_served(&mut ann, 3).await;
    let users = ok(&s.cli(&["user", "list"]), "user list");
    assert!(!users.contains("b.test"), "{users}");
    let mut late = RawClient::connect(&s).await;
    late.send(&RawClient::header_for("b.test")).await;
    late.expect_stream_error("host-unknown").await;

    // Added back, it starts empty.
    ok(&s.cli(&["tenant", "add", "b.test"]), "tenant add again");
    let list = ok(&s.cli(&["user", "list", "--domain", "b.test"]), "user list b.test");
    assert!(list.trim().is_empty(), "the removed tenant's accounts are gone: {list}");
    still_served(&mut ann, 4).await;
    ann.close().await;
    s.assert_no_plugin_failures();
}

#[tokio::test]
async fn runtime_tenants_survive_a_restart_and_the_config_files_own_are_refused() {
    let mut s = Server::start(A);
    ok(&s.cli(&["tenant", "add", "c.test", "--quota", "accounts=5"]), "tenant add");
    s.add_user("carol@c.test", PASSWORD);

    let again = failed(&s.cli(&["tenant", "add", "c.test"]), "adding a served tenant");
    assert!(again.contains("served here already"), "{again}");
    let file_one = failed(&s.cli(&["tenant", "remove", "a.test"]), "removing the config file's tenant");
    assert!(file_one.contains("config file") && file_one.contains("waxwing reload"), "{file_one}");
    let unknown = failed(&s.cli(&["tenant", "remove", "nowhere.test"]), "removing an unknown tenant");
    assert!(unknown.contains("no tenant nowhere.test"), "{unknown}");
    let bad = failed(&s.cli(&["tenant", "add", "d.test", "--quota", "connections=0"]), "a zero connection quota");
    assert!(bad.contains("connections"), "{bad}");
    let bad = failed(&s.cli(&["tenant", "add", "d.test", "--quota", "bogus=1"]), "an unknown quota");
    assert!(bad.contains("bogus"), "{bad}");
    let bad = failed(&s.cli(&["tenant", "add", "not a domain"]), "a bad domain");
    assert!(bad.contains("not a valid domain"), "{bad}");

    let since = std::time::SystemTime::now();
    ok(&s.cli(&["restart"]), "restart");
    s.await_relaunch(since);
    let mut carol = login_trusting(&s, &s.cert_of("c.test"), "carol@c.test").await;
    carol.send(&ping("p", "c.test")).await;
    let answer = carol.next_where("the ping's answer", |e| e.name == "iq").await;
    assert_eq!(answer.attr("type"), Some("result"), "{answer}");

    // Changed: the session stays, the new quota holds.
    ok(&s.cli(&["tenant", "change", "c.test", "--quota", "accounts=1"]), "tenant change");
    let refused = s.cli_with_stdin(&["user", "add", "--file", "-"], Some(&format!("dan@c.test {PASSWORD}\n")));
    let said = format!("{}{}", String::from_utf8_lossy(&refused.stdout), String::from_utf8_lossy(&refused.stderr));
    assert!(said.contains("quotas.accounts"), "{said}");
    carol.send(&ping("q", "c.test")).await;
    let answer = carol.next_where("the ping's answer", |e| e.name == "iq").await;
    assert_eq!(answer.attr("type"), Some("result"), "the change kept the session: {answer}");

    // Exported, then removed.
    let export = s.dir().join("c.test.xml");
    let out =
        ok(&s.cli(&["tenant", "remove", "c.test", "--export", export.to_str().unwrap()]), "tenant remove --export");
    assert!(out.contains("exported 1 accounts"), "{out}");
    let xml = std::fs::read_to_string(&export).expect("the export file");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&export).expect("its metadata").permissions());
    assert_eq!(mode & 0o777, 0o600, "it holds SCRAM credentials: its owner's only");
    assert!(xml.contains("carol"), "{xml}");
    carol.expect_stream_error("host-gone").await;
}

#[tokio::test]
async fn a_reload_adds_and_removes_the_config_files_tenants() {
    let s = Server::start(A);
    let _log = s.log_on_panic();
    let config = std::fs::read_to_string(s.config_path()).expect("the config");
    std::fs::write(
        s.config_path(),
        format!("{config}\n[[vhost]]\ndomain = \"e.test\"\n[vhost.quotas]\naccounts = 1\n"),
    )
    .expect("adding a vhost");
    let said = ok(&s.cli(&["reload"]), "reload");
    assert!(said.contains("tenant e.test is served"), "{said}");
    s.add_user("erin@e.test", PASSWORD);
    let mut erin = login_trusting(&s, &s.cert_of("e.test"), "erin@e.test").await;
    let full = s.cli_with_stdin(&["user", "add", "--file", "-"], Some(&format!("fay@e.test {PASSWORD}\n")));
    let text = format!("{}{}", String::from_utf8_lossy(&full.stdout), String::from_utf8_lossy(&full.stderr));
    assert!(text.contains("quotas.accounts"), "the file's per-tenant quota holds: {text}");

    // A changed port needs a restart and is named; the log level applies now.
    let moved = config
        .replace("c2s = [\"127.0.0.1:0\"]", "c2s = [\"127.0.0.1:1\"]")
        .replace("log_level = \"debug\"", "log_level = \"info\"");
    assert_ne!(moved, config, "the harness's config has the lines this test edits");
    std::fs::write(s.config_path(), &moved).expect("removing the vhost, moving the port");
    let said = ok(&s.cli(&["reload"]), "reload");
    assert!(said.contains("tenant e.test is no longer served"), "{said}");
    assert!(said.contains("needs a restart to take effect: listen.c2s"), "{said}");
    assert!(said.contains("server.log_level: debug -> info"), "{said}");
    assert!(s.log_text().contains("needs a restart to take effect: listen.c2s"), "and the log says so");
    erin.expect_stream_error("host-gone").await;
}

/// What `echo` answers on `domain`: its version.
async fn echo_version(c: &mut RawClient, domain: &str) -> String {
    let r = c.iq("get", Some(domain), "<echo xmlns='urn:waxwing:test:echo'/>").await;
    r.child("echo", "urn:waxwing:test:echo")
        .and_then(|e| e.attr("version"))
        .unwrap_or_else(|| panic!("no echo answer: {r}"))
        .to_owned()
}

#[tokio::test]
async fn two_tenants_run_two_versions_of_a_plugin_and_a_swap_on_one_leaves_the_other() {
    let (v1, v2) = (waxwing_tests::server::built_plugin("echo_v1"), waxwing_tests::server::built_plugin("echo_v2"));
    let tenant = |domain: &str, echo: &Path| {
        format!(
            "domain = \"{domain}\"\n[[plugin]]\nname = \"echo\"\nsource = {:?}\n[[plugin]]\nname = \"ping\"\n",
            echo
        )
    };
    let s = Server::start(A);
    let _log = s.log_on_panic();
    let (f, g) = (s.dir().join("f.toml"), s.dir().join("g.toml"));
    std::fs::write(&f, tenant("f.test", &v1)).expect("f's table");
    std::fs::write(&g, tenant("g.test", &v2)).expect("g's table");
    ok(&s.cli(&["tenant", "add", "f.test", "--from-file", f.to_str().unwrap()]), "tenant add f");
    ok(&s.cli(&["tenant", "add", "g.test", "--from-file", g.to_str().unwrap()]), "tenant add g");
    s.add_users(&[("fred@f.test", PASSWORD), ("gus@g.test", PASSWORD)]);
    let mut fred = login_trusting(&s, &s.cert_of("f.test"), "fred@f.test").await;
    let mut gus = login_trusting(&s, &s.cert_of("g.test"), "gus@g.test").await;
    assert_eq!(echo_version(&mut fred, "f.test").await, "1.0.0");
    assert_eq!(echo_version(&mut gus, "g.test").await, "2.0.0");

    // f.test moves to 2.0.0 while fred stays connected; g.test is not touched.
    std::fs::write(&f, tenant("f.test", &v2)).expect("f's new table");
    let changed = ok(&s.cli(&["tenant", "change", "f.test", "--from-file", f.to_str().unwrap()]), "tenant change");
    assert!(changed.contains("echo 1.0.0 -> 2.0.0"), "{changed}");
    assert_eq!(echo_version(&mut fred, "f.test").await, "2.0.0");
    std::fs::write(&g, tenant("g.test", &v1)).expect("g's new table");
    ok(&s.cli(&["tenant", "change", "g.test", "--from-file", g.to_str().unwrap()]), "tenant change g");
    assert_eq!(echo_version(&mut gus, "g.test").await, "1.0.0");
    assert_eq!(echo_version(&mut fred, "f.test").await, "2.0.0", "g's swap left f's version");
    // A bad table changes nothing.
    std::fs::write(&g, "domain = \"g.test\"\n[[plugin]]\nname = \"echo\"\nsource = \"/nowhere/echo.wasm\"\n").unwrap();
    let bad = failed(&s.cli(&["tenant", "change", "g.test", "--from-file", g.to_str().unwrap()]), "a missing source");
    assert!(bad.contains("/nowhere/echo.wasm"), "{bad}");
    assert_eq!(echo_version(&mut gus, "g.test").await, "1.0.0");
}

#[tokio::test]
async fn a_tenants_stored_bytes_quota_refuses_the_write_past_it() {
    let s = Server::start(A);
    let _log = s.log_on_panic();
    ok(&s.cli(&["tenant", "add", "h.test", "--quota", "stored_bytes=20000"]), "tenant add");
    s.add_user("hal@h.test", PASSWORD);
    let mut hal = login_trusting(&s, &s.cert_of("h.test"), "hal@h.test").await;
    let store = |ns: &str| {
        format!("<query xmlns='jabber:iq:private'><data xmlns='urn:example:{ns}'>{}</data></query>", "x".repeat(8000))
    };
    for ns in ["one", "two"] {
        let r = hal.iq("set", None, &store(ns)).await;
        assert_eq!(r.attr("type"), Some("result"), "within the quota: {r}");
    }
    let r = hal.iq("set", None, &store("three")).await;
    assert_eq!(
        waxwing_tests::stanza_error_condition(&r).as_deref(),
        Some("resource-constraint"),
        "past the quota: {r}"
    );
    // Overwriting with less is always allowed, and makes room.
    let r = hal.iq("set", None, "<query xmlns='jabber:iq:private'><data xmlns='urn:example:one'/></query>").await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    let r = hal.iq("set", None, &store("three")).await;
    assert_eq!(r.attr("type"), Some("result"), "room was made: {r}");
    let (_, metrics) = waxwing_tests::http::get(s.metrics_addr(), "/metrics").await;
    let used = metrics
        .lines()
        .find_map(|l| l.strip_prefix("waxwing_tenant_stored_bytes{tenant=\"h.test\"} "))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("the tenant's stored bytes are in /metrics:\n{metrics}"));
    assert!((16_000..=20_000).contains(&used), "two 8 KB items and a little more: {used}");
    assert!(metrics.contains("waxwing_tenant_stored_bytes_quota{tenant=\"h.test\"} 20000"), "{metrics}");
    // The other tenant is not counted against it.
    s.add_user("amy@a.test", PASSWORD);
    let mut amy = login_trusting(&s, &s.cert_of("a.test"), "amy@a.test").await;
    for ns in ["one", "two", "three"] {
        let r = amy.iq("set", None, &store(ns)).await;
        assert_eq!(r.attr("type"), Some("result"), "a.test has no quota: {r}");
    }
}
