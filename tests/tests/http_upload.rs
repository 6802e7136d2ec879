//! HTTP File Upload (XEP-0363) end to end: a client finds `upload.localhost`,
//! asks for a slot over XMPP, PUTs the file to the kernel's HTTP listener
//! and anyone GETs it back; every way a request or a PUT can be wrong gets
//! its error, and a wrong PUT never spoils the slot for the right one.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::time::timeout;
use waxwing_tests::{Element, Mech, RawClient, Server, shared_listening, stanza_error_condition, stanza_error_type};

const PW: &str = "upload-pw";
const NS: &str = "urn:xmpp:http:upload:0";
const SERVICE: &str = "upload.localhost";
const MAX: u64 = 4096;
const QUOTA: u64 = 10_000;

/// The upload plugin on `localhost`, with plain HTTP only so that URLs are
/// `http://localhost:<port>`.
fn vhost(slot_valid_secs: u32) -> String {
    format!(
        "[[vhost]]\ndomain = \"localhost\"\n\
         [[vhost.plugin]]\nname = \"disco\"\n\
         [[vhost.plugin]]\nname = \"http_upload\"\ngrants = [\"kv\", \"uploads\"]\n\
         [vhost.plugin.config]\nmax_file_size = {MAX}\nquota = {QUOTA}\nslot_valid_secs = {slot_valid_secs}\n"
    )
}

fn server() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    shared_listening(
        &S,
        "https = []",
        &vhost(300),
        &[
            ("ann@localhost", PW),
            ("bo@localhost", PW),
            ("cy@localhost", PW),
            ("dee@localhost", PW),
            ("eve@localhost", PW),
        ],
    )
}

async fn login(s: &Server, user: &str) -> RawClient {
    RawClient::login_with(s, &format!("{user}@localhost"), PW, Mech::ScramSha256, Some("up")).await
}

fn request(name: &str, size: u64, content_type: &str) -> String {
    format!("<request xmlns='{NS}' filename='{name}' size='{size}' content-type='{content_type}'/>")
}

/// (PUT URL, GET URL) of a granted slot.
async fn slot(c: &mut RawClient, name: &str, size: u64, content_type: &str) -> (String, String) {
    let r = c.iq("get", Some(SERVICE), &request(name, size, content_type)).await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    let slot = r.child("slot", NS).unwrap_or_else(|| panic!("no slot: {r}"));
    let url = |n: &str| slot.child(n, NS).and_then(|e| e.attr("url")).map(str::to_string).unwrap();
    (url("put"), url("get"))
}

