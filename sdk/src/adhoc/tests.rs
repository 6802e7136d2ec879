use super::*;
use crate::Address;
use crate::forms::Field;
use crate::plugin::Outcome;
use crate::stanza::Stanza;
use crate::testing::FakeHost;

const ADMIN: &str = "boss@example.org/desk";

fn iq(from: &str, command: &str) -> Iq {
    let xml = format!("<iq type='set' id='c1' from='{from}' to='example.org'>{command}</iq>");
    Iq(Stanza::from_xml(&xml, Address::Host, "example.org").unwrap())
}

/// A two-stage command: a name, then a greeting for it.
fn greet(req: &Request) -> Result<Step, StanzaError> {
    match (req.stage, req.action) {
        (0, _) => Ok(Step::form_with_more(DataForm::form().field(Field::text_single("name", "")), 1)),
        (1, _) => {
            let name = req.form.as_ref().and_then(|f| f.value("name")).unwrap_or_default().to_string();
            if name.is_empty() {
                return Err(StanzaError::new(Condition::BadRequest).with_text("a name, please"));
            }
            Ok(Step::form(DataForm::form().field(Field::text_single("greeting", "")), 2).keep(Json::String(name)))
        }
        _ => {
            let name = req.data.as_str().unwrap_or_default();
            let greeting = req.form.as_ref().and_then(|f| f.value("greeting")).unwrap_or("Hello");
            Ok(Step::done(&format!("{greeting}, {name}")))
        }
    }
}

fn run(from: &str, command: &str) -> Result<Element, StanzaError> {
    match handle(&iq(from, command), greet) {
        Ok(Outcome::Reply(r)) => Ok(r.child("command", NS).cloned().unwrap()),
        Ok(other) => panic!("{other:?}"),
        Err(e) => Err(e),
    }
}

fn submit(field: &str, value: &str) -> String {
    DataForm::submit().field(Field::text_single(field, value)).to_element().to_xml()
}

#[test]
fn stages_carry_the_session_and_what_was_kept() {
    let first = run(ADMIN, &format!("<command xmlns='{NS}' node='greet' action='execute'/>")).unwrap();
    assert_eq!(first.attr("status"), Some("executing"));
    let sid = first.attr("sessionid").unwrap().to_string();
    let actions = first.child("actions", NS).unwrap();
    assert_eq!(actions.attr("execute"), Some("next"));
    assert!(actions.child("next", NS).is_some() && actions.child("prev", NS).is_none());

    let second = run(
        ADMIN,
        &format!(
            "<command xmlns='{NS}' node='greet' sessionid='{sid}' action='next'>{}</command>",
            submit("name", "Ada")
        ),
    )
    .unwrap();
    assert_eq!(second.attr("sessionid"), Some(sid.as_str()));
    assert!(second.child("actions", NS).unwrap().child("prev", NS).is_some(), "{second}");

    let done = run(
        ADMIN,
        &format!(
            "<command xmlns='{NS}' node='greet' sessionid='{sid}' action='complete'>{}</command>",
            submit("greeting", "Hi")
        ),
    )
    .unwrap();
    assert_eq!(done.attr("status"), Some("completed"));
    assert_eq!(done.child("note", NS).map(Element::text).as_deref(), Some("Hi, Ada"));
    // The session is gone with the command.
    let again = run(ADMIN, &format!("<command xmlns='{NS}' node='greet' sessionid='{sid}'/>")).unwrap_err();
    assert_eq!(again.condition, Condition::NotAllowed);
    assert!(crate::kv::scan_all("adhoc/").unwrap().is_empty());
}

