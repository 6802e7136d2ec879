//! XEP-0077 in-band registration through the `register` plugin, end to end:
//! the form and the account creation on an unauthenticated stream (after
//! STARTTLS, before SASL), logging in as the new account, password change,
//! cancellation (the kernel then closes the account's streams), the
//! operator's switches (registration off, XEP-0158 question CAPTCHA, the
//! kernel's per-address limit, a config the plugin refuses), and what bad
//! input gets.

use waxwing_tests::server::vhost_with_plugins;
use waxwing_tests::{Element, Mech, RawClient, Server, stanza_error_condition, stanza_error_type};

const NS_REGISTER: &str = "jabber:iq:register";
const NS_FEATURE: &str = "http://jabber.org/features/iq-register";
const NS_DATA: &str = "jabber:x:data";
const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
const NS_SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
const PW: &str = "register-pw-1";
const QUESTION: &str = "What colour is a clear daytime sky?";

/// A server with the register plugin (its `[vhost.plugin.config]` body in
/// `plugin_config`) and disco, plus `extra` top-level TOML. Registration is
/// opened unless the test says otherwise: the plugin's own default is closed.
/// The plugin table names its grants: without them a plugin gets what it
/// asks for except `accounts`, which only the operator grants.
fn config(plugin_config: &str, extra: &str) -> String {
    let open = if plugin_config.contains("allow_registration") { "" } else { "allow_registration = true" };
    format!(
        "{extra}\n{}[[vhost.plugin]]\nname = \"register\"\ngrants = [\"mem\", \"route\", \"timers\", \"accounts\"]\n\
         [vhost.plugin.config]\n{open}\n{plugin_config}\n",
        vhost_with_plugins(&[("disco", "")])
    )
}

fn start(plugin_config: &str, extra: &str, users: &[&str]) -> Server {
    Server::start_with_localhost_users(&config(plugin_config, extra), users, PW)
}

async fn login(s: &Server, user: &str, password: &str) -> RawClient {
    RawClient::login_with(s, &format!("{user}@localhost"), password, Mech::ScramSha256, None).await
}

/// SCRAM as `user` fails with `<not-authorized/>`.
async fn login_fails(s: &Server, user: &str, password: &str) {
    let mut c = RawClient::connect_tls(s).await;
    let failure = c.auth(Mech::ScramSha256, user, password).await.expect_err("the login should fail");
    assert!(failure.child("not-authorized", NS_SASL).is_some(), "{failure}");
}

fn query(inner: &str) -> String {
    format!("<query xmlns='{NS_REGISTER}'>{inner}</query>")
}

fn legacy(user: &str, password: &str) -> String {
    query(&format!("<username>{user}</username><password>{password}</password>"))
}

fn assert_result(r: &Element) {
    assert_eq!(r.attr("type"), Some("result"), "{r}");
}

/// An error reply with `condition` (and its `<text/>`, returned).
fn assert_error(r: &Element, condition: &str) -> String {
    assert_eq!(r.attr("type"), Some("error"), "{r}");
    assert_eq!(stanza_error_condition(r).as_deref(), Some(condition), "{r}");
    r.child("error", "jabber:client").and_then(|e| e.child("text", NS_STANZAS)).map(Element::text).unwrap_or_default()
}

fn form_of(reply: &Element) -> &Element {
    reply
        .child("query", NS_REGISTER)
        .and_then(|q| q.child("x", NS_DATA))
        .unwrap_or_else(|| panic!("no data form in {reply}"))
}

fn field<'a>(form: &'a Element, var: &str) -> Option<&'a Element> {
    form.elements().find(|f| f.name == "field" && f.attr("var") == Some(var))
}

fn field_value(form: &Element, var: &str) -> Option<String> {
    field(form, var).and_then(|f| f.child("value", NS_DATA)).map(Element::text)
}

/// A submitted CAPTCHA registration form.
fn captcha_submission(challenge: &str, answer: &str, user: &str, password: &str) -> String {
    query(&format!(
        "<x xmlns='{NS_DATA}' type='submit'>\
         <field var='FORM_TYPE'><value>urn:xmpp:captcha</value></field>\
         <field var='challenge'><value>{challenge}</value></field>\
         <field var='qa'><value>{answer}</value></field>\
         <field var='username'><value>{user}</value></field>\
         <field var='password'><value>{password}</value></field></x>"
    ))
}

