//! STARTTLS, direct TLS, SASL (every mechanism offered, every failure a
//! client can provoke) and resource binding, on the wire.

use std::sync::OnceLock;

use waxwing_tests::client::{NS_BIND, NS_SASL, NS_STANZA_ERRORS, NS_TLS};
use waxwing_tests::scram::{Binding, Hash};
use waxwing_tests::{Element, Mech, RawClient, Server, shared, stanza_error_condition};

const PW: &str = "correct horse battery";
const USERS: &[(&str, &str)] = &[
    ("alice@localhost", PW),
    ("bob@localhost", PW),
    ("carol@localhost", PW),
    ("dave@localhost", PW),
    ("erin@localhost", PW),
];

/// No slowdown for repeated failures: these tests fail on purpose, all from 127.0.0.1.
const CONFIG: &str = "[sasl]\nfailures_before_delay = 100000\n";

fn server() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    shared(&S, CONFIG, USERS)
}

fn failure_condition(f: &Element) -> String {
    assert!(f.is("failure", NS_SASL), "not a SASL failure: {f}");
    f.elements().find(|e| e.name != "text").map(|e| e.name.clone()).unwrap_or_else(|| panic!("empty failure: {f}"))
}

async fn expect_failure(c: &mut RawClient, condition: &str) {
    let f = c.next_element().await;
    assert_eq!(failure_condition(&f), condition, "{f}");
}

#[tokio::test]
async fn before_tls_starttls_is_required_and_nothing_else_offered() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::connect(s).await;
    let features = c.open_stream("localhost").await;
    let starttls = features.child("starttls", NS_TLS).unwrap_or_else(|| panic!("no <starttls/>: {features}"));
    assert!(starttls.child("required", NS_TLS).is_some(), "STARTTLS is not marked required: {features}");
    assert!(!c.mechanisms().iter().any(|m| m == "PLAIN"), "PLAIN offered before TLS: {features}");
    assert!(c.mechanisms().is_empty(), "mechanisms offered before the required TLS: {features}");
}

#[tokio::test]
async fn after_starttls_every_mechanism_is_offered_with_channel_binding() {
    let s = server();
    let _log = s.log_on_panic();
    let c = RawClient::connect_tls(s).await;
    assert_eq!(c.tls_version(), Some(rustls::ProtocolVersion::TLSv1_3));
    let mut offered = c.mechanisms();
    offered.sort();
    assert_eq!(offered, ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"]);
    let features = c.features.clone().expect("features");
    assert!(features.child("starttls", NS_TLS).is_none(), "STARTTLS offered again over TLS: {features}");
    let cb = features
        .child("sasl-channel-binding", "urn:xmpp:sasl-cb:0")
        .unwrap_or_else(|| panic!("no XEP-0440 channel-binding list: {features}"));
    assert!(cb.elements().any(|e| e.attr("type") == Some("tls-exporter")), "{features}");
}

async fn login_with(mech: Mech, user: &str) {
    let s = server();
    let _log = s.log_on_panic();
    let c = RawClient::login_with(s, user, PW, mech, None).await;
    let jid = c.jid.clone().expect("bound");
    assert!(jid.starts_with(&format!("{user}@localhost/")), "{jid}");
    c.close().await;
}

#[tokio::test]
async fn scram_sha_1_succeeds() {
    login_with(Mech::ScramSha1, "alice").await;
}

#[tokio::test]
async fn scram_sha_256_succeeds() {
    login_with(Mech::ScramSha256, "alice").await;
}

#[tokio::test]
async fn scram_sha_1_plus_succeeds_over_tls13() {
    login_with(Mech::ScramSha1Plus, "bob").await;
}

#[tokio::test]
async fn scram_sha_256_plus_succeeds_over_tls13() {
    login_with(Mech::ScramSha256Plus, "bob").await;
}

#[tokio::test]
async fn plain_succeeds_over_tls() {
    login_with(Mech::Plain, "carol").await;
}

#[tokio::test]
async fn direct_tls_with_alpn_and_plus() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::connect_direct_tls(s).await;
    assert_eq!(c.alpn(), Some(&b"xmpp-client"[..]), "the direct-TLS port did not select ALPN xmpp-client");
    let features = c.open_stream("localhost").await;
    assert!(features.child("starttls", NS_TLS).is_none(), "STARTTLS offered on a TLS connection: {features}");
    assert!(c.mechanisms().iter().any(|m| m == "SCRAM-SHA-256-PLUS"), "{features}");
    let jid = c.authenticate_and_bind("dave", PW, Mech::ScramSha256Plus, Some("direct")).await;
    assert_eq!(jid, "dave@localhost/direct");
}

