//! `muc#owner` (XEP-0045 §10): the configuration form, accepting an
//! instant room, cancelling a new one, and destroying a room.

use waxwing_sdk::prelude::*;

use crate::admin::Requester;
use crate::broadcast::{self, Change, code};
use crate::model::{Affiliation, Role};
use crate::occupants;
use crate::room::{self, AllowPm, Config, Room};
use crate::{NS_OWNER, NS_ROOMCONFIG, NS_USER, history, presence};

const F: &str = "muc#roomconfig_";

pub fn handle(iq: &Iq, node: &str) -> Handled {
    let stored = room::load(node)?.ok_or(Condition::ItemNotFound)?;
    let me = Requester::of(&stored.room, iq.from())?;
    if me.affiliation != Affiliation::Owner {
        return Err(StanzaError::new(Condition::Forbidden).with_text("only owners configure or destroy a room"));
    }
    let query = iq.payload()?;
    if iq.is_get() {
        return iq.reply_with(Element::new("query", NS_OWNER).with_child(form(&stored.room).to_element()));
    }
    if let Some(destroy) = query.child("destroy", NS_OWNER) {
        destroy_room(&stored.room, destroy)?;
        return iq.reply_empty();
    }
    let form = match DataForm::find_in(query) {
        Some(form) => form?,
        None => return Err(StanzaError::new(Condition::BadRequest).with_text("send a form, or <destroy/>")),
    };
    match form.kind {
        FormKind::Cancel => {
            // §10.1.3: cancelling the form of a room being created destroys it.
            if stored.room.locked {
                destroy_room(&stored.room, &Element::new("destroy", NS_OWNER))?;
            }
            iq.reply_empty()
        }
        FormKind::Submit => {
            let before = stored.room.clone();
            let mut after = before.clone();
            apply(&mut after.config, &form)?;
            after.locked = false;
            for jid in form.values(&format!("{F}roomowners")) {
                after.set_affiliation(&bare_of(jid)?, Affiliation::Owner, "");
            }
            for jid in form.values(&format!("{F}roomadmins")) {
                let bare = bare_of(jid)?;
                if after.affiliation(&bare) != Affiliation::Owner {
                    after.set_affiliation(&bare, Affiliation::Admin, "");
                }
            }
            if !room::replace(&stored, &after)? {
                return Err(StanzaError::new(Condition::Conflict)
                    .with_type(ErrorType::Wait)
                    .with_text("the room changed meanwhile; fetch the form again"));
            }
            changed(&before, &after)?;
            iq.reply_empty()
        }
        _ => Err(StanzaError::new(Condition::BadRequest).with_text("a configuration form is submitted or cancelled")),
    }
}

fn bare_of(jid: &str) -> Result<String, StanzaError> {
    let j = waxwing_sdk::jid::prep(jid)
        .map_err(|_| StanzaError::new(Condition::JidMalformed).with_text(format!("'{jid}' is not a JID")))?;
    Ok(waxwing_sdk::jid::bare(&j).to_string())
}

fn role_options(f: Field) -> Field {
    f.option("Moderator", "moderator").option("Participant", "participant").option("Visitor", "visitor")
}

