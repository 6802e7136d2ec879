//! The datasets on the SDK's fake host: backfilled from records an older
//! version stored, a user at a time, and kept by the guard.

use waxwing_sdk::prelude::*;
use waxwing_sdk::testing::{self, FakeHost};
use waxwing_sdk::{Plugin, kv};

use super::*;
use crate::Roster;
use crate::subscription::Subscription;

const ALICE: &str = "alice@example.org";
const BOB: &str = "bob@example.org";

fn dataset(name: &str) -> Vec<(String, String)> {
    FakeHost::dataset_entries(PLUGIN, name).into_iter().map(|(k, v)| (k, String::from_utf8(v).unwrap())).collect()
}

fn entries() -> Vec<(String, String)> {
    dataset(NAME)
}

fn groups() -> Vec<(String, String)> {
    dataset(GROUPS)
}

fn pairs<const N: usize>(list: [(&str, &str); N]) -> Vec<(String, String)> {
    list.map(|(k, v)| (k.to_string(), v.to_string())).to_vec()
}

/// A record as the 1.x roster stored it: no dataset entry.
fn old_record(user: &str, contact: &str, sub: Subscription, listed: bool) {
    grouped_record(user, contact, sub, listed, &[]);
}

/// The same, filed under `groups`.
fn grouped_record(user: &str, contact: &str, sub: Subscription, listed: bool, groups: &[&str]) {
    let groups = groups.iter().map(|g| g.to_string()).collect();
    let item = Item { jid: contact.into(), sub, listed, groups, ver: 1, ..Item::default() };
    kv::put(format!("item/{user}/{contact}"), item.encode()).unwrap();
}

/// Alice's client sets her roster item of `contact`.
fn roster_set(item: &str) -> Handled {
    let xml = format!(
        "<iq from='alice@example.org/a' to='{ALICE}' type='set' id='r1'><query xmlns='jabber:iq:roster'>{item}</query></iq>"
    );
    Roster::on_iq(Iq(Stanza::from_xml(&xml, Address::Bare, "example.org").unwrap()))
}

fn guard_of(user: &str) -> Option<Vec<u8>> {
    kv::get(format!("dsgen/{user}")).unwrap()
}

fn both() -> Subscription {
    Subscription { to: true, from: true, ..Default::default() }
}

