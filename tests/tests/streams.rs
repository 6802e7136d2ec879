//! Every stream error that client input can trigger (RFC 6120 §4.9.3): the
//! bad bytes go in on their own connection, and the stream must end with
//! exactly that condition, then `</stream:stream>`, then the close.

use std::sync::OnceLock;

use waxwing_tests::{Mech, RawClient, Server, shared};

const PW: &str = "streams-pw-1";
const USERS: &[(&str, &str)] = &[("alice@localhost", PW), ("bob@localhost", PW), ("carol@localhost", PW)];

/// Small limits, so that each is cheap to pass.
const CONFIG: &str = "[limits]\nmax_stanza_bytes = 4096\nmax_depth = 8\nmax_attributes = 8\n";

fn server() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    shared(&S, CONFIG, USERS)
}

const STREAMS_NS: &str = "http://etherx.jabber.org/streams";

fn header(attrs: &str) -> String {
    format!("<?xml version='1.0'?><stream:stream {attrs}>")
}

/// A good header's attributes.
fn good_attrs() -> String {
    format!("xmlns='jabber:client' xmlns:stream='{STREAMS_NS}' to='localhost' version='1.0'")
}

/// Sends `input` on a fresh connection and expects the stream error.
async fn raw_input_gives(input: &[u8], condition: &str) {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::connect(s).await;
    // The server may close before reading everything; what it answers is what counts.
    let _ = c.try_send(input).await;
    c.expect_stream_error(condition).await;
}

/// Opens a good stream, reads the features, then sends `input`.
async fn after_open_gives(input: &str, condition: &str) {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::connect(s).await;
    c.open_stream("localhost").await;
    let _ = c.try_send(input.as_bytes()).await;
    c.expect_stream_error(condition).await;
}

/// Logs in, then sends `input`.
async fn after_login_gives(user: &str, input: &str, condition: &str) {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::login(s, user, PW).await;
    let _ = c.try_send(input.as_bytes()).await;
    c.expect_stream_error(condition).await;
}

#[tokio::test]
async fn bad_format_text_between_stanzas() {
    after_open_gives("hello there<presence/>", "bad-format").await;
}

#[tokio::test]
async fn bad_namespace_prefix_on_a_stanza() {
    after_open_gives("<foo:message to='localhost'><body>x</body></foo:message>", "bad-namespace-prefix").await;
}

#[tokio::test]
async fn bad_namespace_prefix_on_the_header() {
    let input = format!("<?xml version='1.0'?><stream xmlns='{STREAMS_NS}' to='localhost' version='1.0'>");
    raw_input_gives(input.as_bytes(), "bad-namespace-prefix").await;
}

#[tokio::test]
async fn invalid_namespace_content_jabber_server() {
    let input = header(&format!("xmlns='jabber:server' xmlns:stream='{STREAMS_NS}' to='localhost' version='1.0'"));
    raw_input_gives(input.as_bytes(), "invalid-namespace").await;
}

#[tokio::test]
async fn invalid_namespace_wrong_streams_namespace() {
    let input = header(
        "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams/wrong' to='localhost' version='1.0'",
    );
    raw_input_gives(input.as_bytes(), "invalid-namespace").await;
}

#[tokio::test]
async fn invalid_from_in_the_header() {
    let input = header(&format!("{} from='@@bad'", good_attrs()));
    raw_input_gives(input.as_bytes(), "invalid-from").await;
}

#[tokio::test]
async fn invalid_from_on_a_stanza_after_login() {
    after_login_gives(
        "alice",
        "<message from='someoneelse@localhost' to='bob@localhost' type='chat'><body>spoofed</body></message>",
        "invalid-from",
    )
    .await;
}

#[tokio::test]
async fn host_unknown() {
    let input = header(&format!("xmlns='jabber:client' xmlns:stream='{STREAMS_NS}' to='nosuch.example' version='1.0'"));
    raw_input_gives(input.as_bytes(), "host-unknown").await;
}

#[tokio::test]
async fn improper_addressing_without_to() {
    let input = header(&format!("xmlns='jabber:client' xmlns:stream='{STREAMS_NS}' version='1.0'"));
    raw_input_gives(input.as_bytes(), "improper-addressing").await;
}

#[tokio::test]
async fn not_authorized_message_before_auth() {
    after_open_gives("<message to='alice@localhost' type='chat'><body>hi</body></message>", "not-authorized").await;
}

#[tokio::test]
async fn not_authorized_iq_after_tls_before_auth() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::connect_tls(s).await;
    c.send("<iq type='get' id='x' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>").await;
    c.expect_stream_error("not-authorized").await;
}