/// The form with the room's current values (§10.2).
pub fn form(room: &Room) -> DataForm {
    let c = &room.config;
    let owners: Vec<&str> = room.with_affiliation(Affiliation::Owner).map(|a| a.jid.as_str()).collect();
    let admins: Vec<&str> = room.with_affiliation(Affiliation::Admin).map(|a| a.jid.as_str()).collect();
    let roles = |v: &[Role]| v.iter().fold(Field::new("", FieldType::ListMulti), |f, r| f.value(r.as_str()));
    let mut broadcast = role_options(roles(&c.presence_broadcast).label("Roles whose presence is broadcast"));
    broadcast.var = Some(format!("{F}presencebroadcast"));
    let mut member_list = role_options(roles(&c.get_member_list).label("Roles that may retrieve the member list"));
    member_list.var = Some(format!("{F}getmemberlist"));
    DataForm::form()
        .with_form_type(NS_ROOMCONFIG)
        .title(&format!("Configuration for {}", crate::room_jid(&room.node, None)))
        .field(Field::text_single(&format!("{F}roomname"), &c.name).label("Title"))
        .field(Field::text_single(&format!("{F}roomdesc"), &c.description).label("Description"))
        .field(Field::text_single(&format!("{F}lang"), &c.lang).label("Language of discussion"))
        .field(Field::boolean(&format!("{F}persistentroom"), c.persistent).label("Persistent (kept when empty)"))
        .field(Field::boolean(&format!("{F}publicroom"), c.public).label("Listed in the directory of rooms"))
        .field(Field::boolean(&format!("{F}membersonly"), c.members_only).label("Only members may enter"))
        .field(Field::boolean(&format!("{F}moderatedroom"), c.moderated).label("Only those with voice may speak"))
        .field(
            Field::boolean(&format!("{F}passwordprotectedroom"), !c.password.is_empty())
                .label("A password is required"),
        )
        .field(Field::new(&format!("{F}roomsecret"), FieldType::TextPrivate).value(&c.password).label("Password"))
        .field(
            Field::list_single(&format!("{F}maxusers"), &max_users_value(c.max_users))
                .label("Maximum number of occupants")
                .option("10", "10")
                .option("20", "20")
                .option("30", "30")
                .option("50", "50")
                .option("100", "100")
                .option("None", "none"),
        )
        .field(
            Field::list_single(&format!("{F}whois"), if c.whois_anyone { "anyone" } else { "moderators" })
                .label("Who may see real JIDs")
                .option("Moderators only", "moderators")
                .option("Anyone", "anyone"),
        )
        .field(
            Field::boolean(&format!("{F}changesubject"), c.change_subject).label("Participants may change the subject"),
        )
        .field(Field::boolean(&format!("{F}allowinvites"), c.allow_invites).label("Participants may invite others"))
        .field(
            Field::list_single(&format!("{F}allowpm"), c.allow_pm.as_str())
                .label("Who may send private messages")
                .option("Anyone", "anyone")
                .option("Participants", "participants")
                .option("Moderators", "moderators")
                .option("Nobody", "none"),
        )
        .field(Field::boolean(&format!("{F}allowvoicerequests"), c.voice_requests).label("Visitors may ask for voice"))
        .field(Field::boolean(&format!("{F}enablelogging"), c.logging).label("Discussions are logged"))
        .field(broadcast)
        .field(member_list)
        .field(Field::jid_multi(&format!("{F}roomowners"), &owners).label("Owners"))
        .field(Field::jid_multi(&format!("{F}roomadmins"), &admins).label("Admins"))
        .field(
            Field::text_single("muc#maxhistoryfetch", &c.history_length.to_string())
                .label("Messages of history sent to newcomers"),
        )
}

fn max_users_value(n: u32) -> String {
    if n == 0 { "none".to_string() } else { n.to_string() }
}

fn not_acceptable(text: String) -> StanzaError {
    StanzaError::new(Condition::NotAcceptable).with_text(text)
}

/// Takes the submitted values; fields left out keep theirs (§10.2).
fn apply(c: &mut Config, form: &DataForm) -> Result<(), StanzaError> {
    if let Some(t) = form.form_type().filter(|t| *t != NS_ROOMCONFIG) {
        return Err(not_acceptable(format!("the form is {t}, not {NS_ROOMCONFIG}")));
    }
    let flag = |name: &str, into: &mut bool| -> Result<(), StanzaError> {
        if let Some(f) = form.get(&format!("{F}{name}")) {
            *into = f.bool_value().ok_or_else(|| not_acceptable(format!("{F}{name} is a boolean")))?;
        }
        Ok(())
    };
    let text = |name: &str, into: &mut String| {
        if let Some(v) = form.value(name) {
            *into = v.to_string();
        }
    };
    text(&format!("{F}roomname"), &mut c.name);
    text(&format!("{F}roomdesc"), &mut c.description);
    text(&format!("{F}lang"), &mut c.lang);
    flag("persistentroom", &mut c.persistent)?;
    flag("publicroom", &mut c.public)?;
    flag("membersonly", &mut c.members_only)?;
    flag("moderatedroom", &mut c.moderated)?;
    flag("changesubject", &mut c.change_subject)?;
    flag("allowinvites", &mut c.allow_invites)?;
    flag("allowvoicerequests", &mut c.voice_requests)?;
    flag("enablelogging", &mut c.logging)?;
    let mut protected = !c.password.is_empty();
    flag("passwordprotectedroom", &mut protected)?;
    text(&format!("{F}roomsecret"), &mut c.password);
    if !protected {
        c.password.clear();
    } else if c.password.is_empty() {
        return Err(not_acceptable("a password-protected room needs muc#roomconfig_roomsecret".into()));
    }
    if let Some(v) = form.value(&format!("{F}maxusers")) {
        c.max_users = match v.trim() {
            "" | "none" | "0" => 0,
            n => n.parse().map_err(|_| not_acceptable(format!("{F}maxusers '{n}' is not a number")))?,
        };
    }
    if let Some(v) = form.value(&format!("{F}whois")) {
        c.whois_anyone = match v {
            "anyone" => true,
            "moderators" => false,
            other => return Err(not_acceptable(format!("{F}whois is moderators or anyone, not '{other}'"))),
        };
    }
    if let Some(v) = form.value(&format!("{F}allowpm")) {
        c.allow_pm = AllowPm::parse(v).ok_or_else(|| {
            not_acceptable(format!("{F}allowpm is anyone, participants, moderators or none, not '{v}'"))
        })?;
    }
    for (name, into) in [("presencebroadcast", &mut c.presence_broadcast), ("getmemberlist", &mut c.get_member_list)] {
        if form.get(&format!("{F}{name}")).is_some() {
            let values = form.values(&format!("{F}{name}"));
            *into = values
                .iter()
                .map(|v| Role::parse(v).filter(|r| *r != Role::None))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| not_acceptable(format!("{F}{name} lists moderator, participant or visitor")))?;
        }
    }
    if let Some(v) = form.value("muc#maxhistoryfetch") {
        let limit = crate::settings().history_length.max(1000);
        c.history_length = v
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n <= limit)
            .ok_or_else(|| not_acceptable(format!("muc#maxhistoryfetch is a number up to {limit}")))?;
    }
    Ok(())
}

