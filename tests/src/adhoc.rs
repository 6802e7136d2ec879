//! Ad-hoc commands (XEP-0050) as an admin's client drives them, over a
//! [`RawClient`]: execute, submit a stage, read the form or table answered.
//! The XEP-0133 tests share it, with a server whose config names one admin.

use crate::client::{Mech, RawClient};
use crate::server::Server;
use waxwing_xml::Element;

pub const COMMANDS: &str = "http://jabber.org/protocol/commands";
/// XEP-0133's namespace: its nodes' prefix and its forms' FORM_TYPE.
pub const ADMIN: &str = "http://jabber.org/protocol/admin";
const DATA: &str = "jabber:x:data";

/// The password of [`admin_server`]'s accounts.
pub const ADMIN_PW: &str = "admin-pw";

/// A form's fields as submitted: (var, values).
pub type Fields<'a> = &'a [(&'a str, &'a [&'a str])];

/// A server on `localhost` whose config names `root@localhost` its admin
/// and one of the server's operators (restart and shutdown are theirs),
/// with the accounts root and joe.
pub fn admin_server() -> Server {
    let config = "[[vhost]]\ndomain = \"localhost\"\nadmins = [\"root@localhost\"]\n";
    let s = Server::start_with_server_toml("operators = [\"root@localhost\"]", config);
    s.add_users(&[("root@localhost", ADMIN_PW), ("joe@localhost", ADMIN_PW)]);
    s
}

/// `user`@localhost of [`admin_server`], logged in as `resource`.
pub async fn login(s: &Server, user: &str, resource: &str) -> RawClient {
    RawClient::login_with(s, &format!("{user}@localhost"), ADMIN_PW, Mech::ScramSha256, Some(resource)).await
}

/// The nodes of the commands the host lists to `c` (XEP-0050 §2.2), and
/// the whole answer for a failing assertion's message.
pub async fn listed_nodes(c: &mut RawClient) -> (Vec<String>, Element) {
    const ITEMS: &str = "http://jabber.org/protocol/disco#items";
    let listed = c.iq("get", Some("localhost"), &format!("<query xmlns='{ITEMS}' node='{COMMANDS}'/>")).await;
    let nodes = listed
        .child("query", ITEMS)
        .map(|q| q.elements().filter_map(|i| i.attr("node").map(str::to_string)).collect())
        .unwrap_or_default();
    (nodes, listed)
}

/// Starts the command at `node` on the host; the answer.
pub async fn execute(c: &mut RawClient, node: &str) -> Element {
    execute_on(c, "localhost", node).await
}

/// Starts the command at `node` on `host`; the answer.
pub async fn execute_on(c: &mut RawClient, host: &str, node: &str) -> Element {
    c.iq("set", Some(host), &format!("<command xmlns='{COMMANDS}' node='{node}' action='execute'/>")).await
}

/// Submits `fields` to session `sid` of the command at `node` with
/// `action`, in a form whose FORM_TYPE is the node's namespace.
pub async fn step(c: &mut RawClient, node: &str, sid: &str, action: &str, fields: Fields<'_>) -> Element {
    step_on(c, "localhost", node, sid, action, fields).await
}

/// [`step`] for a command on `host`.
pub async fn step_on(
    c: &mut RawClient,
    host: &str,
    node: &str,
    sid: &str,
    action: &str,
    fields: Fields<'_>,
) -> Element {
    let form_type = node.split('#').next().unwrap_or(node);
    let mut x = format!("<x xmlns='{DATA}' type='submit'><field var='FORM_TYPE'><value>{form_type}</value></field>");
    for (var, values) in fields {
        x.push_str(&format!("<field var='{var}'>"));
        for v in *values {
            x.push_str(&format!("<value>{v}</value>"));
        }
        x.push_str("</field>");
    }
    x.push_str("</x>");
    c.iq(
        "set",
        Some(host),
        &format!("<command xmlns='{COMMANDS}' node='{node}' sessionid='{sid}' action='{action}'>{x}</command>"),
    )
    .await
}

/// Executes the command at `node` and completes its first form with
/// `fields`; a command that asks nothing (or an error) is its first answer.
pub async fn run(c: &mut RawClient, node: &str, fields: Fields<'_>) -> Element {
    run_on(c, "localhost", node, fields).await
}

/// [`run`] for a command on `host`.
pub async fn run_on(c: &mut RawClient, host: &str, node: &str, fields: Fields<'_>) -> Element {
    let first = execute_on(c, host, node).await;
    let asks = first.child("command", COMMANDS).is_some_and(|c| c.attr("status") == Some("executing"));
    if !asks {
        return first;
    }
    let sid = session(&first);
    step_on(c, host, node, &sid, "complete", fields).await
}

/// The answer's session id.
pub fn session(r: &Element) -> String {
    r.child("command", COMMANDS).and_then(|c| c.attr("sessionid")).unwrap_or_else(|| panic!("no session: {r}")).into()
}

/// Asserts the command completed; its note's text.
pub fn completed(r: &Element) -> String {
    let cmd = r.child("command", COMMANDS).unwrap_or_else(|| panic!("no command: {r}"));
    assert_eq!(cmd.attr("status"), Some("completed"), "{r}");
    cmd.child("note", COMMANDS).map(Element::text).unwrap_or_default()
}

fn form(r: &Element) -> &Element {
    r.child("command", COMMANDS).and_then(|c| c.child("x", DATA)).unwrap_or_else(|| panic!("no form: {r}"))
}

/// The values of the answer's form field `var`.
pub fn values(r: &Element, var: &str) -> Vec<String> {
    form(r)
        .elements()
        .filter(|f| f.attr("var") == Some(var))
        .flat_map(|f| f.elements().filter(|v| v.name == "value").map(Element::text).collect::<Vec<_>>())
        .collect()
}

/// The values of column `var` in the answer's result table, row by row.
pub fn cells(r: &Element, var: &str) -> Vec<String> {
    form(r)
        .elements()
        .filter(|i| i.name == "item")
        .flat_map(|i| {
            i.elements().filter(|f| f.attr("var") == Some(var)).map(|f| f.elements().map(Element::text).collect())
        })
        .collect()
}

/// The options the answer's form offers for field `var`.
pub fn options(r: &Element, var: &str) -> Vec<String> {
    form(r)
        .elements()
        .filter(|f| f.attr("var") == Some(var))
        .flat_map(|f| {
            f.elements()
                .filter(|o| o.name == "option")
                .map(|o| o.elements().map(Element::text).collect::<String>())
                .collect::<Vec<_>>()
        })
        .collect()
}
