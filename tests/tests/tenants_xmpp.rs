//! Tenants run by the server's operators over XMPP (XEP-0050 commands of
//! the admin plugin, `urn:waxwing:admin#…-tenant`): an operator adds a
//! tenant whose accounts then log in, changes its table (its new account
//! quota holds, its session stays), lists the tenants, and removes one
//! (its clients hear `<host-gone/>`), including the tenant it is talking
//! to; a host admin who is no operator is refused those commands and
//! restart; a bad domain is refused with a note naming the field, and a
//! config file's tenant with the kernel's reason.

use std::path::Path;

use waxwing_tests::adhoc::{COMMANDS, Fields, cells, completed, execute_on, run_on, session, step_on};
use waxwing_tests::{Element, Mech, RawClient, Server, stanza_error_condition};

const OURS: &str = "urn:waxwing:admin";
const ADMIN: &str = "http://jabber.org/protocol/admin";
const PW: &str = "tenant-xmpp-pw";
const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";

/// root is the server's operator; the kernel lets only a host's admins run
/// its commands, so root is also one of a.test's admins, beside boss, who
/// is no operator.
// root is no admin of a.test: being an operator makes it one of every vhost.
const CONFIG: &str = "[[vhost]]\ndomain = \"a.test\"\nadmins = [\"boss@a.test\"]\n";
const OPERATORS: &str = "operators = [\"root@a.test\"]";

fn start() -> Server {
    let s = Server::start_with_server_toml(OPERATORS, CONFIG);
    s.add_users(&[("root@a.test", PW), ("boss@a.test", PW)]);
    s
}

/// Logs in over STARTTLS, trusting the certificate the server made for the tenant.
async fn login(s: &Server, cert: &Path, user: &str) -> RawClient {
    let mut c = RawClient::connect_to(s.c2s_addr(), cert).await;
    c.authenticate_and_bind(user, PW, Mech::ScramSha256, Some("r")).await;
    c
}

fn node(name: &str) -> String {
    format!("{OURS}#{name}")
}

fn error_text(r: &Element) -> String {
    r.child("error", "jabber:client")
        .and_then(|e| e.child("text", STANZAS))
        .map(Element::text)
        .unwrap_or_else(|| panic!("no error text: {r}"))
}

async fn pinged(c: &mut RawClient, to: &str) {
    let r = c.iq("get", Some(to), "<ping xmlns='urn:xmpp:ping'/>").await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
}

/// Removes `domain` through the command on `host`, confirming it; the answer.
async fn remove(c: &mut RawClient, host: &str, domain: &str) -> Element {
    let remove = node("remove-tenant");
    let first = execute_on(c, host, &remove).await;
    let sid = session(&first);
    let confirm = step_on(c, host, &remove, &sid, "next", &[("domain", &[domain]), ("keep-data", &["0"])]).await;
    assert!(
        confirm.child("command", COMMANDS).is_some_and(|c| c.attr("status") == Some("executing")),
        "the removal asks to be confirmed: {confirm}"
    );
    step_on(c, host, &remove, &sid, "complete", &[("confirm", &["1"])]).await
}

/// Replaces `domain`'s table with `fields` through the command on a.test; the answer.
async fn change(c: &mut RawClient, domain: &str, fields: Fields<'_>) -> Element {
    let change = node("change-tenant");
    let first = execute_on(c, "a.test", &change).await;
    let sid = session(&first);
    let form = step_on(c, "a.test", &change, &sid, "next", &[("domain", &[domain])]).await;
    assert!(
        form.child("command", COMMANDS).is_some_and(|c| c.attr("status") == Some("executing")),
        "the table's form follows the domain: {form}"
    );
    step_on(c, "a.test", &change, &sid, "complete", fields).await
}

