//! The dataset on the SDK's fake host: backfilled from records an older
//! version stored, a user at a time, and kept by the guard.

use waxwing_sdk::testing::{self, FakeHost};
use waxwing_sdk::{Plugin, kv};

use super::*;
use crate::Roster;
use crate::subscription::Subscription;

fn entries() -> Vec<(String, String)> {
    FakeHost::dataset_entries(PLUGIN, NAME).into_iter().map(|(k, v)| (k, String::from_utf8(v).unwrap())).collect()
}

/// A record as the 1.x roster stored it: no dataset entry.
fn old_record(user: &str, contact: &str, sub: Subscription, listed: bool) {
    let item = Item { jid: contact.into(), sub, listed, ver: 1, ..Item::default() };
    kv::put(format!("item/{user}/{contact}"), item.encode()).unwrap();
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
