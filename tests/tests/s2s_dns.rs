//! Finding another server through DNS (RFC 6120 §3.2, XEP-0368): SRV
//! records for STARTTLS and direct TLS, a "." target that says no service,
//! and a domain DNS does not know. The DNS server is the test's own, on
//! loopback, named to Waxwing by `s2s.dns_server`.

use std::net::SocketAddr;

use hickory_proto::rr::RecordType;
use waxwing_tests::dns::{Zone, a_record, server as dns_server, srv};
use waxwing_tests::{Mech, RawClient, Server, body, stanza_error_condition};

const PW: &str = "s2s-dns-pw";

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

/// A server for `domain`: s2s on `own` (and direct TLS on `own_tls`), DNS
/// at `dns`, and static routes for the peers that need one.
fn server(
    domain: &str,
    own: SocketAddr,
    own_tls: Option<SocketAddr>,
    dns: SocketAddr,
    routes: &[(&str, SocketAddr)],
) -> Server {
    let tls = own_tls.map(|a| format!("\ns2s_direct_tls = [\"{a}\"]")).unwrap_or_default();
    let routes: Vec<String> = routes.iter().map(|(d, a)| format!("\"{d}\" = \"{a}\"")).collect();
    let mut s = Server::configure_listening(
        &format!("s2s = [\"{own}\"]{tls}"),
        &format!(
            "[s2s]\ndns_server = \"{dns}\"\nconnect_timeout_secs = 5\nroutes = {{ {} }}\n[[vhost]]\ndomain = \"{domain}\"\n",
            routes.join(", ")
        ),
    );
    s.launch();
    s
}

async fn login(server: &Server, jid: &str) -> RawClient {
    let domain = jid.split('@').nth(1).unwrap();
    let mut c = RawClient::connect_to(server.c2s_addr(), &server.cert_of(domain)).await;
    c.authenticate_and_bind(jid, PW, Mech::ScramSha256, Some("t")).await;
    c
}

#[tokio::test]
async fn srv_records_lead_to_the_peer_over_starttls_and_direct_tls() {
    let (pa, pb, pc, pc_tls) = (free_addr(), free_addr(), free_addr(), free_addr());
    let mut zone = Zone::new();
    zone.insert(("_xmpp-server._tcp.b.test.".into(), RecordType::SRV), vec![srv(pb.port(), "xmpp.b.test.")]);
    zone.insert(("xmpp.b.test.".into(), RecordType::A), vec![a_record()]);
    // c.test offers direct TLS first, and STARTTLS on a port nobody listens on.
    zone.insert(("_xmpps-server._tcp.c.test.".into(), RecordType::SRV), vec![srv(pc_tls.port(), "xmpp.c.test.")]);
    zone.insert(("_xmpp-server._tcp.c.test.".into(), RecordType::SRV), vec![srv(free_addr().port(), "xmpp.c.test.")]);
    zone.insert(("xmpp.c.test.".into(), RecordType::A), vec![a_record()]);
    let dns = dns_server(zone).await;
    // a.test finds b.test and c.test through DNS; they reach a.test (for
    // dialback) through a static route.
    let a = server("a.test", pa, None, dns, &[]);
    let b = server("b.test", pb, None, dns, &[("a.test", pa)]);
    let c = server("c.test", pc, Some(pc_tls), dns, &[("a.test", pa)]);
    let (_la, _lb, _lc) = (a.log_on_panic(), b.log_on_panic(), c.log_on_panic());
    a.add_user("alice@a.test", PW);
    b.add_user("bob@b.test", PW);
    c.add_user("carol@c.test", PW);
    let mut bob = login(&b, "bob@b.test").await;
    bob.available(0).await;
    let mut carol = login(&c, "carol@c.test").await;
    carol.available(0).await;
    let mut alice = login(&a, "alice@a.test").await;
    alice.send("<message to='bob@b.test' type='chat'><body>found you by SRV</body></message>").await;
    assert_eq!(body(&bob.next_message().await), "found you by SRV");
    alice.send("<message to='carol@c.test' type='chat'><body>found you by xmpps SRV</body></message>").await;
    assert_eq!(body(&carol.next_message().await), "found you by xmpps SRV");
}

#[tokio::test]
async fn a_domain_without_the_service_or_unknown_to_dns_bounces_promptly() {
    let mut zone = Zone::new();
    // RFC 6120 §3.2.1: a lone "." target means "no XMPP service here".
    zone.insert(("_xmpp-server._tcp.none.test.".into(), RecordType::SRV), vec![srv(0, ".")]);
    let dns = dns_server(zone).await;
    let a = server("a.test", free_addr(), None, dns, &[]);
    let _la = a.log_on_panic();
    a.add_user("alice@a.test", PW);
    let mut alice = login(&a, "alice@a.test").await;
    for to in ["x@none.test", "x@unknown.test"] {
        alice.send(&format!("<message to='{to}' id='m' type='chat'><body>hello?</body></message>")).await;
        let err = alice.next_where("the bounce", |e| e.name == "message" && e.attr("type") == Some("error")).await;
        assert_eq!(err.attr("from"), Some(to));
        assert_eq!(stanza_error_condition(&err).as_deref(), Some("remote-server-not-found"), "{err}");
    }
}