/// Tells the room what the new configuration changed (§10.2.1), moves the
/// history when persistence changed, and removes non-members from a room
/// that became members-only (§9.4, code 322).
fn changed(before: &Room, after: &Room) -> Result<(), StanzaError> {
    if before.config.persistent != after.config.persistent
        || before.config.history_length != after.config.history_length
    {
        history::relocate(before, after)?;
    }
    let all = occupants::load(&after.node)?;
    let mut codes = vec![code::CONFIG_CHANGED];
    if before.config.logging != after.config.logging {
        codes.push(if after.config.logging { code::LOGGING } else { code::NOT_LOGGING });
    }
    if before.config.whois_anyone != after.config.whois_anyone {
        codes.push(if after.config.whois_anyone { code::NOW_NON_ANONYMOUS } else { code::NOW_SEMI_ANONYMOUS });
    }
    if !before.locked {
        broadcast::room_notice(after, &all, &codes)?;
    }
    if after.config.members_only && !before.config.members_only {
        for o in all.list.iter().filter(|o| after.affiliation(o.bare()) < Affiliation::Member) {
            presence::remove(after, &o.nick, &[code::MEMBERS_ONLY], None, None)?;
        }
    }
    if after.config.moderated != before.config.moderated {
        // Newly moderated: those without voice of their own become visitors.
        for o in
            all.list.iter().filter(|o| o.role == Role::Participant && after.affiliation(o.bare()) == Affiliation::None)
        {
            if after.config.moderated {
                let changed = occupants::update(&after.node, |occ| {
                    let Some(t) = occ.by_nick_mut(&o.nick) else { return Ok(None) };
                    t.role = Role::Visitor;
                    Ok(Some(t.clone()))
                })?;
                if let Some((all, t)) = changed {
                    let kept = occupants::presence_of(&after.node, &t.nick)?;
                    broadcast::announce(after, &all, &Change::of(&t, kept.as_ref()), &t.jids)?;
                }
            }
        }
    }
    Ok(())
}

/// §10.9: every occupant leaves with the destroy notice; the room and its
/// history are gone.
pub fn destroy_room(room: &Room, destroy: &Element) -> Result<(), StanzaError> {
    let mut notice = Element::new("destroy", NS_USER);
    if let Some(j) = destroy.attr("jid") {
        notice.set_attr("jid", j);
    }
    if let Some(r) = destroy.child("reason", NS_OWNER) {
        notice.push_child(Element::new("reason", NS_USER).with_text(r.text()));
    }
    if let Some(p) = destroy.child("password", NS_OWNER) {
        notice.push_child(Element::new("password", NS_USER).with_text(p.text()));
    }
    let all = occupants::load(&room.node)?;
    for o in &all.list {
        let mut change = Change::of(o, None);
        change.unavailable = true;
        change.destroy = Some(&notice);
        let mut p = broadcast::presence(room, &change, false, &[]);
        // The item names nobody's affiliation any more.
        if let Some(x) = p.child_mut("x", NS_USER)
            && let Some(item) = x.child_mut("item", NS_USER)
        {
            item.set_attr("affiliation", "none");
        }
        waxwing_sdk::route::send_many(&p, &o.jids)?;
        for j in &o.jids {
            occupants::mark(j, &room.node, false)?;
        }
    }
    occupants::clear(&room.node, all.list.iter().map(|o| o.nick.clone()))?;
    presence::close(room)
}
