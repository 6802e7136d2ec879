//! Import and export through the default plugins, in process.

use std::path::Path;

use super::*;
use crate::testutil::tempdir;

fn config(dir: &Path) -> Config {
    let mut cfg = Config::default();
    cfg.server.data_dir = dir.to_path_buf();
    cfg.server.plugin_cache_dir = Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugin-cache"));
    cfg
}

const FILE: &str = "<?xml version='1.0' encoding='UTF-8'?>
<server-data xmlns='urn:xmpp:pie:0'>
  <host jid='localhost'>
    <user name='alice' password='alice-pw'>
      <query xmlns='jabber:iq:roster'>
        <item jid='bob@localhost' subscription='both' name='Bob'><group>Friends</group></item>
        <item jid='carol@example.net' subscription='none' ask='subscribe'/>
      </query>
      <presence xmlns='jabber:client' from='dave@example.net' type='subscribe'/>
      <vCard xmlns='vcard-temp'><FN>Alice</FN></vCard>
      <query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'><conference jid='room@muc.example' name='R'/></storage></query>
      <offline-messages>
        <message xmlns='jabber:client' from='bob@localhost/pc' to='alice@localhost' type='chat'><body>while you were out</body><delay xmlns='urn:xmpp:delay' from='localhost' stamp='2020-01-02T03:04:05Z'/></message>
      </offline-messages>
    </user>
    <user name='bob' password='bob-pw'>
      <query xmlns='jabber:iq:roster'><item jid='alice@localhost' subscription='both'/></query>
    </user>
    <user name='bad' password='pw'>
      <query xmlns='jabber:iq:roster'><item jid='x@localhost' subscription='sideways'/></query>
    </user>
  </host>
  <host jid='elsewhere.example'><user name='zed' password='pw'/></host>
</server-data>
";

#[test]
fn import_export_round_trip() {
    let dir = tempdir("migrate");
    let cfg = config(&dir);
    let doc = piefxis::read_str(FILE, "f.xml", &dir).unwrap();
    let hosts = with_runtime({
        let cfg = cfg.clone();
        move || {
            let m = Migrator::open(&cfg).unwrap();
            let report = m.import(doc);
            assert_eq!(report.imported, ["alice@localhost", "bob@localhost"], "{report:?}");
            let failed: Vec<(usize, &str)> = report.failed.iter().map(|(l, w)| (l.line, w.as_str())).collect();
            assert_eq!(failed.len(), 2, "{failed:?}");
            assert_eq!(failed[0].0, 19);
            assert!(failed[0].1.contains("sideways") && failed[0].1.contains("removed again"), "{}", failed[0].1);
            assert_eq!(failed[1].0, 23);
            assert!(failed[1].1.contains("elsewhere.example"), "{}", failed[1].1);
            assert!(!m.accounts.exists("localhost", "bad").unwrap(), "nothing half-imported");
            assert!(m.accounts.verify_password("localhost", "alice", "alice-pw").unwrap());
            m.export(None).unwrap()
        }
    })
    .unwrap();
    let users = &hosts[0].users;
    assert_eq!(users.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(), ["alice", "bob"]);
    let alice = &users[0];
    assert_eq!(alice.scram.len(), 2);
    let text = piefxis::write(&hosts);
    let find =
        |ns: &str, name: &str| alice.data.iter().find(|d| d.is(name, ns)).unwrap_or_else(|| panic!("{name} in {text}"));
    let roster = find(NS_ROSTER, "query");
    let items: Vec<String> = roster.elements().map(|i| i.to_xml()).collect();
    assert!(
        items.iter().any(|i| i.contains("bob@localhost") && i.contains("subscription='both'") && i.contains("Friends")),
        "{items:?}"
    );
    assert!(items.iter().any(|i| i.contains("carol@example.net") && i.contains("ask='subscribe'")), "{items:?}");
    let pending = find(ns::CLIENT, "presence");
    assert_eq!(pending.attr("from"), Some("dave@example.net"));
    assert_eq!(find(NS_VCARD, "vCard").elements().next().map(Element::text).as_deref(), Some("Alice"));
    assert!(find(NS_PRIVATE, "query").child("storage", "storage:bookmarks").is_some());
    let offline = find(NS_PIE, "offline-messages");
    let m = offline.first_element().unwrap();
    assert_eq!(m.attr("from"), Some("bob@localhost/pc"));
    let delays: Vec<&Element> = m.elements().filter(|e| e.name == "delay").collect();
    assert_eq!(delays.len(), 1, "{m}");
    assert_eq!(delays[0].attr("stamp"), Some("2020-01-02T03:04:05.000Z"));

    // Into a fresh server: SCRAM credentials and everything else come back.
    let dir2 = tempdir("migrate2");
    let cfg2 = config(&dir2);
    let doc = piefxis::read_str(&text, "export.xml", &dir2).unwrap();
    let again = with_runtime(move || {
        let m = Migrator::open(&cfg2).unwrap();
        let report = m.import(doc);
        assert!(report.failed.is_empty(), "{report:?}");
        assert!(m.accounts.verify_password("localhost", "alice", "alice-pw").unwrap());
        m.export(None).unwrap()
    })
    .unwrap();
    assert_eq!(piefxis::write(&again), text);
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(dir2);
}
