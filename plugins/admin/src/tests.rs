//! The commands on the SDK's fake host, as an admin's client runs them.

use waxwing_sdk::adhoc;
use waxwing_sdk::testing::{self, FakeHost};

use super::*;

const BOSS: &str = "boss@example.org/desk";

pub(crate) fn load() {
    FakeHost::set_admins(&["boss@example.org"]);
    testing::init::<Admin>("{}").unwrap();
}

pub(crate) fn command(inner: &str) -> Result<Element, StanzaError> {
    let xml = format!("<iq type='set' id='a1' from='{BOSS}' to='example.org'>{inner}</iq>");
    match Admin::on_iq(Iq(Stanza::from_xml(&xml, Address::Host, "example.org").unwrap())) {
        Ok(Outcome::Reply(r)) => Ok(r.child("command", adhoc::NS).cloned().unwrap()),
        Ok(other) => panic!("{other:?}"),
        Err(e) => Err(e),
    }
}

/// Runs a one-form command: execute, then complete with `fields`.
fn run(name: &str, fields: &[(&str, &[&str])]) -> Result<Element, StanzaError> {
    run_node(&format!("{NS}#{name}"), fields)
}

/// Executes the command at `node`, then completes its form with `fields`.
pub(crate) fn run_node(node: &str, fields: &[(&str, &[&str])]) -> Result<Element, StanzaError> {
    let first = command(&format!("<command xmlns='{}' node='{node}' action='execute'/>", adhoc::NS))?;
    if first.attr("status") == Some("completed") {
        return Ok(first);
    }
    let sid = first.attr("sessionid").unwrap().to_string();
    submit(node, &sid, "complete", fields)
}

/// Submits `fields` to the session `sid` of the command at `node`.
pub(crate) fn submit(node: &str, sid: &str, action: &str, fields: &[(&str, &[&str])]) -> Result<Element, StanzaError> {
    let mut submitted = DataForm::submit().with_form_type(NS);
    for (var, values) in fields {
        submitted = submitted.field(Field::new(var, waxwing_sdk::forms::FieldType::TextMulti).values(values));
    }
    command(&format!(
        "<command xmlns='{}' node='{node}' sessionid='{sid}' action='{action}'>{}</command>",
        adhoc::NS,
        submitted.to_element().to_xml()
    ))
}

pub(crate) fn value(el: &Element, var: &str) -> Vec<String> {
    DataForm::find_in(el).unwrap().unwrap().values(var).to_vec()
}

#[test]
fn every_command_is_declared_for_admins() {
    load();
    let nodes: Vec<String> = FakeHost::commands().into_iter().map(|(n, _)| n).collect();
    assert_eq!(nodes.len(), COMMANDS.len() + WAXWING_COMMANDS.len());
    assert!(nodes.contains(&format!("{NS}#add-user")));
    assert!(nodes.contains(&format!("{}#configure-plugin", plugins::NS)));
    assert_eq!(adhoc::visible_to(BOSS).len(), nodes.len());
    assert!(adhoc::visible_to("joe@example.org/pc").is_empty());
}