#[tokio::test]
async fn tls12_offers_no_plus_and_scram_still_works() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::connect_direct_tls_with(s, Some(&rustls::version::TLS12)).await;
    assert_eq!(c.tls_version(), Some(rustls::ProtocolVersion::TLSv1_2));
    let features = c.open_stream("localhost").await;
    assert!(!c.mechanisms().iter().any(|m| m.ends_with("-PLUS")), "-PLUS offered over TLS 1.2: {features}");
    assert!(features.child("sasl-channel-binding", "urn:xmpp:sasl-cb:0").is_none(), "{features}");
    c.authenticate_and_bind("dave", PW, Mech::ScramSha256, Some("tls12")).await;
}

#[tokio::test]
async fn wrong_password_is_not_authorized_and_a_retry_may_succeed() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::connect_tls(s).await;
    for mech in [Mech::ScramSha256, Mech::ScramSha1Plus, Mech::Plain] {
        let f = c.auth(mech, "alice", "wrong password").await.expect_err("a wrong password was accepted");
        assert_eq!(failure_condition(&f), "not-authorized", "{}: {f}", mech.name());
    }
    // The stream stays usable: the right password works on it.
    c.auth(Mech::ScramSha256, "alice", PW).await.unwrap_or_else(|f| panic!("{f}"));
    let features = c.open_stream("localhost").await;
    assert!(features.child("bind", NS_BIND).is_some(), "{features}");
}

#[tokio::test]
async fn unknown_user_is_not_authorized() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::connect_tls(s).await;
    for mech in [Mech::ScramSha256, Mech::Plain] {
        let f = c.auth(mech, "nobody", PW).await.expect_err("an unknown user was accepted");
        assert_eq!(failure_condition(&f), "not-authorized", "{}: {f}", mech.name());
    }
}

#[tokio::test]
async fn auth_before_starttls_is_encryption_required() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::connect(s).await;
    c.open_stream("localhost").await;
    let msg = base64_plain("alice", PW);
    c.send(&format!("<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{msg}</auth>")).await;
    expect_failure(&mut c, "encryption-required").await;
    let scram = waxwing_tests::scram::ScramClient::new(Hash::Sha256, "alice", PW, Binding::None);
    let first = b64(scram.client_first().as_bytes());
    c.send(&format!("<auth xmlns='{NS_SASL}' mechanism='SCRAM-SHA-256'>{first}</auth>")).await;
    expect_failure(&mut c, "encryption-required").await;
}

#[tokio::test]
async fn unknown_mechanism_is_invalid_mechanism() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::connect_tls(s).await;
    for name in ["X-NOSUCH", "DIGEST-MD5", "scram-sha-256"] {
        c.send(&format!("<auth xmlns='{NS_SASL}' mechanism='{name}'>=</auth>")).await;
        expect_failure(&mut c, "invalid-mechanism").await;
    }
}

#[tokio::test]
async fn bad_base64_is_incorrect_encoding() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::connect_tls(s).await;
    c.send(&format!("<auth xmlns='{NS_SASL}' mechanism='PLAIN'>!!not*base64!!</auth>")).await;
    expect_failure(&mut c, "incorrect-encoding").await;
    // In a response, too.
    let scram = waxwing_tests::scram::ScramClient::new(Hash::Sha256, "alice", PW, Binding::None);
    c.send(&format!(
        "<auth xmlns='{NS_SASL}' mechanism='SCRAM-SHA-256'>{}</auth>",
        b64(scram.client_first().as_bytes())
    ))
    .await;
    let ch = c.next_element().await;
    assert!(ch.is("challenge", NS_SASL), "{ch}");
    c.send(&format!("<response xmlns='{NS_SASL}'>%%%</response>")).await;
    expect_failure(&mut c, "incorrect-encoding").await;
}

