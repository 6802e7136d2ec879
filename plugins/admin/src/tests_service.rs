//! The service commands (admin list, restart, shutdown) and Waxwing's
//! plugin commands on the SDK's fake host.

use waxwing_sdk::SettingType;
use waxwing_sdk::adhoc;
use waxwing_sdk::server::{PluginInfo, PluginSettings};
use waxwing_sdk::testing::FakeHost;

use super::tests::{command, load, run_node, submit, value};
use super::*;

fn node(name: &str) -> String {
    format!("{NS}#{name}")
}

fn ours(name: &str) -> String {
    format!("{}#{name}", plugins::NS)
}

fn note(el: &Element) -> String {
    el.child("note", adhoc::NS).map(Element::text).unwrap_or_default()
}

fn add_muc() {
    let info = PluginInfo {
        name: "muc".into(),
        version: "1.2".into(),
        source: "builtin".into(),
        state: "serving".into(),
        reason: String::new(),
        calls: 7,
        failures: 1,
    };
    let setting = |key: &str, type_: SettingType| waxwing_sdk::Setting {
        key: key.into(),
        type_,
        default: "null".into(),
        doc: format!("the {key}"),
    };
    let settings = PluginSettings {
        declared: vec![
            setting("history", SettingType::Integer(waxwing_sdk::IntegerRange { min: 0, max: 100 })),
            setting("public", SettingType::Boolean),
            setting("names", SettingType::TextList),
        ],
        current: r#"{"history": 20, "public": true, "names": ["a"]}"#.into(),
        overridden: vec!["history".into()],
    };
    FakeHost::add_host_plugin(info, settings);
}

#[test]
fn the_admin_list_keeps_the_configs_admins_and_stores_the_rest() {
    load();
    let shown = command(&format!("<command xmlns='{}' node='{}'/>", adhoc::NS, node("edit-admin"))).unwrap();
    assert_eq!(value(&shown, "adminjids"), ["boss@example.org"]);
    run_node(&node("edit-admin"), &[("adminjids", &["boss@example.org", "ann@example.org"])]).unwrap();
    assert_eq!(FakeHost::added_admins(), ["ann@example.org"]);
    let dropped = run_node(&node("edit-admin"), &[("adminjids", &["ann@example.org"])]);
    assert_eq!(dropped.unwrap_err().condition, Condition::BadRequest, "the config's admin stays");
    let junk = run_node(&node("edit-admin"), &[("adminjids", &["boss@example.org", "not a jid@@"])]);
    assert_eq!(junk.unwrap_err().condition, Condition::BadRequest);
    assert_eq!(FakeHost::added_admins(), ["ann@example.org"], "a refused edit changes nothing");
}

#[test]
fn restart_and_shutdown_tell_everyone_and_ask_the_kernel() {
    load();
    FakeHost::set_operators(&["boss@example.org"]);
    FakeHost::add_session("ann@example.org/a", Some("<presence/>"));
    let done = run_node(&node("restart"), &[("delay", &["30"]), ("announcement", &["Back in a minute"])]).unwrap();
    assert_eq!(note(&done), "the server will restart in 30 seconds");
    assert_eq!(FakeHost::stop_requested(), Some((30_000, "Back in a minute".into(), true)));
    assert_eq!(FakeHost::sent().len(), 1, "the announcement went to the one session");

    run_node(&node("shutdown"), &[("delay", &["0"])]).unwrap();
    assert_eq!(FakeHost::stop_requested(), Some((0, "the server will shut down".into(), false)));
    for bad in ["soon", "-5", "90000"] {
        let refused = run_node(&node("shutdown"), &[("delay", &[bad])]);
        assert_eq!(refused.unwrap_err().condition, Condition::BadRequest, "{bad}");
    }
}

#[test]
fn without_the_server_grant_the_commands_are_forbidden() {
    load();
    FakeHost::set_server_granted(false);
    let e = run_node(&node("shutdown"), &[("delay", &["30"])]).unwrap_err();
    assert_eq!(e.condition, Condition::Forbidden);
    assert!(e.text.as_deref().is_some_and(|t| t.contains("grant")), "{e:?}");
    assert_eq!(FakeHost::stop_requested(), None);
    let e = run_node(&ours("list-plugins"), &[]).unwrap_err();
    assert_eq!(e.condition, Condition::Forbidden);
}

#[test]
fn plugins_are_listed_reloaded_and_configured() {
    load();
    add_muc();
    let listed = run_node(&ours("list-plugins"), &[]).unwrap();
    let x = DataForm::find_in(&listed).unwrap().unwrap();
    assert_eq!(x.items.len(), 1, "{listed}");
    assert!(x.items[0].iter().any(|f| f.var.as_deref() == Some("version") && f.values == ["1.2"]));

    let reloaded = run_node(&ours("reload-plugin"), &[("plugin", &["muc"])]).unwrap();
    assert_eq!(note(&reloaded), "muc reloaded");
    assert_eq!(FakeHost::reloaded_plugins(), ["muc"]);
    let unknown = run_node(&ours("reload-plugin"), &[("plugin", &["nope"])]);
    assert_eq!(unknown.unwrap_err().condition, Condition::BadRequest);

    // Three stages: choose, edit, done. Only what moved is sent; a reset is null.
    let configure = ours("configure-plugin");
    let first = command(&format!("<command xmlns='{}' node='{configure}'/>", adhoc::NS)).unwrap();
    let sid = first.attr("sessionid").unwrap().to_string();
    let form = submit(&configure, &sid, "next", &[("plugin", &["muc"])]).unwrap();
    assert_eq!(value(&form, "history"), ["20"]);
    assert_eq!(value(&form, "names"), ["a"]);
    let done = submit(
        &configure,
        &sid,
        "complete",
        &[("history", &["20"]), ("public", &["0"]), ("names", &["a", "b"]), ("reset", &["history"])],
    )
    .unwrap();
    assert_eq!(note(&done), "reconfigured muc");
    assert_eq!(
        FakeHost::configured_plugins(),
        [("muc".to_string(), r#"{"history":null,"public":false,"names":["a","b"]}"#.to_string())]
    );
}

#[test]
fn a_setting_of_the_wrong_type_is_a_bad_request() {
    load();
    add_muc();
    let configure = ours("configure-plugin");
    let first = command(&format!("<command xmlns='{}' node='{configure}'/>", adhoc::NS)).unwrap();
    let sid = first.attr("sessionid").unwrap().to_string();
    submit(&configure, &sid, "next", &[("plugin", &["muc"])]).unwrap();
    let e = submit(&configure, &sid, "complete", &[("history", &["lots"])]).unwrap_err();
    assert_eq!(e.condition, Condition::BadRequest);
    assert!(e.text.as_deref().is_some_and(|t| t.contains("history")), "{e:?}");
    assert!(FakeHost::configured_plugins().is_empty());
}