#[test]
fn users_are_added_counted_listed_repassworded_and_deleted() {
    load();
    let done =
        run("add-user", &[("accountjid", &["ann@example.org"]), ("password", &["pw1"]), ("password-verify", &["pw1"])])
            .unwrap();
    assert_eq!(done.attr("status"), Some("completed"));
    assert_eq!(FakeHost::account_password("ann").as_deref(), Some("pw1"));
    let mismatch =
        run("add-user", &[("accountjid", &["bo@example.org"]), ("password", &["a"]), ("password-verify", &["b"])]);
    assert_eq!(mismatch.unwrap_err().condition, Condition::NotAcceptable);
    let elsewhere =
        run("add-user", &[("accountjid", &["x@other.example"]), ("password", &["a"]), ("password-verify", &["a"])]);
    assert_eq!(elsewhere.unwrap_err().condition, Condition::BadRequest);
    let twice =
        run("add-user", &[("accountjid", &["ann@example.org"]), ("password", &["a"]), ("password-verify", &["a"])]);
    assert_eq!(twice.unwrap_err().condition, Condition::NotAcceptable);

    assert_eq!(value(&run("get-registered-users-num", &[]).unwrap(), "registeredusersnum"), ["1"]);
    assert_eq!(value(&run("get-registered-users-list", &[]).unwrap(), "registereduserjids"), ["ann@example.org"]);
    run("change-user-password", &[("accountjid", &["ann@example.org"]), ("password", &["pw2"])]).unwrap();
    assert_eq!(FakeHost::account_password("ann").as_deref(), Some("pw2"));
    let deleted = run("delete-user", &[("accountjids", &["ann@example.org", "ghost@example.org"])]).unwrap();
    let notes: Vec<String> =
        deleted.elements().filter(|e| e.name == "note").map(|n| n.attr("type").unwrap().to_string()).collect();
    assert_eq!(notes, ["info", "error"], "{deleted}");
    assert_eq!(FakeHost::account_password("ann"), None);
}

#[test]
fn online_users_are_counted_ended_and_told() {
    load();
    FakeHost::add_session("ann@example.org/a", Some("<presence/>"));
    FakeHost::add_session("ann@example.org/b", Some("<presence/>"));
    FakeHost::add_session("bo@example.org/c", None);
    assert_eq!(value(&run("get-online-users-num", &[]).unwrap(), "onlineusersnum"), ["2"]);
    assert_eq!(
        value(&run("get-online-users-list", &[]).unwrap(), "onlineuserjids"),
        ["ann@example.org", "bo@example.org"]
    );

    let told = run("announce", &[("subject", &["Maintenance"]), ("announcement", &["Down at noon"])]).unwrap();
    assert_eq!(told.child("note", adhoc::NS).map(Element::text).as_deref(), Some("sent to 3 sessions"));
    let sent = FakeHost::sent();
    assert_eq!(sent.len(), 3);
    assert!(sent.iter().all(|m| m.attr("type") == Some("headline")
        && m.child("body", ns::CLIENT).is_some_and(|b| b.text() == "Down at noon")));

    let ended = run("end-user-session", &[("accountjids", &["ann@example.org"])]).unwrap();
    assert_eq!(ended.child("note", adhoc::NS).map(Element::text).as_deref(), Some("2 sessions ended"));
    assert_eq!(value(&run("get-online-users-list", &[]).unwrap(), "onlineuserjids"), ["bo@example.org"]);
    let empty = run("announce", &[("announcement", &[" "])]);
    assert_eq!(empty.unwrap_err().condition, Condition::BadRequest);
}

#[test]
fn the_message_of_the_day_goes_to_those_online_and_each_new_session() {
    load();
    FakeHost::add_session("ann@example.org/a", Some("<presence/>"));
    let set = run("set-motd", &[("motd", &["Welcome back", "line two"])]).unwrap();
    assert_eq!(set.child("note", adhoc::NS).map(Element::text).as_deref(), Some("set, and sent to 1 sessions"));
    assert_eq!(FakeHost::sent().len(), 1);
    Admin::on_event(Event::SessionStarted { jid: "bo@example.org/b".into() }).unwrap();
    let sent = FakeHost::sent();
    let last = sent.last().unwrap();
    assert_eq!(last.attr("to"), Some("bo@example.org/b"));
    assert_eq!(last.child("body", ns::CLIENT).map(Element::text).as_deref(), Some("Welcome back\nline two"));
    // Editing shows the current text.
    let node = format!("{NS}#edit-motd");
    let shown = command(&format!("<command xmlns='{}' node='{node}'/>", adhoc::NS)).unwrap();
    assert_eq!(value(&shown, "motd"), ["Welcome back", "line two"]);
    run("delete-motd", &[]).unwrap();
    let before = FakeHost::sent().len();
    Admin::on_event(Event::SessionStarted { jid: "cy@example.org/c".into() }).unwrap();
    assert_eq!(FakeHost::sent().len(), before, "no message of the day, nothing sent");
}

