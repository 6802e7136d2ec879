//! The plugin as the kernel drives it, on the SDK's fake host: what it
//! declares, what `init` offers, and the flows with their storage (accounts,
//! CAPTCHA challenges in `mem`, their expiry timers).

use waxwing_sdk::forms::DataForm;
use waxwing_sdk::testing::{self, FakeHost};

use super::*;
use crate::settings::tests::config;

fn load(overrides: &str) -> Ready {
    testing::init::<Register>(&config(overrides)).unwrap()
}

fn iq(xml: &str) -> Iq {
    Iq(Stanza::from_xml(xml, Address::Host, "example.org").unwrap())
}

/// An iq from a stream that has not authenticated: no `from`.
fn anonymous(iq_type: &str, inner: &str) -> Handled {
    Register::on_iq(iq(&format!("<iq type='{iq_type}' id='r1'><query xmlns='{NS_REGISTER}'>{inner}</query></iq>")))
}

fn from_juliet(iq_type: &str, inner: &str) -> Handled {
    Register::on_iq(iq(&format!(
        "<iq type='{iq_type}' id='j1' from='juliet@example.org/balcony'><query xmlns='{NS_REGISTER}'>{inner}</query></iq>"
    )))
}

fn legacy(user: &str, password: &str) -> String {
    format!("<username>{user}</username><password>{password}</password>")
}

fn condition(handled: Handled) -> Condition {
    handled.expect_err("an error").condition
}

fn reply(handled: Handled) -> Element {
    match handled {
        Ok(Outcome::Reply(el)) => el,
        other => panic!("expected a reply, got {other:?}"),
    }
}

#[test]
fn pre_auth_iqs_come_only_through_the_host_route() {
    let d = Register::describe().into_wit();
    let pre_auth: Vec<Address> = d.routes.iter().filter(|r| r.unauthenticated).map(|r| r.to).collect();
    assert_eq!(pre_auth, [Address::Host]);
    assert_eq!(d.routes.len(), 2);
    assert!(d.capabilities.contains(&Capability::Accounts));
    assert_eq!(d.features, [NS_REGISTER], "the stream feature is not a disco feature");
}

#[test]
fn the_stream_feature_is_offered_only_while_registration_is_open() {
    assert!(load("").stream_features().is_empty());
    let open = load(r#""allow_registration": true"#);
    let [feature] = open.stream_features() else { panic!("one feature: {open:?}") };
    assert_eq!((feature.xml.as_str(), feature.stage), (STREAM_FEATURE, Stage::BeforeAuth));
    assert!(testing::init::<Register>(&config(r#""instructions": """#)).is_err());
}

#[test]
fn an_open_server_registers_a_new_account() {
    load(r#""allow_registration": true"#);
    let form = reply(anonymous("get", ""));
    let query = form.child("query", NS_REGISTER).expect("a query");
    assert!(query.child("username", NS_REGISTER).is_some(), "{form:?}");
    reply(anonymous("set", &legacy("romeo", "long-password")));
    assert_eq!(FakeHost::account_password("romeo").as_deref(), Some("long-password"));
    assert_eq!(condition(anonymous("set", &legacy("Romeo", "long-password"))), Condition::Conflict);
    assert_eq!(condition(anonymous("set", &legacy("mercutio", "short"))), Condition::NotAcceptable);
    assert_eq!(condition(anonymous("set", "<remove/>")), Condition::NotAuthorized);
}

#[test]
fn a_closed_server_refuses_strangers_but_serves_its_accounts() {
    load("");
    FakeHost::add_account("juliet", "old-password");
    assert_eq!(condition(anonymous("get", "")), Condition::NotAllowed);
    assert_eq!(condition(anonymous("set", &legacy("romeo", "long-password"))), Condition::NotAllowed);
    assert_eq!(FakeHost::account_password("romeo"), None);

    reply(from_juliet("set", &legacy("juliet", "new-password")));
    assert_eq!(FakeHost::account_password("juliet").as_deref(), Some("new-password"));
    assert_eq!(condition(from_juliet("set", &legacy("romeo", "new-password"))), Condition::NotAllowed);
}

#[test]
fn cancelling_sends_the_result_before_the_account_goes() {
    load("");
    FakeHost::add_account("juliet", "pw-of-juliet");
    assert_eq!(from_juliet("set", "<remove/>"), Ok(Outcome::Done));
    assert_eq!(FakeHost::account_password("juliet"), None);
    let sent = FakeHost::take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].attr("type"), sent[0].attr("id")), (Some("result"), Some("j1")));
}

#[test]
fn without_the_accounts_grant_account_changes_fail_inside() {
    load(r#""allow_registration": true"#);
    FakeHost::revoke(Capability::Accounts);
    assert_eq!(condition(anonymous("set", &legacy("romeo", "long-password"))), Condition::InternalServerError);
    assert_eq!(condition(from_juliet("set", &legacy("juliet", "new-password"))), Condition::InternalServerError);
}

#[test]
fn a_captcha_challenge_is_used_once_and_expires() {
    load(
        r#""allow_registration": true, "captcha_lifetime_seconds": 60,
           "captcha": [{"question": "Colour of the sky?", "answer": "blue"}]"#,
    );
    let challenge = || {
        let form = reply(anonymous("get", ""));
        let query = form.child("query", NS_REGISTER).expect("a query");
        let form = DataForm::find_in(query).expect("a form").expect("a readable form");
        form.value("challenge").expect("a challenge").to_string()
    };
    let answer = |id: &str, answer: &str, user: &str| {
        anonymous(
            "set",
            &format!(
                "<x xmlns='jabber:x:data' type='submit'>\
                 <field var='FORM_TYPE'><value>urn:xmpp:captcha</value></field>\
                 <field var='challenge'><value>{id}</value></field><field var='qa'><value>{answer}</value></field>\
                 <field var='username'><value>{user}</value></field>\
                 <field var='password'><value>long-password</value></field></x>"
            ),
        )
    };

    let first = challenge();
    assert_eq!(FakeHost::mem_entries().len(), 1);
    assert_eq!(condition(answer(&first, "green", "robot")), Condition::NotAcceptable);
    assert_eq!(condition(answer(&first, "blue", "robot")), Condition::NotAcceptable, "used up");
    assert_eq!(condition(anonymous("set", &legacy("robot", "long-password"))), Condition::NotAcceptable);
    reply(answer(&challenge(), " BLUE ", "human"));
    assert!(FakeHost::account_password("human").is_some() && FakeHost::account_password("robot").is_none());

    // An unanswered challenge is forgotten when its timer fires.
    challenge();
    assert_eq!(FakeHost::mem_entries().len(), 1);
    for event in FakeHost::advance(60_000) {
        Register::on_event(event).unwrap();
    }
    assert!(FakeHost::mem_entries().is_empty());
}