#[tokio::test]
async fn registration_is_offered_before_authentication_and_in_disco() {
    let s = start("", "", &["alice"]);
    let _log = s.log_on_panic();
    let c = RawClient::connect_tls(&s).await;
    let features = c.features.clone().expect("features");
    assert!(features.child("register", NS_FEATURE).is_some(), "no <register/> before SASL: {features}");

    let mut alice = login(&s, "alice", PW).await;
    let info = alice.iq("get", Some("localhost"), &format!("<query xmlns='{NS_DISCO_INFO}'/>")).await;
    assert_result(&info);
    let vars: Vec<&str> = info
        .child("query", NS_DISCO_INFO)
        .map(|q| q.elements().filter(|e| e.name == "feature").filter_map(|e| e.attr("var")).collect())
        .unwrap_or_default();
    assert!(vars.contains(&NS_REGISTER), "{info}");
    // The stream feature is not a disco feature.
    assert!(!vars.iter().any(|v| v.starts_with('<')), "{info}");
}

#[tokio::test]
async fn form_offers_legacy_fields_and_a_data_form() {
    let s = start("instructions = \"Welcome to the test server.\"", "", &[]);
    let _log = s.log_on_panic();
    let mut c = RawClient::connect_tls(&s).await;
    let r = c.iq("get", None, &query("")).await;
    assert_result(&r);
    let q = r.child("query", NS_REGISTER).unwrap_or_else(|| panic!("no query: {r}"));
    assert_eq!(q.child("instructions", NS_REGISTER).map(Element::text).as_deref(), Some("Welcome to the test server."));
    assert!(q.child("username", NS_REGISTER).is_some() && q.child("password", NS_REGISTER).is_some(), "{r}");
    assert!(q.child("registered", NS_REGISTER).is_none(), "{r}");
    let form = form_of(&r);
    assert_eq!(form.attr("type"), Some("form"));
    assert_eq!(field_value(form, "FORM_TYPE").as_deref(), Some(NS_REGISTER));
    assert!(field(form, "username").is_some(), "{r}");
    assert_eq!(field(form, "password").and_then(|f| f.attr("type")), Some("text-private"), "{r}");
    assert!(field(form, "qa").is_none(), "no CAPTCHA configured: {r}");
}

#[tokio::test]
async fn register_log_in_change_password_and_cancel() {
    let s = start("", "", &[]);
    let _log = s.log_on_panic();

    // Registration with the data form, on a stream that then logs in as the new account.
    let mut c = RawClient::connect_tls(&s).await;
    let submit = query(&format!(
        "<x xmlns='{NS_DATA}' type='submit'><field var='FORM_TYPE'><value>{NS_REGISTER}</value></field>\
         <field var='username'><value>romeo</value></field><field var='password'><value>{PW}</value></field></x>"
    ));
    assert_result(&c.iq("set", None, &submit).await);
    let jid = c.authenticate_and_bind("romeo@localhost", PW, Mech::ScramSha256, Some("phone")).await;
    assert_eq!(jid, "romeo@localhost/phone");

    // Registered: the server says so and under which name, with or without `to`.
    for to in [None, Some("localhost"), Some("romeo@localhost")] {
        let r = c.iq("get", to, &query("")).await;
        assert_result(&r);
        let q = r.child("query", NS_REGISTER).unwrap_or_else(|| panic!("no query: {r}"));
        assert!(q.child("registered", NS_REGISTER).is_some(), "{r}");
        assert_eq!(q.child("username", NS_REGISTER).map(Element::text).as_deref(), Some("romeo"), "{r}");
    }

    // Password change: the new one works, the old one no longer does.
    let new_pw = "a-new-password";
    assert_result(&c.iq("set", None, &legacy("romeo", new_pw)).await);
    let mut laptop = login(&s, "romeo", new_pw).await;
    login_fails(&s, "romeo", PW).await;

    // Cancel: the result comes first, then every stream of the account ends.
    assert_result(&c.iq("set", None, &query("<remove/>")).await);
    c.expect_stream_error("not-authorized").await;
    laptop.expect_stream_error("not-authorized").await;
    login_fails(&s, "romeo", new_pw).await;

    // The name is free again.
    let mut again = RawClient::connect_tls(&s).await;
    assert_result(&again.iq("set", None, &legacy("romeo", PW)).await);
}

