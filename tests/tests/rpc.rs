//! Jabber-RPC (XEP-0009) for administration: the admin named in the config
//! calls XML-RPC methods on the host's JID; anyone else is refused.

use waxwing_tests::{Element, Mech, RawClient, Server, body, stanza_error_condition};

const PW: &str = "admin-pw";
const RPC: &str = "jabber:iq:rpc";
const INFO: &str = "http://jabber.org/protocol/disco#info";

fn start() -> Server {
    let config = "[[vhost]]\ndomain = \"localhost\"\nadmins = [\"root@localhost\"]\n";
    Server::start_with_users(config, &[("root@localhost", PW), ("joe@localhost", PW)])
}

async fn login(s: &Server, user: &str, password: &str) -> RawClient {
    RawClient::login_with(s, &format!("{user}@localhost"), password, Mech::ScramSha256, Some("rpc")).await
}

fn string_params(params: &[&str]) -> String {
    params.iter().map(|p| format!("<param><value><string>{p}</string></value></param>")).collect()
}

/// Calls `method` with `params` (the `<param/>`s' XML) on the host.
async fn call(c: &mut RawClient, method: &str, params: &str) -> Element {
    let query = format!(
        "<query xmlns='{RPC}'><methodCall><methodName>{method}</methodName><params>{params}</params></methodCall></query>"
    );
    c.iq("set", Some("localhost"), &query).await
}

fn response(reply: &Element) -> &Element {
    assert_eq!(reply.attr("type"), Some("result"), "{reply}");
    reply.child("query", RPC).and_then(|q| q.child("methodResponse", RPC)).unwrap_or_else(|| panic!("{reply}"))
}

/// The one value returned: its type element.
fn returned(reply: &Element) -> Element {
    let value =
        response(reply).child("params", RPC).and_then(|p| p.child("param", RPC)).and_then(|p| p.child("value", RPC));
    value.and_then(Element::first_element).cloned().unwrap_or_else(|| panic!("no value returned: {reply}"))
}

/// The strings of a returned array.
fn strings(reply: &Element) -> Vec<String> {
    let array = returned(reply);
    let data = array.child("data", RPC).unwrap_or_else(|| panic!("not an array: {reply}"));
    data.elements().filter_map(|v| v.child("string", RPC)).map(Element::text).collect()
}

/// A fault's (faultCode, faultString).
fn fault(reply: &Element) -> (i32, String) {
    let fault = response(reply).child("fault", RPC).unwrap_or_else(|| panic!("no fault: {reply}"));
    let member = |name: &str| {
        fault
            .child("value", RPC)
            .and_then(|v| v.child("struct", RPC))
            .and_then(|s| s.elements().find(|m| m.child("name", RPC).map(Element::text).as_deref() == Some(name)))
            .and_then(|m| m.child("value", RPC))
            .and_then(Element::first_element)
            .map(Element::text)
            .unwrap_or_else(|| panic!("no {name}: {reply}"))
    };
    (member("faultCode").parse().unwrap(), member("faultString"))
}

#[tokio::test]
async fn the_admin_manages_accounts_and_sessions_over_rpc() {
    let s = start();
    let _log = s.log_on_panic();
    let mut root = login(&s, "root", PW).await;

    let info = root.iq("get", Some("localhost"), &format!("<query xmlns='{INFO}'/>")).await;
    assert!(info.to_xml().contains(&format!("var='{RPC}'")), "{info}");

    let registered = call(&mut root, "register", &string_params(&["kim", "kim-pw"])).await;
    assert_eq!(returned(&registered).text(), "0", "{registered}");
    let mut kim = login(&s, "kim", "kim-pw").await;
    // Available, so that a message to the bare JID is delivered, not kept offline.
    kim.available(0).await;

    let users = call(&mut root, "registered_users", "").await;
    assert_eq!(strings(&users), ["joe@localhost", "kim@localhost", "root@localhost"]);
    let stats = call(&mut root, "stats", &string_params(&["registeredusers"])).await;
    assert_eq!(returned(&stats).text(), "3", "{stats}");
    let online = call(&mut root, "connected_users", "").await;
    assert_eq!(strings(&online), ["kim@localhost/rpc", "root@localhost/rpc"]);
    let stats = call(&mut root, "stats", &string_params(&["onlineusers"])).await;
    assert_eq!(returned(&stats).text(), "2", "{stats}");

    let sent = call(&mut root, "send_message", &string_params(&["kim@localhost", "Hello", "Tea at four"])).await;
    assert_eq!(returned(&sent).text(), "0", "{sent}");
    let heard = kim.next_where("the message", |e| e.name == "message").await;
    assert_eq!((heard.attr("from"), body(&heard).as_str()), (Some("localhost"), "Tea at four"), "{heard}");

    // ejabberd's clients name their parameters in one struct, with the host.
    let named = "<param><value><struct>\
        <member><name>user</name><value><string>kim</string></value></member>\
        <member><name>host</name><value><string>localhost</string></value></member>\
        <member><name>newpass</name><value><string>kim-pw2</string></value></member>\
        </struct></value></param>";
    let changed = call(&mut root, "change_password", named).await;
    assert_eq!(returned(&changed).text(), "0", "{changed}");
    drop(kim);
    let kim = login(&s, "kim", "kim-pw2").await;
    drop(kim);

    let gone = call(&mut root, "unregister", &string_params(&["kim@localhost"])).await;
    assert_eq!(returned(&gone).text(), "0", "{gone}");
    let mut c = RawClient::connect(&s).await;
    c.open_stream("localhost").await;
    c.starttls().await;
    c.open_stream("localhost").await;
    assert!(c.auth(Mech::ScramSha256, "kim@localhost", "kim-pw2").await.is_err(), "kim was unregistered");
    s.assert_no_plugin_failures();
}

#[tokio::test]
async fn others_are_forbidden_and_bad_calls_are_faults() {
    let s = start();
    let _log = s.log_on_panic();
    let mut joe = login(&s, "joe", PW).await;
    let refused = call(&mut joe, "register", &string_params(&["eve", "eve-pw"])).await;
    assert_eq!(stanza_error_condition(&refused).as_deref(), Some("forbidden"), "{refused}");

    let mut root = login(&s, "root", PW).await;
    let (code, text) = fault(&call(&mut root, "reboot", "").await);
    assert_eq!(code, -32601, "{text}");
    let (code, text) = fault(&call(&mut root, "register", &string_params(&["eve"])).await);
    assert_eq!(code, -32602, "{text}");
    let (code, text) = fault(&call(&mut root, "register", &string_params(&["joe", "again"])).await);
    assert_eq!(code, -32500);
    assert!(text.contains("exists"), "{text}");
    let (code, text) = fault(&call(&mut root, "unregister", &string_params(&["nobody"])).await);
    assert_eq!(code, -32500, "{text}");
    let (code, text) = fault(&call(&mut root, "stats", &string_params(&["uptime"])).await);
    assert_eq!(code, -32602, "{text}");

    // Not XML-RPC at all: the iq itself is refused.
    let malformed = root.iq("set", Some("localhost"), &format!("<query xmlns='{RPC}'><methodCall/></query>")).await;
    assert_eq!(stanza_error_condition(&malformed).as_deref(), Some("bad-request"), "{malformed}");
    s.assert_no_plugin_failures();
}