/// What `waxwing user add` said when adding `jid`.
fn user_add(s: &Server, jid: &str) -> String {
    let out = s.cli_with_stdin(&["user", "add", "--file", "-"], Some(&format!("{jid} {PW}\n")));
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[tokio::test]
async fn an_operator_adds_lists_and_removes_a_tenant_and_a_host_admin_may_not() {
    let s = start();
    let _log = s.log_on_panic();
    let a_cert = s.cert_of("a.test");
    let mut root = login(&s, &a_cert, "root@a.test").await;
    let mut boss = login(&s, &a_cert, "boss@a.test").await;

    // boss runs a.test's commands but none of the server's.
    let add_fields: Fields = &[("domain", &["b.test"]), ("admins", &["carl@b.test"]), ("accounts", &["5"])];
    let refused_ones: [(String, Fields); 5] = [
        (node("add-tenant"), add_fields),
        (node("change-tenant"), &[("domain", &["a.test"])]),
        (node("remove-tenant"), &[("domain", &["a.test"])]),
        (node("list-tenants"), &[]),
        (format!("{ADMIN}#restart"), &[("delay", &["0"])]),
    ];
    for (n, fields) in refused_ones {
        let refused = run_on(&mut boss, "a.test", &n, fields).await;
        assert_eq!(stanza_error_condition(&refused).as_deref(), Some("forbidden"), "{n}: {refused}");
        assert!(error_text(&refused).contains("operators"), "{refused}");
    }
    let count = run_on(&mut boss, "a.test", &format!("{ADMIN}#get-registered-users-num"), &[]).await;
    completed(&count);

    let added = run_on(&mut root, "a.test", &node("add-tenant"), add_fields).await;
    assert!(completed(&added).contains("tenant b.test added"), "{added}");
    s.add_user("bob@b.test", PW);
    let mut bob = login(&s, &s.cert_of("b.test"), "bob@b.test").await;
    pinged(&mut bob, "b.test").await;

    // Changed: its whole table replaced, one account at most now; bob's
    // session stays.
    let changed = change(&mut root, "b.test", &[("accounts", &["1"])]).await;
    assert!(completed(&changed).contains("tenant b.test changed"), "{changed}");
    let said = user_add(&s, "carl@b.test");
    assert!(said.contains("quotas.accounts"), "the second account is refused, naming the quota: {said}");
    pinged(&mut bob, "b.test").await;

    let listed = run_on(&mut root, "a.test", &node("list-tenants"), &[]).await;
    assert_eq!(cells(&listed, "domain"), ["a.test", "b.test"], "{listed}");
    assert_eq!(cells(&listed, "source"), ["config", "runtime"], "{listed}");
    assert_eq!(cells(&listed, "sessions"), ["2", "1"], "{listed}");

    // boss cannot change or remove it either, even knowing its name.
    for n in ["change-tenant", "remove-tenant"] {
        let refused = run_on(&mut boss, "a.test", &node(n), &[("domain", &["b.test"])]).await;
        assert_eq!(stanza_error_condition(&refused).as_deref(), Some("forbidden"), "{n}: {refused}");
    }

    let done = remove(&mut root, "a.test", "b.test").await;
    assert!(completed(&done).contains("removed tenant b.test (1 sessions closed)"), "{done}");
    bob.expect_stream_error("host-gone").await;
    let listed = run_on(&mut root, "a.test", &node("list-tenants"), &[]).await;
    assert_eq!(cells(&listed, "domain"), ["a.test"], "{listed}");
    pinged(&mut boss, "a.test").await;
}

#[tokio::test]
async fn a_bad_domain_is_refused_and_the_server_serves_on() {
    let s = start();
    let _log = s.log_on_panic();
    let mut root = login(&s, &s.cert_of("a.test"), "root@a.test").await;
    let cases: [(Fields, &str); 3] = [
        (&[("domain", &["not a domain!"])], "domain"),
        (&[("domain", &["x@b.test"])], "domain"),
        (&[("domain", &["b.test"]), ("connections", &["many"])], "connections"),
    ];
    for (fields, field) in cases {
        let bad = run_on(&mut root, "a.test", &node("add-tenant"), fields).await;
        assert_eq!(stanza_error_condition(&bad).as_deref(), Some("bad-request"), "{bad}");
        assert!(error_text(&bad).starts_with(&format!("{field}:")), "{bad}");
    }
    // What the kernel refuses comes back as its own words.
    let file_one = remove(&mut root, "a.test", "a.test").await;
    assert_eq!(stanza_error_condition(&file_one).as_deref(), Some("bad-request"), "{file_one}");
    assert!(error_text(&file_one).contains("config file"), "{file_one}");
    let file_one = change(&mut root, "a.test", &[("accounts", &["1"])]).await;
    assert_eq!(stanza_error_condition(&file_one).as_deref(), Some("bad-request"), "{file_one}");
    assert!(error_text(&file_one).contains("config file"), "{file_one}");
    assert!(!user_add(&s, "carl@a.test").contains("quotas.accounts"), "a.test's quota is unchanged");

    pinged(&mut root, "a.test").await;
    let listed = run_on(&mut root, "a.test", &node("list-tenants"), &[]).await;
    assert_eq!(cells(&listed, "domain"), ["a.test"], "nothing was added: {listed}");
}

/// The command that removes a tenant may run in that tenant's own admin
/// plugin: its plugins are retired while the call finishes, and the answer
/// still arrives.
#[tokio::test]
async fn a_tenant_is_removed_from_its_own_admin_plugin() {
    let s = start();
    let _log = s.log_on_panic();
    let mut root = login(&s, &s.cert_of("a.test"), "root@a.test").await;
    let added = run_on(&mut root, "a.test", &node("add-tenant"), &[("domain", &["c.test"])]).await;
    completed(&added);
    let done = remove(&mut root, "c.test", "c.test").await;
    assert!(completed(&done).contains("removed tenant c.test"), "{done}");
    pinged(&mut root, "a.test").await;
    let listed = run_on(&mut root, "a.test", &node("list-tenants"), &[]).await;
    assert_eq!(cells(&listed, "domain"), ["a.test"], "{listed}");
}