#[tokio::test]
async fn bad_registrations_get_the_right_error_and_the_stream_goes_on() {
    let s = start("min_password_length = 8", "", &["taken"]);
    let _log = s.log_on_panic();
    let mut c = RawClient::connect_tls(&s).await;

    assert_error(&c.iq("set", None, &legacy("taken", "long-enough-pw")).await, "conflict");
    // Case does not make a new name.
    assert_error(&c.iq("set", None, &legacy("TAKEN", "long-enough-pw")).await, "conflict");
    for bad in ["a@b", "two words", "slash/y", "colon:y"] {
        assert_error(&c.iq("set", None, &legacy(bad, "long-enough-pw")).await, "jid-malformed");
    }
    let text = assert_error(&c.iq("set", None, &legacy("shorty", "1234567")).await, "not-acceptable");
    assert!(text.contains("at least 8"), "the text says why: {text:?}");
    assert_error(&c.iq("set", None, &query("<username>nopass</username>")).await, "not-acceptable");
    assert_error(&c.iq("set", None, &query("<password>long-enough-pw</password>")).await, "not-acceptable");
    assert_error(&c.iq("set", None, &query("")).await, "not-acceptable");
    assert_error(&c.iq("set", None, &query("<junk xmlns='urn:x'>x</junk><more/>")).await, "not-acceptable");

    // Malformed: ambiguous fields, a form that is not a submission, a
    // foreign form, a field without a name, remove mixed with fields.
    for inner in [
        "<username>a</username><username>b</username><password>long-enough-pw</password>".to_string(),
        format!("<x xmlns='{NS_DATA}' type='form'><field var='username'><value>u</value></field></x>"),
        format!("<x xmlns='{NS_DATA}' type='submit'><field var='FORM_TYPE'><value>urn:other</value></field></x>"),
        format!("<x xmlns='{NS_DATA}' type='submit'><field><value>u</value></field></x>"),
        format!("<x xmlns='{NS_DATA}'/>"),
        "<remove/><username>taken</username>".to_string(),
    ] {
        assert_error(&c.iq("set", None, &query(&inner)).await, "bad-request");
    }
    // An iq carrying more than the query is refused by the kernel before any plugin.
    c.send(&format!(
        "<iq type='set' id='two-children'>{}<junk xmlns='urn:x'/></iq>",
        legacy("extra", "long-enough-pw")
    ))
    .await;
    let r = c.next_where("the answer to two-children", |e| e.attr("id") == Some("two-children")).await;
    assert_error(&r, "bad-request");
    // Cancelling needs a logged-in account.
    assert_error(&c.iq("set", None, &query("<remove/>")).await, "not-authorized");

    // Nothing above created an account, and the same stream still registers.
    login_fails(&s, "shorty", "1234567").await;
    login_fails(&s, "nopass", "long-enough-pw").await;
    login_fails(&s, "extra", "long-enough-pw").await;
    assert_result(&c.iq("set", None, &legacy("survivor", "long-enough-pw")).await);
    drop(login(&s, "survivor", "long-enough-pw").await);
    login_fails(&s, "taken", "long-enough-pw").await;
    drop(login(&s, "taken", PW).await);
}

#[tokio::test]
async fn an_account_manages_only_itself() {
    let s = start("", "", &["alice", "bob"]);
    let _log = s.log_on_panic();
    let mut alice = login(&s, "alice", PW).await;

    let r = alice.iq("set", Some("bob@localhost"), &legacy("bob", "stolen-password")).await;
    assert_error(&r, "forbidden");
    assert_error(&alice.iq("set", Some("bob@localhost"), &query("<remove/>")).await, "forbidden");
    assert_error(&alice.iq("get", Some("bob@localhost"), &query("")).await, "forbidden");
    assert_error(&alice.iq("set", None, &legacy("bob", "stolen-password")).await, "not-allowed");
    // A password change names the account and the password (XEP-0077 §3.3).
    assert_error(&alice.iq("set", None, &query("<password>new-password</password>")).await, "bad-request");
    assert_error(&alice.iq("set", None, &query("<username>alice</username>")).await, "bad-request");
    let text = assert_error(&alice.iq("set", None, &legacy("alice", "short")).await, "not-acceptable");
    assert!(text.contains("at least 6"), "{text:?}");

    // Bob is untouched; alice's own session goes on.
    drop(login(&s, "bob", PW).await);
    let r = alice.iq("get", None, &query("")).await;
    assert_result(&r);
    alice.close().await;
}

#[tokio::test]
async fn registration_switched_off_still_lets_accounts_change_passwords() {
    let s = start("allow_registration = false", "", &["alice"]);
    let _log = s.log_on_panic();
    let mut c = RawClient::connect_tls(&s).await;
    // A closed server does not offer registration on the stream...
    let features = c.features.clone().expect("features");
    assert!(features.child("register", NS_FEATURE).is_none(), "<register/> offered while closed: {features}");
    // ...and refuses it, saying why, to a client that asks anyway.
    let text = assert_error(&c.iq("get", None, &query("")).await, "not-allowed");
    assert!(!text.is_empty(), "the refusal says why");
    let text = assert_error(&c.iq("set", None, &legacy("newbie", PW)).await, "not-allowed");
    assert!(!text.is_empty(), "the refusal says why");
    login_fails(&s, "newbie", PW).await;

    let mut alice = login(&s, "alice", PW).await;
    assert_result(&alice.iq("set", None, &legacy("alice", "changed-password")).await);
    drop(login(&s, "alice", "changed-password").await);
    login_fails(&s, "alice", PW).await;
}