#[test]
fn prev_shows_the_stage_before_and_cancel_ends_it() {
    let first = run(ADMIN, &format!("<command xmlns='{NS}' node='greet'/>")).unwrap();
    let sid = first.attr("sessionid").unwrap().to_string();
    run(
        ADMIN,
        &format!(
            "<command xmlns='{NS}' node='greet' sessionid='{sid}' action='next'>{}</command>",
            submit("name", "Bo")
        ),
    )
    .unwrap();
    let back = run(ADMIN, &format!("<command xmlns='{NS}' node='greet' sessionid='{sid}' action='prev'/>")).unwrap();
    assert!(DataForm::find_in(&back).unwrap().unwrap().get("name").is_some(), "the first stage again: {back}");
    let canceled =
        run(ADMIN, &format!("<command xmlns='{NS}' node='greet' sessionid='{sid}' action='cancel'/>")).unwrap();
    assert_eq!(canceled.attr("status"), Some("canceled"));
    assert!(crate::kv::scan_all("adhoc/").unwrap().is_empty());
}

#[test]
fn sessions_belong_to_their_starter_and_expire() {
    let first = run(ADMIN, &format!("<command xmlns='{NS}' node='greet'/>")).unwrap();
    let sid = first.attr("sessionid").unwrap().to_string();
    let stolen =
        run("eve@example.org/x", &format!("<command xmlns='{NS}' node='greet' sessionid='{sid}' action='next'/>"))
            .unwrap_err();
    assert_eq!(stolen.condition, Condition::BadRequest);
    assert_eq!(stolen.app_condition.map(|a| a.name), Some("bad-sessionid".to_string()));
    let other_node = run(ADMIN, &format!("<command xmlns='{NS}' node='other' sessionid='{sid}'/>")).unwrap_err();
    assert_eq!(other_node.condition, Condition::BadRequest);
    FakeHost::advance(session::EXPIRY_MS + 1);
    let late =
        run(ADMIN, &format!("<command xmlns='{NS}' node='greet' sessionid='{sid}' action='next'/>")).unwrap_err();
    assert_eq!(late.app_condition.map(|a| a.name), Some("session-expired".to_string()));
}

#[test]
fn malformed_steps_are_refused() {
    let bad = run(ADMIN, &format!("<command xmlns='{NS}' node='greet' action='jump'/>")).unwrap_err();
    assert_eq!(bad.app_condition.map(|a| a.name), Some("malformed-action".to_string()));
    let get = handle(
        &Iq(Stanza::from_xml(
            &format!("<iq type='get' id='g' from='{ADMIN}'><command xmlns='{NS}' node='greet'/></iq>"),
            Address::Host,
            "example.org",
        )
        .unwrap()),
        greet,
    );
    assert!(get.is_err());
    // A failing step ends the session: nothing is left behind.
    let first = run(ADMIN, &format!("<command xmlns='{NS}' node='greet'/>")).unwrap();
    let sid = first.attr("sessionid").unwrap().to_string();
    let empty = run(
        ADMIN,
        &format!("<command xmlns='{NS}' node='greet' sessionid='{sid}' action='next'>{}</command>", submit("name", "")),
    )
    .unwrap_err();
    assert_eq!(empty.condition, Condition::BadRequest);
    assert!(crate::kv::scan_all("adhoc/").unwrap().is_empty());
}

#[test]
fn declarations_and_what_each_may_see() {
    FakeHost::set_admins(&["boss@example.org"]);
    declare(&[
        Command::new("a", "For admins", Audience::Admins),
        Command::new("u", "For users", Audience::LocalUsers),
        Command::new("x", "For anyone", Audience::Anyone),
    ])
    .unwrap();
    let nodes = |jid: &str| visible_to(jid).into_iter().map(|i| i.node).collect::<Vec<_>>();
    assert_eq!(nodes(ADMIN), ["a", "u", "x"]);
    assert_eq!(nodes("joe@example.org/pc"), ["u", "x"]);
    assert_eq!(nodes("far@elsewhere.example/pc"), ["x"]);
    assert!(declare(&[Command::new("a", "A", Audience::Anyone), Command::new("a", "B", Audience::Anyone)]).is_err());
    assert!(crate::is_admin("boss@example.org/desk") && !crate::is_admin("joe@example.org"));
}