#[tokio::test]
async fn abort_is_aborted() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::connect_tls(s).await;
    let scram = waxwing_tests::scram::ScramClient::new(Hash::Sha256, "alice", PW, Binding::None);
    c.send(&format!(
        "<auth xmlns='{NS_SASL}' mechanism='SCRAM-SHA-256'>{}</auth>",
        b64(scram.client_first().as_bytes())
    ))
    .await;
    let ch = c.next_element().await;
    assert!(ch.is("challenge", NS_SASL), "{ch}");
    c.send(&format!("<abort xmlns='{NS_SASL}'/>")).await;
    expect_failure(&mut c, "aborted").await;
    // A fresh attempt after the abort works.
    c.auth(Mech::ScramSha256, "alice", PW).await.unwrap_or_else(|f| panic!("{f}"));
}

#[tokio::test]
async fn tampered_channel_binding_is_not_authorized() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::connect_tls(s).await;
    let real = c.exporter().expect("TLS 1.3 exporter");
    let mut forged = real.clone();
    forged[0] ^= 0x01;
    let f = c
        .auth_scram(Mech::ScramSha256Plus, Hash::Sha256, Binding::Exporter(forged), "erin", PW)
        .await
        .expect_err("a forged channel binding was accepted");
    assert_eq!(failure_condition(&f), "not-authorized", "{f}");
    // The real binding works on the same connection.
    c.auth_scram(Mech::ScramSha256Plus, Hash::Sha256, Binding::Exporter(real), "erin", PW)
        .await
        .unwrap_or_else(|f| panic!("{f}"));
}

#[tokio::test]
async fn downgrade_flag_y_when_plus_was_offered_is_not_authorized() {
    // RFC 5802 §6: "y" says the client saw no -PLUS offer; this server made one,
    // so someone stripped it on the way.
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::connect_tls(s).await;
    let f = c
        .auth_scram(Mech::ScramSha256, Hash::Sha256, Binding::ClientOnly, "erin", PW)
        .await
        .expect_err("a downgraded exchange was accepted");
    assert_eq!(failure_condition(&f), "not-authorized", "{f}");
}

#[tokio::test]
async fn five_failed_attempts_close_the_stream_with_policy_violation() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::connect_tls(s).await;
    for i in 1..=5 {
        let msg = base64_plain("bob", &format!("wrong-{i}"));
        c.send(&format!("<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{msg}</auth>")).await;
        expect_failure(&mut c, "not-authorized").await;
    }
    c.expect_stream_error("policy-violation").await;
}

#[tokio::test]
async fn bind_generates_a_resource_when_none_is_asked() {
    let s = server();
    let _log = s.log_on_panic();
    let c = RawClient::login(s, "carol", PW).await;
    let jid = c.jid.clone().expect("bound");
    let resource = jid.strip_prefix("carol@localhost/").unwrap_or_else(|| panic!("bound {jid}"));
    assert!(!resource.is_empty(), "{jid}");
    let other = RawClient::login(s, "carol", PW).await;
    assert_ne!(other.jid, c.jid, "two generated resources are the same");
}

#[tokio::test]
async fn bind_an_invalid_resource_is_bad_request_and_a_valid_one_then_works() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::connect_tls(s).await;
    c.auth(Mech::ScramSha256, "dave", PW).await.unwrap_or_else(|f| panic!("{f}"));
    c.open_stream("localhost").await;
    let too_long = "r".repeat(1100);
    let err = c.try_bind(Some(&too_long)).await.expect_err("a 1100-byte resource was bound");
    assert_eq!(err.attr("type"), Some("error"));
    assert_eq!(stanza_error_condition(&err).as_deref(), Some("bad-request"), "{err}");
    let e = err.child("error", "jabber:client").expect("an <error/>");
    assert!(e.elements().any(|x| x.ns == NS_STANZA_ERRORS), "{err}");
    let jid = c.bind(Some("fine")).await;
    assert_eq!(jid, "dave@localhost/fine");
}

#[tokio::test]
async fn two_resources_online_at_once() {
    let s = server();
    let _log = s.log_on_panic();
    let mut phone = RawClient::login_with(s, "erin", PW, Mech::ScramSha256, Some("phone")).await;
    let mut laptop = RawClient::login_with(s, "erin", PW, Mech::ScramSha1, Some("laptop")).await;
    assert_eq!(phone.jid.as_deref(), Some("erin@localhost/phone"));
    assert_eq!(laptop.jid.as_deref(), Some("erin@localhost/laptop"));
    phone.send("<message to='erin@localhost/laptop' type='chat' id='m1'><body>to myself</body></message>").await;
    let m = laptop.next_message().await;
    assert_eq!(m.attr("from"), Some("erin@localhost/phone"), "{m}");
    laptop.send("<message to='erin@localhost/phone' type='chat' id='m2'><body>back</body></message>").await;
    let m = phone.next_message().await;
    assert_eq!(m.attr("from"), Some("erin@localhost/laptop"), "{m}");
}