#[tokio::test]
async fn not_well_formed_mismatched_tags() {
    after_open_gives("<message><body>x</message>", "not-well-formed").await;
}

#[tokio::test]
async fn not_well_formed_undefined_entity() {
    after_open_gives("<message><body>&nosuch;</body></message>", "not-well-formed").await;
}

#[tokio::test]
async fn policy_violation_stanza_over_max_stanza_bytes() {
    // Whole, so the server reads all of it before answering (no reset).
    let body = "x".repeat(6000);
    after_open_gives(&format!("<message to='alice@localhost'><body>{body}</body></message>"), "policy-violation").await;
}

#[tokio::test]
async fn policy_violation_endless_stanza_is_cut_off() {
    // Far more than the limit, never finished: the server must answer without waiting for the end.
    let body = "y".repeat(64 * 1024);
    after_open_gives(&format!("<message to='alice@localhost'><body>{body}"), "policy-violation").await;
}

#[tokio::test]
async fn policy_violation_nesting_deeper_than_max_depth() {
    let open: String = (0..12).map(|i| format!("<x{i}>")).collect();
    let close: String = (0..12).rev().map(|i| format!("</x{i}>")).collect();
    after_open_gives(&format!("<message to='alice@localhost'>{open}{close}</message>"), "policy-violation").await;
}

#[tokio::test]
async fn policy_violation_too_many_attributes() {
    let attrs: String = (0..12).map(|i| format!(" a{i}='{i}'")).collect();
    after_open_gives(&format!("<message{attrs}/>"), "policy-violation").await;
}

#[tokio::test]
async fn restricted_xml_comment() {
    after_open_gives("<!-- a comment -->", "restricted-xml").await;
}

#[tokio::test]
async fn restricted_xml_processing_instruction() {
    after_open_gives("<?php echo 1; ?>", "restricted-xml").await;
}

#[tokio::test]
async fn restricted_xml_doctype() {
    let input = format!("<?xml version='1.0'?><!DOCTYPE stream [<!ENTITY a 'b'>]>{}", header(&good_attrs()));
    raw_input_gives(input.as_bytes(), "restricted-xml").await;
}

#[tokio::test]
async fn restricted_xml_comment_inside_a_stanza() {
    after_open_gives("<message to='alice@localhost'><!-- hidden --><body>x</body></message>", "restricted-xml").await;
}

#[tokio::test]
async fn unsupported_encoding_declared() {
    let input = format!("<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream {}>", good_attrs());
    raw_input_gives(input.as_bytes(), "unsupported-encoding").await;
}

#[tokio::test]
async fn unsupported_encoding_utf16() {
    let text = format!("\u{feff}<?xml version='1.0'?><stream:stream {}>", good_attrs());
    let bytes: Vec<u8> = text.encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
    raw_input_gives(&bytes, "unsupported-encoding").await;
}

#[tokio::test]
async fn unsupported_stanza_type_after_login() {
    after_login_gives("bob", "<foo xmlns='jabber:client'/>", "unsupported-stanza-type").await;
}

#[tokio::test]
async fn unsupported_version_missing() {
    let input = header(&format!("xmlns='jabber:client' xmlns:stream='{STREAMS_NS}' to='localhost'"));
    raw_input_gives(input.as_bytes(), "unsupported-version").await;
}

#[tokio::test]
async fn unsupported_version_0_9() {
    let input = header(&format!("xmlns='jabber:client' xmlns:stream='{STREAMS_NS}' to='localhost' version='0.9'"));
    raw_input_gives(input.as_bytes(), "unsupported-version").await;
}

#[tokio::test]
async fn conflict_goes_to_the_older_connection() {
    let s = server();
    let _log = s.log_on_panic();
    let mut older = RawClient::login_with(s, "carol", PW, Mech::ScramSha256, Some("desk")).await;
    let mut newer = RawClient::login_with(s, "carol", PW, Mech::ScramSha256, Some("desk")).await;
    assert_eq!(older.jid, newer.jid);
    older.expect_stream_error("conflict").await;
    // The newer one took the resource over and works.
    let pong = newer.iq("get", Some("localhost"), "<ping xmlns='urn:xmpp:ping'/>").await;
    assert_eq!(pong.attr("type"), Some("result"), "{pong}");
}

#[tokio::test]
async fn closing_the_stream_is_answered_in_kind() {
    let s = server();
    let _log = s.log_on_panic();
    let c = RawClient::login(s, "alice", PW).await;
    c.close().await;
    // Before authentication too.
    let mut c = RawClient::connect(s).await;
    c.open_stream("localhost").await;
    c.close().await;
}