#[tokio::test]
async fn captcha_questions_guard_registration() {
    let s = start(&format!("captcha = [{{question = {QUESTION:?}, answer = [\"blue\", \"light blue\"]}}]"), "", &[]);
    let _log = s.log_on_panic();
    let mut c = RawClient::connect_tls(&s).await;

    let id = c.new_id("reg");
    c.send(&format!("<iq type='get' id='{id}'>{}</iq>", query(""))).await;
    let r = c.next_where("the form", |e| e.attr("id") == Some(id.as_str())).await;
    assert_result(&r);
    let form = form_of(&r);
    assert_eq!(field_value(form, "FORM_TYPE").as_deref(), Some("urn:xmpp:captcha"), "{r}");
    assert_eq!(field_value(form, "sid").as_deref(), Some(id.as_str()), "{r}");
    assert_eq!(field(form, "qa").and_then(|f| f.attr("label")), Some(QUESTION), "{r}");
    let challenge = field_value(form, "challenge").unwrap_or_else(|| panic!("no challenge id: {r}"));
    assert!(field(form, "username").is_some() && field(form, "password").is_some(), "{r}");

    // A wrong answer fails and uses the challenge up: the right one cannot follow it.
    let wrong = captcha_submission(&challenge, "green", "robot", PW);
    assert_error(&c.iq("set", None, &wrong).await, "not-acceptable");
    let late = captcha_submission(&challenge, "blue", "robot", PW);
    assert_error(&c.iq("set", None, &late).await, "not-acceptable");
    login_fails(&s, "robot", PW).await;

    // No answer, a made-up challenge, or the legacy fields alone do not pass either.
    assert_error(&c.iq("set", None, &legacy("robot", PW)).await, "not-acceptable");
    let made_up = captcha_submission(&"0".repeat(32), "blue", "robot", PW);
    assert_error(&c.iq("set", None, &made_up).await, "not-acceptable");
    let garbage = captcha_submission("&lt;not an id&gt;", "blue", "robot", PW);
    assert_error(&c.iq("set", None, &garbage).await, "not-acceptable");

    // A fresh form, answered right (case and spacing aside), registers.
    let r = c.iq("get", None, &query("")).await;
    let challenge = field_value(form_of(&r), "challenge").unwrap_or_else(|| panic!("no challenge id: {r}"));
    let right = captcha_submission(&challenge, "  Light  BLUE ", "human", PW);
    assert_result(&c.iq("set", None, &right).await);
    drop(login(&s, "human", PW).await);
}

#[tokio::test]
async fn an_unanswered_captcha_expires() {
    let config = format!("captcha_lifetime_seconds = 1\ncaptcha = [{{question = {QUESTION:?}, answer = \"blue\"}}]");
    let s = start(&config, "", &[]);
    let _log = s.log_on_panic();
    let mut c = RawClient::connect_tls(&s).await;
    let r = c.iq("get", None, &query("")).await;
    let challenge = field_value(form_of(&r), "challenge").unwrap_or_else(|| panic!("no challenge id: {r}"));
    // Waiting out the challenge's lifetime is the point of this test.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let text =
        assert_error(&c.iq("set", None, &captcha_submission(&challenge, "blue", "slow", PW)).await, "not-acceptable");
    assert!(text.contains("expired"), "{text:?}");
    login_fails(&s, "slow", PW).await;
}

#[tokio::test]
async fn the_kernel_limits_registrations_per_address() {
    let s = start("", "[limits]\nregistrations_per_ip_per_hour = 2\n", &[]);
    let _log = s.log_on_panic();
    let mut c = RawClient::connect_tls(&s).await;
    // Refusals do not count towards the limit.
    assert_error(&c.iq("set", None, &legacy("first", "x")).await, "not-acceptable");
    assert_result(&c.iq("set", None, &legacy("first", PW)).await);
    let mut other = RawClient::connect_tls(&s).await;
    assert_result(&other.iq("set", None, &legacy("second", PW)).await);
    let r = other.iq("set", None, &legacy("third", PW)).await;
    assert_error(&r, "resource-constraint");
    assert_eq!(stanza_error_type(&r).as_deref(), Some("wait"), "{r}");
    let r = c.iq("set", None, &legacy("fourth", PW)).await;
    assert_error(&r, "resource-constraint");
    login_fails(&s, "third", PW).await;
    drop(login(&s, "second", PW).await);
}

#[tokio::test]
async fn a_mistyped_config_key_refuses_to_start_naming_it() {
    let s = Server::configure(&config("alow_registration = false", ""));
    let out = s.cli(&["serve"]);
    assert!(!out.status.success(), "the server started with a mistyped key");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("alow_registration") && said.contains("allow_registration"), "{said}");
}
