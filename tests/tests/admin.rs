//! Service administration (XEP-0133) over ad-hoc commands (XEP-0050): the
//! admin named in the config finds the commands and runs them; anyone else
//! neither sees nor runs them.

use waxwing_tests::adhoc::{self, ADMIN, ADMIN_PW as PW, COMMANDS, admin_server as start, values as field};
use waxwing_tests::{Element, Mech, RawClient, Server, stanza_error_condition, waxwing};

async fn login(s: &Server, user: &str) -> RawClient {
    adhoc::login(s, user, "adm").await
}

/// Executes XEP-0133's command `name`, then completes its form with
/// `fields` (one value each); the last answer.
async fn run(c: &mut RawClient, name: &str, fields: &[(&str, &str)]) -> Element {
    let multi: Vec<(&str, [&str; 1])> = fields.iter().map(|(var, value)| (*var, [*value])).collect();
    let fields: Vec<(&str, &[&str])> = multi.iter().map(|(var, value)| (*var, &value[..])).collect();
    adhoc::run(c, &format!("{ADMIN}#{name}"), &fields).await
}

#[tokio::test]
async fn the_admin_sees_and_runs_the_commands_others_do_not() {
    let s = start();
    let _log = s.log_on_panic();
    let mut root = login(&s, "root").await;
    let mut joe = login(&s, "joe").await;

    let (nodes, listed) = adhoc::listed_nodes(&mut root).await;
    assert!(nodes.contains(&format!("{ADMIN}#add-user")) && nodes.len() >= 9, "{listed}");
    let (hidden, answer) = adhoc::listed_nodes(&mut joe).await;
    assert!(hidden.is_empty() && answer.attr("type") == Some("result"), "{answer}");

    // Running one is refused before any plugin sees it; an unknown node is not found.
    let refused = run(&mut joe, "add-user", &[]).await;
    assert_eq!(stanza_error_condition(&refused).as_deref(), Some("forbidden"), "{refused}");
    let unknown =
        root.iq("set", Some("localhost"), &format!("<command xmlns='{COMMANDS}' node='nope' action='execute'/>")).await;
    assert_eq!(stanza_error_condition(&unknown).as_deref(), Some("item-not-found"), "{unknown}");

    let added = run(
        &mut root,
        "add-user",
        &[("accountjid", "kim@localhost"), ("password", "kim-pw"), ("password-verify", "kim-pw")],
    )
    .await;
    assert_eq!(added.child("command", COMMANDS).and_then(|c| c.attr("status")), Some("completed"), "{added}");
    let mut kim = RawClient::login_with(&s, "kim@localhost", "kim-pw", Mech::ScramSha256, Some("new")).await;

    assert_eq!(field(&run(&mut root, "get-registered-users-num", &[]).await, "registeredusersnum"), ["3"]);
    let online = run(&mut root, "get-online-users-list", &[]).await;
    assert_eq!(field(&online, "onlineuserjids"), ["joe@localhost", "kim@localhost", "root@localhost"]);

    let told = run(&mut root, "announce", &[("subject", "Hello"), ("announcement", "Tea at four")]).await;
    assert_eq!(told.child("command", COMMANDS).and_then(|c| c.attr("status")), Some("completed"), "{told}");
    let heard = joe.next_where("the announcement", |e| e.name == "message").await;
    assert!(heard.to_xml().contains("Tea at four"), "{heard}");

    let ended = run(&mut root, "end-user-session", &[("accountjids", "kim@localhost")]).await;
    assert_eq!(ended.child("command", COMMANDS).and_then(|c| c.attr("status")), Some("completed"), "{ended}");
    kim.expect_stream_error("policy-violation").await;

    // A user's roster, as the roster plugin keeps it.
    let set = joe
        .iq(
            "set",
            None,
            "<query xmlns='jabber:iq:roster'><item jid='root@localhost' name='Boss'><group>Work</group></item></query>",
        )
        .await;
    assert_eq!(set.attr("type"), Some("result"), "{set}");
    let roster = run(&mut root, "get-user-roster", &[("accountjid", "joe@localhost")]).await;
    let items: Vec<String> = roster
        .child("command", COMMANDS)
        .and_then(|c| c.child("query", "jabber:iq:roster"))
        .map(|q| q.elements().filter_map(|i| i.attr("jid").map(str::to_string)).collect())
        .unwrap_or_default();
    assert_eq!(items, ["root@localhost"], "{roster}");
    let last = run(&mut root, "get-user-lastlogin", &[("accountjid", "joe@localhost")]).await;
    assert_eq!(field(&last, "lastlogin"), ["online"]);

    // The message of the day: to everyone online now, and to each new session.
    let motd = run(&mut root, "set-motd", &[("motd", "Mind the gap")]).await;
    assert_eq!(motd.child("command", COMMANDS).and_then(|c| c.attr("status")), Some("completed"), "{motd}");
    let heard =
        joe.next_where("the message of the day", |e| e.name == "message" && e.to_xml().contains("Mind the gap")).await;
    assert_eq!(heard.attr("type"), Some("headline"));
    let mut later = RawClient::login_with(&s, "joe@localhost", PW, Mech::ScramSha256, Some("later")).await;
    later
        .next_where("the message of the day at login", |e| e.name == "message" && e.to_xml().contains("Mind the gap"))
        .await;

    // A disabled account loses its sessions and may not log in, even with
    // the right password, until it is enabled again.
    let mut kim = RawClient::login_with(&s, "kim@localhost", "kim-pw", Mech::ScramSha256, Some("back")).await;
    run(&mut root, "disable-user", &[("accountjids", "kim@localhost")]).await;
    kim.expect_stream_error("policy-violation").await;
    let mut c = RawClient::connect_tls(&s).await;
    let f = c.auth(Mech::ScramSha256, "kim", "kim-pw").await.expect_err("a disabled account logged in");
    assert!(f.child("account-disabled", "urn:ietf:params:xml:ns:xmpp-sasl").is_some(), "{f}");
    let f = c.auth(Mech::Plain, "kim", "kim-pw").await.expect_err("a disabled account logged in with PLAIN");
    assert!(f.child("account-disabled", "urn:ietf:params:xml:ns:xmpp-sasl").is_some(), "{f}");
    run(&mut root, "reenable-user", &[("accountjids", "kim@localhost")]).await;
    RawClient::login_with(&s, "kim@localhost", "kim-pw", Mech::ScramSha256, Some("again")).await;

    let deleted = run(&mut root, "delete-user", &[("accountjids", "kim@localhost")]).await;
    assert_eq!(deleted.attr("type"), Some("result"), "{deleted}");
    assert_eq!(field(&run(&mut root, "get-registered-users-num", &[]).await, "registeredusersnum"), ["2"]);
    s.assert_no_plugin_failures();
}

#[tokio::test]
async fn admins_must_be_bare_jids_of_the_config() {
    let s = Server::configure("[[vhost]]\ndomain = \"localhost\"\nadmins = [\"not a jid@@\"]\n");
    let out = waxwing(&["check-config", &s.config_path().to_string_lossy()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("admins") && err.contains("bare JID"), "{err}");
}
