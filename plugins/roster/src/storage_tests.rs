//! Storage on the SDK's fake host, whose compare-and-swap behaves like the
//! kernel's: two calls racing on one record are played out by one of them
//! changing it while the other is between its read and its swap.

use waxwing_sdk::testing::{self, FakeHost};
use waxwing_sdk::{kv, prelude::*};

use super::*;
use crate::Roster;

const ALICE: &str = "alice@example.org";
const BOB: &str = "bob@example.org";

fn start() {
    testing::init::<Roster>(r#"{"max_items": 1000}"#).unwrap();
}

fn listed(item: &mut Item) -> std::result::Result<(), StanzaError> {
    item.listed = true;
    Ok(())
}

fn entry(user: &str, contact: &str) -> Option<String> {
    FakeHost::dataset_entries("roster", "subscriptions")
        .into_iter()
        .find(|(k, _)| *k == format!("{user} {contact}"))
        .map(|(_, v)| String::from_utf8(v).unwrap())
}

#[test]
fn a_change_stored_between_read_and_swap_is_kept_by_the_retry() {
    start();
    update(ALICE, BOB, false, listed).unwrap();
    let mut tries = 0;
    let (change, ()) = update(ALICE, BOB, false, |item| {
        tries += 1;
        if tries == 1 {
            // Another session's call: bob approved alice's request, stored
            // after this call read the record and before it swaps.
            update(ALICE, BOB, false, |other| {
                other.sub.to = true;
                Ok(())
            })
            .unwrap();
            assert!(!item.sub.to, "this try read the record before that change");
        }
        item.name = Some("Bob".into());
        Ok(())
    })
    .unwrap();
    assert_eq!(tries, 2, "the first swap failed, the second try saw the other change");
    let stored = load(ALICE, BOB).unwrap();
    assert!(stored.sub.to, "the other call's change survived");
    assert_eq!(stored.name.as_deref(), Some("Bob"), "and so did this one's");
    assert_eq!((change.before.sub.to, change.ver), (true, Some(stored.ver)));
    // Versions: 1 the listing, 2 the other call, 3 taken by the lost try, 4.
    assert_eq!((stored.ver, current_ver(ALICE).unwrap()), (4, 4));
    assert_eq!(entry(ALICE, BOB).as_deref(), Some("to"));
}

#[test]
fn a_record_replaced_behind_the_callers_back_through_kv_is_not_overwritten() {
    start();
    update(ALICE, BOB, false, listed).unwrap();
    let mut tries = 0;
    update(ALICE, BOB, false, |item| {
        tries += 1;
        if tries == 1 {
            // Written by another path altogether: the raw record.
            let mut other = load(ALICE, BOB).unwrap();
            other.groups = vec!["Friends".into()];
            kv::put(format!("item/{ALICE}/{BOB}"), other.encode()).unwrap();
        }
        item.sub.pending_out = true;
        Ok(())
    })
    .unwrap();
    let stored = load(ALICE, BOB).unwrap();
    assert_eq!((tries, stored.groups, stored.sub.pending_out), (2, vec!["Friends".to_string()], true));
}

#[test]
fn the_version_counter_is_swapped_too() {
    start();
    kv::put(format!("ver/{ALICE}"), "7").unwrap();
    let mut tries = 0;
    let (change, ()) = update(ALICE, BOB, false, |item| {
        tries += 1;
        if tries == 1 {
            // Another contact's change takes a version meanwhile: no number
            // is handed out twice, and the counter ends past both.
            update(ALICE, "carol@example.org", false, listed).unwrap();
        }
        listed(item)
    })
    .unwrap();
    assert_eq!((tries, change.ver), (1, Some(9)));
    assert_eq!(load(ALICE, "carol@example.org").unwrap().ver, 8);
    assert_eq!(current_ver(ALICE).unwrap(), 9);
}

#[test]
fn refused_or_unchanged_updates_store_nothing() {
    start();
    let err = update(ALICE, BOB, false, |_| Err::<(), _>(StanzaError::new(Condition::ItemNotFound))).unwrap_err();
    assert_eq!(err.condition, Condition::ItemNotFound);
    let (change, ()) = update(ALICE, BOB, false, |_| Ok(())).unwrap();
    assert_eq!(change.ver, None);
    assert!(FakeHost::kv_entries().iter().all(|(k, _)| !k.starts_with(b"item/")), "a fresh record, forgotten");
    update(ALICE, BOB, false, listed).unwrap();
    let (again, ()) = update(ALICE, BOB, true, |_| Ok(())).unwrap();
    assert_eq!(again.ver, Some(2), "a roster set moves the version even when nothing changed");
}

#[test]
fn tombs_follow_the_latest_change_only() {
    start();
    update(ALICE, BOB, false, listed).unwrap();
    update(ALICE, BOB, false, |i| {
        i.listed = false;
        Ok(())
    })
    .unwrap();
    assert_eq!(tombstones(ALICE).unwrap(), vec![(BOB.to_string(), 2)]);
    // A change that took an older version and lands late does not undo it.
    set_tomb(ALICE, BOB, 1, true).unwrap();
    assert_eq!(tombstones(ALICE).unwrap(), vec![(BOB.to_string(), 2)]);
    update(ALICE, BOB, false, listed).unwrap();
    assert!(tombstones(ALICE).unwrap().is_empty(), "listed again");
}

#[test]
fn delete_all_forgets_the_user_and_its_entries() {
    start();
    update(ALICE, BOB, false, listed).unwrap();
    update(BOB, ALICE, false, listed).unwrap();
    save_last(ALICE, &LastActivity { ms: 1, status: String::new() }).unwrap();
    delete_all(ALICE).unwrap();
    let left: Vec<String> = FakeHost::kv_entries()
        .into_iter()
        .map(|(k, _)| String::from_utf8(k).unwrap())
        .filter(|k| k.contains(ALICE))
        .collect();
    assert_eq!(left, vec![format!("item/{BOB}/{ALICE}")]);
    assert_eq!((entry(ALICE, BOB), entry(BOB, ALICE).as_deref()), (None, Some("none")));
}

#[test]
fn keys_keep_users_apart() {
    assert_eq!(item_key("a@h", "b@h"), "item/a@h/b@h");
    // One user's prefix never matches another user whose JID extends it.
    assert!(!item_key("ab@h", "c@h").starts_with(&item_prefix("a@h")));
    assert!(!item_key("a@h.x", "c@h").starts_with(&item_prefix("a@h")));
    assert_eq!(tomb_key("a@h", "b@h"), "tomb/a@h/b@h");
}

#[test]
fn last_activity_round_trips() {
    let last = LastActivity { ms: 1_700_000_000_123, status: "gone\nfishing".into() };
    assert_eq!(LastActivity::decode(&last.encode()), Some(last));
    assert_eq!(LastActivity::decode(b"garbage"), None);
    assert_eq!(LastActivity::decode(b"x\nstatus"), None);
    assert_eq!(parse_u64(b"17"), Some(17));
    assert_eq!(parse_u64(b"-1"), None);
}