fn b64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn base64_plain(user: &str, pw: &str) -> String {
    b64(&waxwing_tests::scram::plain_message(user, pw))
}

#[tokio::test]
async fn legacy_session_iq_after_bind_is_answered_with_a_result() {
    // RFC 3921 clients send <session/> after binding; the server advertises it
    // as optional (draft-cridland-xmpp-session) and must then answer it.
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::connect(s).await;
    c.authenticate_and_bind("carol", PW, Mech::ScramSha256, Some("legacy")).await;
    let session = c.features.clone().and_then(|f| f.child("session", "urn:ietf:params:xml:ns:xmpp-session").cloned());
    assert!(session.is_some_and(|s| s.child("optional", "urn:ietf:params:xml:ns:xmpp-session").is_some()));
    let r = c.iq("set", None, "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'/>").await;
    assert_eq!(r.attr("type"), Some("result"), "the legacy session request was refused: {r}");
}

#[tokio::test]
async fn authzid_of_oneself_is_accepted_and_of_another_refused() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::connect_tls(s).await;
    let other = b64(b"bob@localhost\0alice\0correct horse battery");
    c.send(&format!("<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{other}</auth>")).await;
    expect_failure(&mut c, "invalid-authzid").await;
    let own = b64(b"alice@localhost\0alice\0correct horse battery");
    c.send(&format!("<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{own}</auth>")).await;
    let el = c.next_element().await;
    assert!(el.is("success", NS_SASL), "{el}");
}

#[tokio::test]
async fn scram_without_initial_response_starts_with_an_empty_challenge() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::connect_tls(s).await;
    let mut scram = waxwing_tests::scram::ScramClient::new(Hash::Sha256, "alice", PW, Binding::None);
    c.send(&format!("<auth xmlns='{NS_SASL}' mechanism='SCRAM-SHA-256'/>")).await;
    let empty = c.next_element().await;
    assert!(empty.is("challenge", NS_SASL), "{empty}");
    assert!(matches!(empty.text().trim(), "" | "="), "the first challenge is not empty: {empty}");
    c.send(&format!("<response xmlns='{NS_SASL}'>{}</response>", b64(scram.client_first().as_bytes()))).await;
    let ch = c.next_element().await;
    assert!(ch.is("challenge", NS_SASL), "{ch}");
    let server_first = String::from_utf8(decode(&ch.text())).expect("utf-8");
    let fin = scram.client_final(&server_first).expect("a good server-first-message");
    c.send(&format!("<response xmlns='{NS_SASL}'>{}</response>", b64(fin.as_bytes()))).await;
    let ok = c.next_element().await;
    assert!(ok.is("success", NS_SASL), "{ok}");
    let server_final = String::from_utf8(decode(&ok.text())).expect("utf-8");
    scram.verify_server_final(&server_final).expect("the server proves it knows the password");
}

#[tokio::test]
async fn plain_without_initial_response() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::connect_tls(s).await;
    c.send(&format!("<auth xmlns='{NS_SASL}' mechanism='PLAIN'/>")).await;
    let empty = c.next_element().await;
    assert!(empty.is("challenge", NS_SASL), "{empty}");
    c.send(&format!("<response xmlns='{NS_SASL}'>{}</response>", base64_plain("bob", PW))).await;
    let ok = c.next_element().await;
    assert!(ok.is("success", NS_SASL), "{ok}");
}

#[tokio::test]
async fn many_clients_log_in_at_once() {
    let s = server();
    let _log = s.log_on_panic();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..30 {
        tasks.spawn(async move {
            let mech = [Mech::ScramSha256, Mech::ScramSha1, Mech::ScramSha256Plus, Mech::Plain][i % 4];
            let c = RawClient::login_with(server(), "erin", PW, mech, Some(&format!("crowd{i}"))).await;
            assert_eq!(c.jid.as_deref(), Some(format!("erin@localhost/crowd{i}").as_str()));
            c
        });
    }
    let mut clients = Vec::new();
    while let Some(r) = tasks.join_next().await {
        clients.push(r.expect("a login task panicked"));
    }
    assert_eq!(clients.len(), 30);
    for c in clients {
        c.close().await;
    }
}

fn decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text.trim()).expect("base64 from the server")
}
