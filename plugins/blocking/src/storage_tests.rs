//! Storage on the SDK's fake host.

use waxwing_sdk::testing::{self, FakeHost};

use super::*;
use crate::Blocking;
use waxwing_sdk::Plugin;

const ALICE: &str = "alice@example.org";

fn jids(list: &[&str]) -> Vec<String> {
    list.iter().map(|j| j.to_string()).collect()
}

#[test]
fn an_account_is_watched_while_its_list_has_items() {
    testing::init::<Blocking>("{}").unwrap();
    add(ALICE, &jids(&["bob@example.org", "example.net"])).unwrap();
    assert_eq!(FakeHost::watched(), [ALICE]);
    remove(ALICE, &jids(&["bob@example.org"])).unwrap();
    assert_eq!(FakeHost::watched(), [ALICE], "one item left");
    assert_eq!(remove_all(ALICE).unwrap(), jids(&["example.net"]));
    assert!(FakeHost::watched().is_empty());
    assert!(list(ALICE).unwrap().is_empty());
}

#[test]
fn a_block_landing_during_an_unblock_keeps_the_account_watched() {
    testing::init::<Blocking>("{}").unwrap();
    add(ALICE, &jids(&["bob@example.org"])).unwrap();
    let mut tries = 0;
    change(ALICE, || {
        tries += 1;
        kv::delete(item_key(ALICE, "bob@example.org"))?;
        if tries == 1 {
            // Another resource's block commits between this call's read of
            // the counter and its swap.
            add(ALICE, &jids(&["carol@example.org"]))?;
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(tries, 2, "the swap lost once and the change was made again");
    assert_eq!(list(ALICE).unwrap(), jids(&["carol@example.org"]));
    assert_eq!(FakeHost::watched(), [ALICE], "carol is still blocked, so the filter must still see alice");
}

#[test]
fn a_list_is_matched_by_address_domain_and_bare_jid() {
    testing::init::<Blocking>("{}").unwrap();
    add(ALICE, &jids(&["bob@example.org/phone", "example.net"])).unwrap();
    assert!(blocks(ALICE, "bob@example.org/phone").unwrap());
    assert!(!blocks(ALICE, "bob@example.org/laptop").unwrap());
    assert!(blocks(ALICE, "mallory@example.net/x").unwrap());
    assert!(!blocks("carol@example.org", "mallory@example.net").unwrap());
}

#[test]
fn the_watched_accounts_are_rebuilt_once_from_stored_lists() {
    // Lists a 1.x version stored, on a kernel that kept no watched set.
    for account in ["al@example.org", "alice@example.org", "bob@example.org"] {
        kv::put(item_key(account, "x@example.net"), "").unwrap();
        kv::put(item_key(account, "y@example.net"), "").unwrap();
    }
    kv::put("item/not-ours", "").unwrap();
    FakeHost::declare(&Blocking::describe());
    rebuild_scope(0).unwrap();
    assert_eq!(FakeHost::watched().len(), 1, "no time: one account per call");
    testing::init::<Blocking>("{}").unwrap();
    assert_eq!(FakeHost::watched(), ["al@example.org", "alice@example.org", "bob@example.org"]);
    assert_eq!(kv::get(SCOPE_MARKER).unwrap().as_deref(), Some(DONE));
    // Done is done: a later instance does not scan again.
    FakeHost::reset();
    kv::put(SCOPE_MARKER, DONE).unwrap();
    kv::put(item_key(ALICE, "x@example.net"), "").unwrap();
    REBUILT.set(false);
    rebuild_scope(50).unwrap();
    assert!(FakeHost::watched().is_empty());
}

#[test]
fn keys_round_trip_and_stay_apart() {
    let key = item_key("alice@localhost", "bob@localhost/phone");
    assert_eq!(key, "item/alice@localhost/bob@localhost/phone");
    assert_eq!(account_of_key(key.as_bytes()), Some("alice@localhost"));
    assert_eq!(account_of_key(b"item//x"), None);
    assert_eq!(account_of_key(b"other/a@b/c"), None);
    // `alice@localhost` must not list the items of `alice@localhost.net`.
    assert!(!item_key("alice@localhost.net", "bob@x").starts_with(&account_prefix("alice@localhost")));
    let skip = past_account("alice@localhost");
    assert!("item/alice@localhost/\u{10FFFF}" < skip.as_str());
    assert!("item/alice@localhost0/a" > skip.as_str() && "item/bob@localhost/a" > skip.as_str());
    assert!(fits("alice@localhost", "bob@localhost"));
    assert!(!fits("alice@localhost", &"x".repeat(1020)));
}
