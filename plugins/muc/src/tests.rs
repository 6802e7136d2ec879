//! The plugin as the kernel drives it, on the SDK's fake host: stanzas to
//! `conference.example.org` in, what the room sends out.

use waxwing_sdk::testing::{self, FakeHost};

use super::*;

const SERVICE: &str = "conference.example.org";
const OWNER: &str = "crone@example.org/cauldron";
const GUEST: &str = "hag@example.org/broom";

fn load() {
    testing::init::<Muc>(r#"{"name": "Chatrooms", "history_length": 20, "room_creation": "anyone", "admins": []}"#)
        .unwrap();
}

fn stanza(xml: &str) -> Stanza {
    Stanza::from_xml(xml, Address::Service, "example.org").unwrap()
}

fn presence(from: &str, to: &str, inner: &str) -> Handled {
    Muc::on_presence(Presence(stanza(&format!("<presence from='{from}' to='{to}'>{inner}</presence>"))))
}

fn join(from: &str, room_nick: &str) -> Handled {
    presence(from, room_nick, &format!("<x xmlns='{NS_MUC}'/>"))
}

fn message(from: &str, to: &str, kind: &str, inner: &str) -> Handled {
    Muc::on_message(Message(stanza(&format!(
        "<message from='{from}' to='{to}' type='{kind}' id='m1'>{inner}</message>"
    ))))
}

fn iq(from: &str, to: &str, kind: &str, inner: &str) -> Handled {
    Muc::on_iq(Iq(stanza(&format!("<iq from='{from}' to='{to}' type='{kind}' id='q1'>{inner}</iq>"))))
}

fn codes(p: &Element) -> Vec<String> {
    p.child("x", NS_USER)
        .map(|x| {
            x.elements().filter(|e| e.name == "status").filter_map(|e| e.attr("code").map(str::to_string)).collect()
        })
        .unwrap_or_default()
}

fn err(h: Handled) -> Condition {
    match h {
        Err(e) => e.condition,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// The owner creates `room` and accepts it as an instant room.
fn instant_room(room: &str) {
    join(OWNER, &format!("{room}@{SERVICE}/crone")).unwrap();
    let submit = format!("<query xmlns='{NS_OWNER}'><x xmlns='jabber:x:data' type='submit'/></query>");
    assert!(matches!(iq(OWNER, &format!("{room}@{SERVICE}"), "set", &submit), Ok(Outcome::Reply(_))));
    FakeHost::take_sent();
}

#[test]
fn creating_a_room_makes_a_locked_room_owned_by_its_creator() {
    load();
    join(OWNER, &format!("coven@{SERVICE}/crone")).unwrap();
    let sent = FakeHost::take_sent();
    assert_eq!(sent.len(), 1, "only the creator's own presence: {sent:?}");
    assert_eq!(sent[0].attr("to"), Some(OWNER));
    assert_eq!(codes(&sent[0]), ["110", "201"]);
    let item = sent[0].child("x", NS_USER).and_then(|x| x.child("item", NS_USER)).unwrap();
    assert_eq!((item.attr("affiliation"), item.attr("role")), (Some("owner"), Some("moderator")));
    assert_eq!(err(join(GUEST, &format!("coven@{SERVICE}/hag"))), Condition::ItemNotFound, "locked until configured");
}

#[test]
fn a_joiner_sees_the_room_then_itself_then_the_subject() {
    load();
    instant_room("coven");
    join(GUEST, &format!("coven@{SERVICE}/hag")).unwrap();
    let sent = FakeHost::take_sent();
    let to_guest: Vec<&Element> = sent.iter().filter(|s| s.attr("to") == Some(GUEST)).collect();
    assert_eq!(to_guest[0].attr("from"), Some(&*format!("coven@{SERVICE}/crone")));
    assert_eq!(to_guest[1].attr("from"), Some(&*format!("coven@{SERVICE}/hag")));
    assert_eq!(codes(to_guest[1]), ["110"]);
    assert!(to_guest[2].child("subject", ns::CLIENT).is_some(), "the subject comes last: {to_guest:?}");
    let to_owner: Vec<&Element> = sent.iter().filter(|s| s.attr("to") == Some(OWNER)).collect();
    assert_eq!(to_owner.len(), 1);
    let item = to_owner[0].child("x", NS_USER).and_then(|x| x.child("item", NS_USER)).unwrap();
    assert_eq!(item.attr("jid"), Some(GUEST), "a moderator sees real JIDs");
    let item = to_guest[0].child("x", NS_USER).and_then(|x| x.child("item", NS_USER)).unwrap();
    assert_eq!(item.attr("jid"), None, "a participant does not, in a semi-anonymous room");
}

#[test]
fn a_groupchat_message_is_one_fan_out_and_kept_for_newcomers() {
    load();
    instant_room("coven");
    join(GUEST, &format!("coven@{SERVICE}/hag")).unwrap();
    FakeHost::take_sent();
    message(GUEST, &format!("coven@{SERVICE}"), "groupchat", "<body>Double, double</body>").unwrap();
    let sent = FakeHost::take_sent();
    assert_eq!(sent.len(), 2);
    assert!(
        sent.iter().all(|s| s.attr("from") == Some(&*format!("coven@{SERVICE}/hag")) && s.attr("id") == Some("m1"))
    );
    join("third@example.org/x", &format!("coven@{SERVICE}/third")).unwrap();
    let sent = FakeHost::take_sent();
    let history: Vec<&Element> = sent.iter().filter(|s| s.child("delay", ns::DELAY).is_some()).collect();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].child("body", ns::CLIENT).map(Element::text).as_deref(), Some("Double, double"));
}

#[test]
fn entry_is_refused_as_the_xep_says() {
    load();
    instant_room("coven");
    assert_eq!(err(join(GUEST, &format!("coven@{SERVICE}/crone"))), Condition::Conflict, "nick taken");
    assert_eq!(err(presence(GUEST, &format!("coven@{SERVICE}"), "")), Condition::JidMalformed, "no nick");
    let form =
        |fields: &str| format!("<query xmlns='{NS_OWNER}'><x xmlns='jabber:x:data' type='submit'>{fields}</x></query>");
    let field = |var: &str, v: &str| format!("<field var='muc#roomconfig_{var}'><value>{v}</value></field>");
    let set = iq(
        OWNER,
        &format!("coven@{SERVICE}"),
        "set",
        &form(&(field("passwordprotectedroom", "1") + &field("roomsecret", "eye of newt"))),
    );
    assert!(set.is_ok(), "{set:?}");
    assert_eq!(err(join(GUEST, &format!("coven@{SERVICE}/hag"))), Condition::NotAuthorized);
    let with_pw = format!("<x xmlns='{NS_MUC}'><password>eye of newt</password></x>");
    assert!(presence(GUEST, &format!("coven@{SERVICE}/hag"), &with_pw).is_ok());
    FakeHost::take_sent();
    iq(OWNER, &format!("coven@{SERVICE}"), "set", &form(&field("membersonly", "1"))).unwrap();
    let sent = FakeHost::take_sent();
    let removed = sent.iter().find(|s| s.attr("to") == Some(GUEST) && s.attr("type") == Some("unavailable")).unwrap();
    assert_eq!(codes(removed), ["110", "322"], "a non-member leaves a room turned members-only");
    assert_eq!(err(join("other@example.org/r", &format!("coven@{SERVICE}/o"))), Condition::RegistrationRequired);
    iq(
        OWNER,
        &format!("coven@{SERVICE}"),
        "set",
        &form(&(field("membersonly", "0") + &field("passwordprotectedroom", "0") + &field("maxusers", "1"))),
    )
    .unwrap();
    assert_eq!(err(join("other@example.org/r", &format!("coven@{SERVICE}/o"))), Condition::ServiceUnavailable, "full");
}

#[test]
fn kick_and_ban_remove_the_occupant_with_their_codes() {
    load();
    instant_room("coven");
    join(GUEST, &format!("coven@{SERVICE}/hag")).unwrap();
    FakeHost::take_sent();
    let admin = |item: &str| {
        iq(OWNER, &format!("coven@{SERVICE}"), "set", &format!("<query xmlns='{NS_ADMIN}'>{item}</query>"))
    };
    admin("<item nick='hag' role='none'><reason>hush</reason></item>").unwrap();
    let sent = FakeHost::take_sent();
    let to_guest = sent.iter().find(|s| s.attr("to") == Some(GUEST)).unwrap();
    assert_eq!(to_guest.attr("type"), Some("unavailable"));
    assert_eq!(codes(to_guest), ["110", "307"]);
    join(GUEST, &format!("coven@{SERVICE}/hag")).unwrap();
    admin("<item jid='hag@example.org' affiliation='outcast'/>").unwrap();
    let sent = FakeHost::take_sent();
    assert!(sent.iter().any(|s| s.attr("to") == Some(GUEST) && codes(s).contains(&"301".to_string())));
    assert_eq!(err(join(GUEST, &format!("coven@{SERVICE}/hag"))), Condition::Forbidden);
    // A participant may not kick; the owner may not be kicked.
    join("third@example.org/x", &format!("coven@{SERVICE}/third")).unwrap();
    let kick_owner = iq(
        "third@example.org/x",
        &format!("coven@{SERVICE}"),
        "set",
        &format!("<query xmlns='{NS_ADMIN}'><item nick='crone' role='none'/></query>"),
    );
    assert_eq!(err(kick_owner), Condition::Forbidden);
    assert_eq!(
        err(admin("<item jid='crone@example.org' affiliation='member'/>")),
        Condition::Conflict,
        "the last owner stays"
    );
}

#[test]
fn a_nick_change_is_unavailable_with_303_then_available() {
    load();
    instant_room("coven");
    presence(OWNER, &format!("coven@{SERVICE}/maiden"), "").unwrap();
    let sent = FakeHost::take_sent();
    assert_eq!(sent[0].attr("type"), Some("unavailable"));
    assert_eq!(codes(&sent[0]), ["110", "303"]);
    assert_eq!(
        sent[0].child("x", NS_USER).and_then(|x| x.child("item", NS_USER)).and_then(|i| i.attr("nick")),
        Some("maiden")
    );
    assert_eq!(sent[1].attr("from"), Some(&*format!("coven@{SERVICE}/maiden")));
}

#[test]
fn a_temporary_room_goes_with_its_last_occupant_and_a_session_end_leaves() {
    load();
    instant_room("coven");
    join(GUEST, &format!("coven@{SERVICE}/hag")).unwrap();
    FakeHost::take_sent();
    Muc::on_event(Event::SessionEnded { jid: GUEST.into(), last_presence: None }).unwrap();
    let sent = FakeHost::take_sent();
    assert!(sent.iter().any(|s| s.attr("to") == Some(OWNER) && s.attr("type") == Some("unavailable")));
    presence(OWNER, &format!("coven@{SERVICE}/crone"), "").map(|_| ()).unwrap();
    Muc::on_presence(Presence(stanza(&format!(
        "<presence from='{OWNER}' to='coven@{SERVICE}/crone' type='unavailable'/>"
    ))))
    .unwrap();
    assert!(room::load("coven").unwrap().is_none(), "temporary and empty: gone");
}

#[test]
fn destroy_tells_everyone_where_to_go() {
    load();
    instant_room("coven");
    join(GUEST, &format!("coven@{SERVICE}/hag")).unwrap();
    FakeHost::take_sent();
    let destroy =
        format!("<query xmlns='{NS_OWNER}'><destroy jid='heath@{SERVICE}'><reason>moving</reason></destroy></query>");
    assert_eq!(err(iq(GUEST, &format!("coven@{SERVICE}"), "set", &destroy)), Condition::Forbidden);
    iq(OWNER, &format!("coven@{SERVICE}"), "set", &destroy).unwrap();
    let sent = FakeHost::take_sent();
    assert_eq!(sent.len(), 2);
    for s in &sent {
        let d = s.child("x", NS_USER).and_then(|x| x.child("destroy", NS_USER)).unwrap();
        assert_eq!(d.attr("jid"), Some(&*format!("heath@{SERVICE}")));
    }
    assert!(room::load("coven").unwrap().is_none());
}

#[test]
fn non_occupants_are_not_heard() {
    load();
    instant_room("coven");
    assert_eq!(
        err(message(GUEST, &format!("coven@{SERVICE}"), "groupchat", "<body>hi</body>")),
        Condition::NotAcceptable
    );
    assert_eq!(
        err(message(GUEST, &format!("coven@{SERVICE}/crone"), "chat", "<body>hi</body>")),
        Condition::NotAcceptable
    );
    assert_eq!(
        err(iq(GUEST, &format!("coven@{SERVICE}/crone"), "get", "<ping xmlns='urn:xmpp:ping'/>")),
        Condition::NotAcceptable
    );
    assert!(matches!(
        iq(OWNER, &format!("coven@{SERVICE}/crone"), "get", "<ping xmlns='urn:xmpp:ping'/>"),
        Ok(Outcome::Reply(_))
    ));
}

#[test]
fn an_iq_to_an_occupant_goes_to_its_session_from_the_askers_nick_and_the_answer_comes_back() {
    load();
    instant_room("coven");
    join(GUEST, &format!("coven@{SERVICE}/hag")).unwrap();
    FakeHost::take_sent();
    let asked = iq(GUEST, &format!("coven@{SERVICE}/crone"), "get", "<vCard xmlns='vcard-temp'/>");
    assert!(matches!(asked, Ok(Outcome::Done)), "{asked:?}");
    let requests = FakeHost::take_requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.iq.attr("to"), Some(OWNER), "the occupant's real session");
    assert_eq!(r.iq.attr("from"), Some(&*format!("coven@{SERVICE}/hag")), "the asker's nick, not its JID");
    let answer =
        format!("<iq type='result' id='x' from='{OWNER}'><vCard xmlns='vcard-temp'><FN>Crone</FN></vCard></iq>");
    Muc::on_event(r.answer(IqOutcome::Result(answer))).unwrap();
    let sent = FakeHost::take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].attr("to"), sent[0].attr("id"), sent[0].attr("type")),
        (Some(GUEST), Some("q1"), Some("result"))
    );
    assert_eq!(sent[0].attr("from"), Some(&*format!("coven@{SERVICE}/crone")));
    assert!(sent[0].child("vCard", "vcard-temp").is_some(), "{:?}", sent[0]);
    // No answer in time: the asker hears the occupant is unavailable.
    iq(GUEST, &format!("coven@{SERVICE}/crone"), "get", "<vCard xmlns='vcard-temp'/>").unwrap();
    let r = FakeHost::take_requests().remove(0);
    Muc::on_event(r.answer(IqOutcome::Timeout)).unwrap();
    let sent = FakeHost::take_sent();
    let e = sent[0].child("error", ns::CLIENT).and_then(|e| e.first_element()).map(|c| c.name.clone());
    assert_eq!(e.as_deref(), Some("recipient-unavailable"), "{sent:?}");
}