#[test]
fn init_writes_the_entries_of_an_upgraded_server_once() {
    old_record("a@example.org", "b@example.org", both(), true);
    old_record("a@example.org", "c@example.org", Subscription { pending_in: true, ..Default::default() }, false);
    old_record("a@example.org.uk", "d@example.org", Subscription { from: true, ..Default::default() }, true);
    old_record("b@example.org", "a@example.org", both(), true);
    testing::init::<Roster>(r#"{"max_items": 1000}"#).unwrap();
    assert_eq!(
        entries(),
        [
            ("a@example.org b@example.org", "both"),
            ("a@example.org c@example.org", "none"),
            ("a@example.org.uk d@example.org", "from"),
            ("b@example.org a@example.org", "both"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
    );
    assert_eq!(kv::get(MARKER).unwrap().as_deref(), Some(DONE));
    // Done is done: a record written behind the plugin's back later is not
    // picked up by another instance's init.
    old_record("z@example.org", "a@example.org", both(), true);
    BACKFILLED.set(false);
    Roster::init(&waxwing_sdk::config()).unwrap();
    assert_eq!(entries().len(), 4);
}

#[test]
fn a_big_server_is_backfilled_over_several_calls() {
    for user in ["a", "b", "c"] {
        old_record(&format!("{user}@example.org"), "x@example.org", both(), true);
    }
    FakeHost::declare(&Roster::describe());
    // No time at all: one user per call.
    backfill(0).unwrap();
    assert_eq!(entries().len(), 1);
    assert_eq!(kv::get(MARKER).unwrap().as_deref(), Some(&b"item/a@example.org0"[..]), "past a's records");
    assert!(kv::get("dsgen/a@example.org").unwrap().is_none(), "the first call needs no guard");
    backfill(0).unwrap();
    assert!(kv::get("dsgen/b@example.org").unwrap().is_some(), "later calls commit through the guard");
    Roster::migrate("0.1.0").unwrap();
    assert_eq!(entries().len(), 3);
    backfill(0).unwrap();
    assert_eq!(kv::get(MARKER).unwrap().as_deref(), Some(DONE));
}

#[test]
fn a_sync_drops_entries_without_a_record() {
    FakeHost::declare(&Roster::describe());
    datasets::put(NAME, "a@example.org gone@example.org", "both").unwrap();
    old_record("a@example.org", "b@example.org", both(), true);
    sync_user("a@example.org", true, || Ok(())).unwrap();
    assert_eq!(entries(), [("a@example.org b@example.org".to_string(), "both".to_string())]);
    forget("a@example.org").unwrap();
    assert!(entries().is_empty());
}

#[test]
fn the_backfill_visits_each_user_once_and_steps_over_strange_keys() {
    FakeHost::declare(&Roster::describe());
    for (user, contact) in [("a@h", "x"), ("a@h", "y"), ("a@h.x", "z"), ("a@h0", "z"), ("b@h", "x")] {
        old_record(user, contact, Subscription::default(), true);
    }
    kv::put(b"item/\xff/x", "").unwrap();
    kv::put("item/no-slash", "").unwrap();
    backfill(50).unwrap();
    let users: Vec<String> = entries().into_iter().map(|(k, _)| k.split(' ').next().unwrap().to_string()).collect();
    assert_eq!(users, ["a@h", "a@h", "a@h.x", "a@h0", "b@h"]);
    assert_eq!(kv::get(MARKER).unwrap().as_deref(), Some(DONE));
}

#[test]
fn groups_follow_the_record_through_roster_sets() {
    testing::init::<Roster>(r#"{"max_items": 1000}"#).unwrap();
    let k = key(ALICE, BOB);
    let set = format!("<item jid='{BOB}'><group>Friends</group><group>Work</group></item>");
    assert_eq!(roster_set(&set).unwrap(), Outcome::Done);
    assert_eq!(entries(), pairs([(&k, "none")]));
    assert_eq!(groups(), pairs([(&k, "Friends\nWork")]), "written on add, in the order given");

    // Only the groups change: the subscription entry stays as it was.
    let guard = guard_of(ALICE);
    roster_set(&format!("<item jid='{BOB}'><group>Work</group></item>")).unwrap();
    assert_eq!(groups(), pairs([(&k, "Work")]));
    assert_ne!(guard_of(ALICE), guard, "committed through the guard");
    assert_eq!(entries(), pairs([(&k, "none")]));

    // In no group: still present, empty.
    roster_set(&format!("<item jid='{BOB}' name='Bob'/>")).unwrap();
    assert_eq!(groups(), pairs([(&k, "")]));
    // A name alone changes neither entry: no commit at all.
    let guard = guard_of(ALICE);
    roster_set(&format!("<item jid='{BOB}' name='Bobby'/>")).unwrap();
    assert_eq!(guard_of(ALICE), guard);

    // A subscription change keeps the groups.
    roster_set(&format!("<item jid='{BOB}'><group>Work</group></item>")).unwrap();
    update_sub(|s| s.to = true);
    assert_eq!((entries(), groups()), (pairs([(&k, "to")]), pairs([(&k, "Work")])));

    // Removed with the record.
    roster_set(&format!("<item jid='{BOB}' subscription='remove'/>")).unwrap();
    assert!(storage::record(ALICE, BOB).unwrap().is_none());
    assert!(entries().is_empty() && groups().is_empty());
}

fn update_sub(change: impl Fn(&mut Subscription)) {
    storage::update(ALICE, BOB, false, |item| {
        change(&mut item.sub);
        Ok(())
    })
    .unwrap();
}

#[test]
fn an_unlisted_contact_with_a_subscription_has_empty_groups() {
    testing::init::<Roster>(r#"{"max_items": 1000}"#).unwrap();
    update_sub(|s| s.pending_in = true);
    let k = key(ALICE, BOB);
    assert_eq!((entries(), groups()), (pairs([(&k, "none")]), pairs([(&k, "")])));
    update_sub(|s| s.pending_in = false);
    assert!(entries().is_empty() && groups().is_empty(), "forgotten with the record");
}

#[test]
fn the_backfill_fills_groups_for_an_old_store() {
    grouped_record(ALICE, BOB, both(), true, &["Friends", "Family"]);
    grouped_record(ALICE, "carol@example.org", Subscription { pending_in: true, ..Default::default() }, false, &[]);
    grouped_record("bob@example.org", ALICE, both(), true, &["Work"]);
    testing::init::<Roster>(r#"{"max_items": 1000}"#).unwrap();
    assert_eq!(
        groups(),
        pairs([
            ("alice@example.org bob@example.org", "Friends\nFamily"),
            ("alice@example.org carol@example.org", ""),
            ("bob@example.org alice@example.org", "Work"),
        ])
    );
    assert_eq!(entries().len(), 3);
    assert_eq!(kv::get(MARKER).unwrap().as_deref(), Some(DONE));
}

/// A server the `subscriptions`-only version served: its backfill done, its
/// entries and guards written, no `groups` entry anywhere.
fn served_by_v1() {
    FakeHost::declare(&Roster::describe());
    grouped_record(ALICE, BOB, both(), true, &["Friends"]);
    grouped_record(ALICE, "carol@example.org", Subscription { from: true, ..Default::default() }, true, &[]);
    grouped_record(BOB, ALICE, both(), true, &["Work", "Chess"]);
    for (user, contact, sub) in [(ALICE, BOB, "both"), (ALICE, "carol@example.org", "from"), (BOB, ALICE, "both")] {
        datasets::put(NAME, &key(user, contact), sub).unwrap();
    }
    // Bob's entry went with the record, but one of v1 left an entry behind.
    datasets::put(NAME, &key(BOB, "gone@example.org"), "to").unwrap();
    kv::put("dsgen/alice@example.org", "7").unwrap();
    kv::put(MARKER_V1, DONE).unwrap();
}

#[test]
fn a_server_whose_subscriptions_backfill_finished_is_backfilled_again_for_groups() {
    served_by_v1();
    // One user per call, the first beside the old version, which writes
    // `subscriptions` entries: guarded from the start.
    backfill(0).unwrap();
    assert_eq!(guard_of(ALICE).as_deref(), Some(&b"8"[..]), "alice's entries committed through the guard");
    assert_eq!(kv::get(MARKER).unwrap().as_deref(), Some(&b"item/alice@example.org0"[..]));
    assert_eq!(groups().len(), 2, "alice's groups, not bob's yet");
    backfill(50).unwrap();
    assert!(guard_of(BOB).is_some());
    assert_eq!(kv::get(MARKER).unwrap().as_deref(), Some(DONE));
    assert_eq!(kv::get(MARKER_V1).unwrap().as_deref(), Some(DONE), "the old marker is left as it was");
    assert_eq!(
        groups(),
        pairs([
            ("alice@example.org bob@example.org", "Friends"),
            ("alice@example.org carol@example.org", ""),
            ("bob@example.org alice@example.org", "Work\nChess"),
        ])
    );
    // Written again, the subscriptions are as the records say, no more.
    assert_eq!(
        entries(),
        pairs([
            ("alice@example.org bob@example.org", "both"),
            ("alice@example.org carol@example.org", "from"),
            ("bob@example.org alice@example.org", "both"),
        ])
    );
}

#[test]
fn a_commit_beside_the_second_backfill_is_not_lost() {
    served_by_v1();
    let mut tries = 0;
    // The pass over alice, with the old version committing a change of hers
    // between the pass's read of the guard and its swap, as it does: the
    // record and its `subscriptions` entry, through the guard.
    sync_user(ALICE, true, || {
        tries += 1;
        if tries == 1 {
            let mut item = storage::record(ALICE, BOB).unwrap().unwrap();
            item.sub.from = false;
            item.groups = vec!["Exes".into()];
            kv::put(format!("item/{ALICE}/{BOB}"), item.encode()).unwrap();
            datasets::put(NAME, &key(ALICE, BOB), "to").unwrap();
            kv::put("dsgen/alice@example.org", "8").unwrap();
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(tries, 2, "the pass lost its swap and read the records again");
    let k = key(ALICE, BOB);
    assert!(entries().contains(&(k.clone(), "to".into())));
    assert!(groups().contains(&(k, "Exes".into())));
}

#[test]
fn an_old_backfill_under_way_makes_the_new_one_guarded() {
    FakeHost::declare(&Roster::describe());
    old_record(ALICE, BOB, both(), true);
    kv::put(MARKER_V1, "item/").unwrap();
    backfill(0).unwrap();
    assert!(guard_of(ALICE).is_some(), "a v1 backfill under way: the old version writes entries");
}

#[test]
fn forgetting_the_account_removes_its_groups_entries() {
    testing::init::<Roster>(r#"{"max_items": 1000}"#).unwrap();
    roster_set(&format!("<item jid='{BOB}'><group>Friends</group></item>")).unwrap();
    storage::update(BOB, "carol@example.org", false, |item| {
        item.listed = true;
        item.groups = vec!["Work".into()];
        Ok(())
    })
    .unwrap();
    assert_eq!(groups().len(), 2);
    Roster::on_event(Event::UserDeleted { jid: ALICE.into() }).unwrap();
    assert_eq!(groups(), pairs([("bob@example.org carol@example.org", "Work")]));
    assert_eq!(entries(), pairs([("bob@example.org carol@example.org", "none")]));
    assert!(guard_of(ALICE).is_none());
}