#[test]
fn new_accounts_get_the_welcome_message() {
    load();
    Admin::on_event(Event::UserCreated { jid: "new@example.org".into() }).unwrap();
    assert!(FakeHost::sent().is_empty(), "no welcome message yet");
    run("edit-welcome", &[("welcome", &["Hello and welcome"])]).unwrap();
    Admin::on_event(Event::UserCreated { jid: "new@example.org".into() }).unwrap();
    let sent = FakeHost::sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].attr("to"), Some("new@example.org"));
    run("edit-welcome", &[("welcome", &[""])]).unwrap();
    assert!(waxwing_sdk::kv::get("welcome").unwrap().is_none(), "an empty welcome removes it");
}

#[test]
fn disabled_users_lose_their_sessions_until_enabled_again() {
    load();
    FakeHost::add_account("dee", "pw");
    FakeHost::add_session("dee@example.org/a", Some("<presence/>"));
    run("disable-user", &[("accountjids", &["dee@example.org"])]).unwrap();
    assert!(waxwing_sdk::accounts::is_disabled("dee").unwrap());
    assert!(FakeHost::sessions().is_empty(), "its session was ended");
    run("reenable-user", &[("accountjids", &["dee@example.org"])]).unwrap();
    assert!(!waxwing_sdk::accounts::is_disabled("dee").unwrap());
    let unknown = run("disable-user", &[("accountjids", &["nobody@example.org"])]).unwrap();
    assert_eq!(unknown.child("note", adhoc::NS).and_then(|n| n.attr("type")), Some("error"));
}

#[test]
fn a_users_roster_and_last_login_are_looked_up() {
    load();
    FakeHost::set_dataset("roster", "subscriptions", "ann@example.org bo@example.org", b"both");
    FakeHost::set_dataset("roster", "groups", "ann@example.org bo@example.org", b"Friends\nWork");
    FakeHost::set_dataset("roster", "subscriptions", "ann@example.org cy@example.org", b"to");
    FakeHost::set_dataset("roster", "groups", "ann@example.org cy@example.org", b"");
    FakeHost::set_dataset("roster", "subscriptions", "bo@example.org ann@example.org", b"both");
    let r = run("get-user-roster", &[("accountjid", &["ann@example.org"])]).unwrap();
    let query = r.child("query", "jabber:iq:roster").unwrap_or_else(|| panic!("no roster: {r}"));
    let items: Vec<(String, String, usize)> = query
        .elements()
        .map(|i| {
            (i.attr("jid").unwrap().to_string(), i.attr("subscription").unwrap().to_string(), i.elements().count())
        })
        .collect();
    assert_eq!(items, [("bo@example.org".into(), "both".into(), 2), ("cy@example.org".into(), "to".into(), 0)]);

    let never = run("get-user-lastlogin", &[("accountjid", &["ann@example.org"])]).unwrap();
    assert_eq!(value(&never, "lastlogin"), ["never"]);
    FakeHost::add_session("ann@example.org/a", None);
    assert_eq!(
        value(&run("get-user-lastlogin", &[("accountjid", &["ann@example.org"])]).unwrap(), "lastlogin"),
        ["online"]
    );
    FakeHost::remove_session("ann@example.org/a");
    Admin::on_event(Event::SessionEnded { jid: "ann@example.org/a".into(), last_presence: None }).unwrap();
    let last = run("get-user-lastlogin", &[("accountjid", &["ann@example.org"])]).unwrap();
    assert_eq!(value(&last, "lastlogin"), [waxwing_sdk::format_utc(waxwing_sdk::now_ms())]);
    let elsewhere = run("get-user-roster", &[("accountjid", &["x@other.example"])]);
    assert_eq!(elsewhere.unwrap_err().condition, Condition::BadRequest);
}
