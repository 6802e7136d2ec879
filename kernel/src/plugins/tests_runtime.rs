//! Changes admins make while the server runs (`vhost/admin.rs`): checked,
//! applied by a hot swap, kept in the database, laid over the file at each
//! reload, and set aside when they no longer load.

use super::runtime_settings::RuntimeSettings;
use super::testkit::*;
use super::vhost::ChangeError;
use crate::config::Config;

const VERSION: &str = "<query xmlns='jabber:iq:version'/>";

fn start() -> (Harness, Config) {
    let mut cfg = config(vec![("localhost", vec![plugin("version", "version", &[])])], limits());
    cfg.vhosts[0].admins = vec!["root@localhost".into()];
    (Harness::start(&cfg), cfg)
}

/// The `<os/>` the version plugin answers with, if any.
fn os(h: &Harness) -> Option<String> {
    let (_, routed) = h.iq("localhost", "get", VERSION);
    reply_payload(&routed).child("os", "jabber:iq:version").map(waxwing_xml::Element::text)
}

fn invalid(r: Result<String, ChangeError>) -> String {
    match r {
        Err(ChangeError::Invalid(m)) => m,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_plugin_configured_at_runtime_keeps_its_settings_across_reloads() {
    let (h, cfg) = start();
    let vp = h.vhost("localhost");
    assert_eq!(os(&h), None);
    let summary = vp.configure_plugin("version", r#"{"show_os": true, "os": "Plan 9"}"#).unwrap();
    assert_eq!(summary, "localhost: reconfigured version");
    assert_eq!(os(&h).as_deref(), Some("Plan 9"));
    let stored = RuntimeSettings::load(&h.storage, "localhost").unwrap();
    assert_eq!(stored.plugins["version"].len(), 2);
    let s = vp.plugin_settings("version").unwrap();
    assert_eq!(s.overridden, ["os", "show_os"]);
    assert!(s.current.contains("Plan 9"), "{}", s.current);

    h.host.apply_config(&cfg).unwrap();
    assert_eq!(os(&h).as_deref(), Some("Plan 9"), "a reload of the unchanged file keeps the runtime settings");
    vp.reload_plugin("version").unwrap();
    assert_eq!(os(&h).as_deref(), Some("Plan 9"), "so does a reload of the plugin");

    vp.configure_plugin("version", r#"{"show_os": null, "os": null}"#).unwrap();
    assert_eq!(os(&h), None, "back to the file's");
    assert!(RuntimeSettings::load(&h.storage, "localhost").unwrap().plugins.is_empty());
}

#[test]
fn a_bad_change_is_refused_and_changes_nothing() {
    let (h, _) = start();
    let vp = h.vhost("localhost");
    assert!(invalid(vp.configure_plugin("version", r#"{"show_oss": true}"#)).contains("show_oss"));
    assert!(invalid(vp.configure_plugin("version", r#"{"show_os": "yes"}"#)).contains("show_os"));
    assert!(invalid(vp.configure_plugin("version", "[]")).contains("JSON object"));
    assert!(invalid(vp.configure_plugin("nope", "{}")).contains("no plugin \"nope\""));
    assert!(matches!(vp.reload_plugin("nope"), Err(ChangeError::Invalid(_))));
    assert_eq!(RuntimeSettings::load(&h.storage, "localhost").unwrap(), RuntimeSettings::default());
    assert_eq!(os(&h), None);
}

#[test]
fn runtime_settings_that_no_longer_load_are_set_aside() {
    let (h, cfg) = start();
    // What an admin set for a version of the plugin that had this key.
    let mut stale = RuntimeSettings::default();
    stale.change_plugin("version", r#"{"retired_key": 1}"#).unwrap();
    stale.store(&h.storage, "localhost", &RuntimeSettings::default()).unwrap();
    h.host.apply_config(&cfg).expect("the reload still applies the file");
    assert_eq!(os(&h), None, "the plugin serves with the file's settings");
}

#[test]
fn admins_added_at_runtime_join_the_configs() {
    let (h, _) = start();
    let vp = h.vhost("localhost");
    assert!(!vp.is_admin("ann@localhost/pc"));
    vp.set_admins(&["root@localhost".into(), "Ann@localhost".into()]).unwrap();
    assert!(vp.is_admin("ann@localhost/pc"), "stored prepared");
    assert_eq!(vp.admin_list().unwrap(), (vec!["root@localhost".to_string()], vec!["ann@localhost".to_string()]));
    for (list, why) in [(vec!["ann@localhost"], "root@localhost"), (vec!["root@localhost", "localhost"], "bare JID")] {
        let list: Vec<String> = list.into_iter().map(String::from).collect();
        match vp.set_admins(&list) {
            Err(ChangeError::Invalid(m)) => assert!(m.contains(why), "{m}"),
            other => panic!("{other:?}"),
        }
    }
    assert!(vp.is_admin("ann@localhost"), "a refused edit changes nothing");
    vp.set_admins(&["root@localhost".into()]).unwrap();
    assert!(!vp.is_admin("ann@localhost"));
    assert!(RuntimeSettings::load(&h.storage, "localhost").unwrap().admins.is_empty());
}