struct Answer {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

/// The listener and the path of an `http://localhost:<port>/...` URL.
fn split(url: &str) -> (SocketAddr, String) {
    let rest = url.strip_prefix("http://localhost:").unwrap_or_else(|| panic!("not a plain local URL: {url}"));
    let (port, path) = rest.split_once('/').unwrap();
    (format!("127.0.0.1:{port}").parse().unwrap(), format!("/{path}"))
}

/// One request on its own connection; `head` is extra header lines.
async fn http(method: &str, url: &str, head: &str, body: &[u8]) -> Answer {
    let (addr, path) = split(url);
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{head}\r\n");
    tcp.write_all(req.as_bytes()).await.unwrap();
    tcp.write_all(body).await.unwrap();
    let mut out = Vec::new();
    timeout(Duration::from_secs(15), tcp.read_to_end(&mut out)).await.expect("an HTTP answer in time").unwrap();
    let split_at = out.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete HTTP head");
    let head = String::from_utf8_lossy(&out[..split_at]).to_string();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Answer { status, headers: head.to_ascii_lowercase(), body: out[split_at + 4..].to_vec() }
}

async fn put(url: &str, content_type: &str, body: &[u8]) -> Answer {
    let ct = if content_type.is_empty() { String::new() } else { format!("Content-Type: {content_type}\r\n") };
    http("PUT", url, &format!("{ct}Content-Length: {}\r\n", body.len()), body).await
}

#[tokio::test]
async fn a_file_goes_up_and_anyone_with_the_url_gets_it() {
    let s = server();
    let _log = s.log_on_panic();
    let mut ann = login(s, "ann").await;

    // Discovery (§3): the host lists the service; its info carries the limit.
    let items = ann.iq("get", Some("localhost"), "<query xmlns='http://jabber.org/protocol/disco#items'/>").await;
    assert!(
        items.to_xml().contains(&format!("jid='{SERVICE}'")) || items.to_xml().contains(&format!("jid=\"{SERVICE}\"")),
        "{items}"
    );
    let info = ann.iq("get", Some(SERVICE), "<query xmlns='http://jabber.org/protocol/disco#info'/>").await;
    let xml = info.to_xml();
    assert!(xml.contains(NS) && xml.contains("max-file-size") && xml.contains(&MAX.to_string()), "{xml}");

    let file = b"Dear Bo,\nthe file is whole.\n".repeat(10);
    let (put_url, get_url) = slot(&mut ann, "letter 1.txt", file.len() as u64, "text/plain").await;
    assert!(get_url.ends_with("/letter%201.txt"), "{get_url}");
    assert!(put_url.starts_with(&get_url) && put_url.contains("token="), "{put_url}");

    // Not yet uploaded: nothing to get.
    assert_eq!(http("GET", &get_url, "", b"").await.status, 404);
    // The GET URL (what recipients see) cannot upload.
    assert_eq!(put(&get_url, "text/plain", &file).await.status, 403);
    let forged = put_url.replace("token=", "token=AAAA");
    assert_eq!(put(&forged, "text/plain", &file).await.status, 403);

    let a = put(&put_url, "text/plain; charset=utf-8", &file).await;
    assert_eq!(a.status, 201, "{}", String::from_utf8_lossy(&a.body));
    // Once only.
    assert_eq!(put(&put_url, "text/plain", &file).await.status, 409);

    let got = http("GET", &get_url, "", b"").await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, file);
    for h in [
        "content-type: text/plain",
        &format!("content-length: {}", file.len()),
        "x-content-type-options: nosniff",
        "content-security-policy: default-src 'none'",
        "content-disposition: inline; filename*=utf-8''letter%201.txt",
        "access-control-allow-origin: *",
    ] {
        assert!(got.headers.contains(h), "{h} in {}", got.headers);
    }
    // Caches keep it no longer than the server does (7 days by default).
    let max_age: u64 = got
        .headers
        .split("cache-control: public, max-age=")
        .nth(1)
        .and_then(|v| v.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no max-age in {}", got.headers));
    assert!(max_age > 6 * 24 * 3600 && max_age <= 7 * 24 * 3600, "{max_age}");
    let head = http("HEAD", &get_url, "", b"").await;
    assert_eq!(head.status, 200);
    assert!(head.headers.contains(&format!("content-length: {}", file.len())), "{}", head.headers);
    assert!(head.body.is_empty());
    // An empty file is a file.
    let (put_empty, get_empty) = slot(&mut ann, "empty.txt", 0, "text/plain").await;
    assert_eq!(put(&put_empty, "text/plain", b"").await.status, 201);
    let empty = http("GET", &get_empty, "", b"").await;
    assert_eq!((empty.status, empty.body.len()), (200, 0));
    // The id alone is not enough: the name must match too.
    assert_eq!(http("GET", &get_url.replace("letter%201.txt", "other.txt"), "", b"").await.status, 404);
    s.assert_no_plugin_failures();
}

#[tokio::test]
async fn a_wrong_put_is_refused_and_leaves_the_slot_for_the_right_one() {
    let s = server();
    let _log = s.log_on_panic();
    let mut bo = login(s, "bo").await;
    let file = vec![7u8; 1000];
    let (put_url, get_url) = slot(&mut bo, "blob.bin", 1000, "application/octet-stream").await;

    let short = put(&put_url, "application/octet-stream", &file[..999]).await;
    assert_eq!(short.status, 400, "{}", String::from_utf8_lossy(&short.body));
    assert!(String::from_utf8_lossy(&short.body).contains("exactly 1000 bytes"));
    assert_eq!(put(&put_url, "application/octet-stream", &[file.clone(), vec![1]].concat()).await.status, 413);
    let typed = put(&put_url, "text/html", &file).await;
    assert_eq!(typed.status, 400);
    assert!(String::from_utf8_lossy(&typed.body).contains("Content-Type"));
    let chunked =
        http("PUT", &put_url, "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n", b"3e8\r\n")
            .await;
    assert_eq!(chunked.status, 411);

    // A client that promises 1000 bytes, sends 10 and hangs up.
    let (addr, path) = split(&put_url);
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n"
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(&file[..10]).await.unwrap();
    drop(tcp);

    // None of it left a file, and the slot still takes the real upload.
    assert_eq!(http("GET", &get_url, "", b"").await.status, 404);
    let mut ok = put(&put_url, "application/octet-stream", &file).await;
    for _ in 0..50 {
        // The hung-up PUT may still hold the slot for a moment.
        if ok.status != 409 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        ok = put(&put_url, "application/octet-stream", &file).await;
    }
    assert_eq!(ok.status, 201);
    assert_eq!(http("GET", &get_url, "", b"").await.body, file);
    // Unknown ids and paths outside the files are not found.
    let (addr, _) = split(&get_url);
    let base = format!("http://localhost:{}", addr.port());
    for p in ["/upload/nope/blob.bin", "/upload/..%2F..%2Fdb/CURRENT", "/upload/x"] {
        assert_eq!(http("GET", &format!("{base}{p}"), "", b"").await.status, 404, "{p}");
    }
}

#[tokio::test]
async fn slot_requests_beyond_the_limits_get_the_xeps_errors() {
    let s = server();
    let _log = s.log_on_panic();
    let mut cy = login(s, "cy").await;

    let r = cy.iq("get", Some(SERVICE), &request("huge.iso", MAX + 1, "")).await;
    assert_eq!(stanza_error_condition(&r).as_deref(), Some("not-acceptable"), "{r}");
    let max = r
        .child("error", "jabber:client")
        .and_then(|e| e.child("file-too-large", NS))
        .and_then(|f| f.child("max-file-size", NS));
    assert_eq!(max.map(Element::text), Some(MAX.to_string()), "{r}");

    for bad in [
        format!("<request xmlns='{NS}' filename='a/b' size='10'/>"),
        format!("<request xmlns='{NS}' filename='a' size='many'/>"),
        format!("<request xmlns='{NS}' size='10'/>"),
        format!("<request xmlns='{NS}' filename='a' size='10' content-type='no type'/>"),
    ] {
        let r = cy.iq("get", Some(SERVICE), &bad).await;
        assert_eq!(stanza_error_condition(&r).as_deref(), Some("bad-request"), "{bad}: {r}");
    }

    // The quota: 10000 bytes at once; slots count as soon as granted.
    for i in 0..2 {
        slot(&mut cy, &format!("part{i}"), MAX, "").await;
    }
    let r = cy.iq("get", Some(SERVICE), &request("part2", MAX, "")).await;
    assert_eq!(stanza_error_condition(&r).as_deref(), Some("resource-constraint"), "{r}");
    assert_eq!(stanza_error_type(&r).as_deref(), Some("wait"), "{r}");
    assert!(
        r.child("error", "jabber:client").and_then(|e| e.child("retry", NS)).and_then(|e| e.attr("stamp")).is_some(),
        "{r}"
    );
    // What still fits is granted.
    slot(&mut cy, "small", QUOTA - 2 * MAX, "").await;
    // A set is not how slots are asked for.
    let r = cy.iq("set", Some(SERVICE), &request("x", 1, "")).await;
    assert_eq!(stanza_error_condition(&r).as_deref(), Some("service-unavailable"), "{r}");
}

#[tokio::test]
async fn browsers_may_put_across_origins() {
    let s = server();
    let mut dee = login(s, "dee").await;
    let (put_url, _) = slot(&mut dee, "pic.png", 3, "image/png").await;
    let pre = http(
        "OPTIONS",
        &put_url,
        "Origin: http://chat.example\r\nAccess-Control-Request-Method: PUT\r\nAccess-Control-Request-Headers: content-type\r\n",
        b"",
    )
    .await;
    assert!(pre.status == 204 || pre.status == 200, "{}", pre.status);
    assert!(pre.headers.contains("access-control-allow-methods: get, head, post, put, options"), "{}", pre.headers);
    assert!(pre.headers.contains("access-control-allow-origin: *"), "{}", pre.headers);
}

#[tokio::test]
async fn deleting_an_account_deletes_its_files() {
    let s = server();
    let _log = s.log_on_panic();
    let mut eve = login(s, "eve").await;
    let (put_url, get_url) = slot(&mut eve, "gone.txt", 4, "text/plain").await;
    assert_eq!(put(&put_url, "text/plain", b"bye\n").await.status, 201);
    assert_eq!(http("GET", &get_url, "", b"").await.status, 200);
    let out = s.cli(&["user", "del", "eve@localhost"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut status = 200;
    for _ in 0..100 {
        status = http("GET", &get_url, "", b"").await.status;
        if status == 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, 404, "the file outlived its account");
}

#[tokio::test]
async fn an_expired_slot_refuses_its_put() {
    let s = Server::configure_listening("https = []", &vhost(1));
    let mut s = s;
    s.launch();
    s.add_users(&[("fay@localhost", PW)]);
    let _log = s.log_on_panic();
    let mut fay = login(&s, "fay").await;
    let (put_url, get_url) = slot(&mut fay, "late.txt", 2, "").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let a = put(&put_url, "", b"hi").await;
    assert_eq!(a.status, 403);
    assert!(String::from_utf8_lossy(&a.body).contains("expired"));
    assert_eq!(http("GET", &get_url, "", b"").await.status, 404);
}

#[tokio::test]
async fn without_the_grant_no_slot_is_given_and_the_log_says_why() {
    let config = "[[vhost]]\ndomain = \"localhost\"\n[[vhost.plugin]]\nname = \"http_upload\"\ngrants = [\"kv\"]\n";
    let mut s = Server::configure_listening("https = []", config);
    s.launch();
    s.add_users(&[("gus@localhost", PW)]);
    let mut gus = login(&s, "gus").await;
    let r = gus.iq("get", Some(SERVICE), &request("a.txt", 2, "")).await;
    assert_eq!(stanza_error_condition(&r).as_deref(), Some("service-unavailable"), "{r}");
    assert!(s.log_text().contains("capability 'uploads' not granted"), "{}", s.log_tail(20));
}