#[tokio::test]
async fn stream_error_before_our_header_comes_after_the_servers_header() {
    // An error found in the client's first bytes still needs the server's own header first.
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::connect(s).await;
    c.send(&header(&format!("xmlns='jabber:client' xmlns:stream='{STREAMS_NS}' to='nosuch.example' version='1.0'")))
        .await;
    let text = c.read_to_close(waxwing_tests::TIMEOUT).await;
    let frames = waxwing_tests::frames::split_all(&text);
    let header_pos = frames.iter().position(|f| matches!(f, waxwing_tests::Frame::Header(_)));
    let error_pos =
        frames.iter().position(|f| matches!(f, waxwing_tests::Frame::Element(e) if e.starts_with("<stream:error")));
    assert!(
        matches!((header_pos, error_pos), (Some(h), Some(e)) if h < e),
        "expected the server's header, then the error: {frames:?}"
    );
}

#[tokio::test]
async fn header_domain_is_prepared() {
    // RFC 7622: domains compare case-insensitively; the server answers as its own name.
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::connect(s).await;
    c.send(&RawClient::header_for("LocalHost")).await;
    let h = c.read_server_header().await;
    assert!(h.contains("from='localhost'") || h.contains("from=\"localhost\""), "{h}");
    let f = c.next_element().await;
    assert!(f.is("features", STREAMS_NS), "{f}");
}

#[tokio::test]
async fn not_authorized_message_after_auth_before_bind() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::connect_tls(s).await;
    c.auth(Mech::ScramSha256, "alice", PW).await.unwrap_or_else(|f| panic!("{f}"));
    c.open_stream("localhost").await;
    c.send("<message to='bob@localhost' type='chat'><body>unbound</body></message>").await;
    c.expect_stream_error("not-authorized").await;
}

#[tokio::test]
async fn not_well_formed_after_login() {
    after_login_gives("alice", "<message to='bob@localhost'><body>x</message>", "not-well-formed").await;
}

#[tokio::test]
async fn policy_violation_after_login() {
    let body = "z".repeat(6000);
    after_login_gives(
        "bob",
        &format!("<message to='alice@localhost'><body>{body}</body></message>"),
        "policy-violation",
    )
    .await;
}

#[tokio::test]
async fn restricted_xml_after_login() {
    after_login_gives("alice", "<!-- a comment -->", "restricted-xml").await;
}

#[tokio::test]
async fn bad_format_text_after_login() {
    after_login_gives("bob", "stray text<presence/>", "bad-format").await;
}

#[tokio::test]
async fn resource_constraint_when_the_host_is_full() {
    let s = Server::start("[quotas]\nconnections = 2\n");
    let mut one = RawClient::connect(&s).await;
    one.open_stream("localhost").await;
    let mut two = RawClient::connect(&s).await;
    two.open_stream("localhost").await;
    let mut three = RawClient::connect(&s).await;
    three.send(&RawClient::header_for("localhost")).await;
    three.expect_stream_error("resource-constraint").await;
    // A place frees up when a connection ends.
    one.close().await;
    let mut four = RawClient::connect(&s).await;
    four.open_stream("localhost").await;
    two.close().await;
    four.close().await;
}

#[tokio::test]
async fn utf8_byte_order_mark_and_declared_utf8_are_accepted() {
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::connect(s).await;
    let header =
        RawClient::header_for("localhost").replace("<?xml version='1.0'?>", "<?xml version='1.0' encoding='utf-8'?>");
    c.send(&format!("\u{feff}{header}")).await;
    c.read_server_header().await;
    let f = c.next_element().await;
    assert!(f.is("features", STREAMS_NS), "{f}");
}

#[tokio::test]
async fn every_stream_gets_a_fresh_id() {
    fn id_of(header: &str) -> String {
        let start =
            header.find(" id='").or_else(|| header.find(" id=\"")).unwrap_or_else(|| panic!("no id: {header}")) + 5;
        header[start..].chars().take_while(|c| *c != '\'' && *c != '"').collect()
    }
    let s = server();
    let _log = s.log_on_panic();
    let mut c = RawClient::connect(s).await;
    c.send(&RawClient::header_for("localhost")).await;
    let first = id_of(&c.read_server_header().await);
    c.next_element().await;
    c.starttls().await;
    c.send(&RawClient::header_for("localhost")).await;
    let second = id_of(&c.read_server_header().await);
    assert!(first.len() >= 8, "a short stream id: {first:?}");
    assert_ne!(first, second, "the stream id was reused after STARTTLS");
}
