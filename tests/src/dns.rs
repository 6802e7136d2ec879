//! A DNS server on loopback answering from a fixed zone, for the tests
//! that point Waxwing's resolver at it (`[s2s] dns_server`): finding peers
//! by SRV, and `waxwing check dns`.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, SRV};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::net::UdpSocket;

pub type Zone = HashMap<(String, RecordType), Vec<RData>>;

/// Answers from `zone`; a name it does not hold at all is NXDOMAIN.
pub async fn server(zone: Zone) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("binding the DNS socket");
    let addr = socket.local_addr().expect("the DNS socket's address");
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buf).await else { return };
            let Ok(query) = Message::from_vec(&buf[..n]) else { continue };
            let mut reply = Message::new();
            reply.set_id(query.id()).set_message_type(MessageType::Response).set_recursion_available(true);
            reply.set_authoritative(true);
            for q in query.queries() {
                reply.add_query(q.clone());
                let name = q.name().to_ascii().to_ascii_lowercase();
                match zone.get(&(name.clone(), q.query_type())) {
                    Some(rdatas) => {
                        for r in rdatas {
                            reply.add_answer(Record::from_rdata(q.name().clone(), 60, r.clone()));
                        }
                    }
                    None if zone.keys().any(|(n, _)| *n == name) => {}
                    None => {
                        reply.set_response_code(ResponseCode::NXDomain);
                    }
                }
            }
            if let Ok(bytes) = reply.to_vec() {
                let _ = socket.send_to(&bytes, from).await;
            }
        }
    });
    addr
}

pub fn srv(port: u16, target: &str) -> RData {
    RData::SRV(SRV::new(0, 5, port, Name::from_str(target).expect("a DNS name")))
}

pub fn a_record() -> RData {
    RData::A(A(Ipv4Addr::LOCALHOST))
}
