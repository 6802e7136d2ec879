//! The XML on every stanza's path: the incremental stream reader (bytes of an
//! open stream to complete elements) and `Element::parse` / serialisation of
//! three typical stanzas: a chat message, a presence with entity caps, and a
//! roster result of 50 items.
//!
//! `cargo bench -p waxwing --bench parser --profile dev` (the dev profile
//! optimises the kernel and the XML crate; see the workspace Cargo.toml).
//! Criterion keeps the last run in `target/criterion` and prints the change
//! against it; `-- --save-baseline main` / `-- --baseline main` compare
//! against a named run.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use waxwing::xml::{StreamEvent, StreamLimits, StreamReader};
use waxwing_xml::{Element, ns};

const MESSAGE: &str = "<message xmlns='jabber:client' to='juliet@localhost/balcony' id='ktx72v49' type='chat' \
     xml:lang='en'><body>Art thou not Romeo, and a Montague?</body>\
     <active xmlns='http://jabber.org/protocol/chatstates'/>\
     <request xmlns='urn:xmpp:receipts'/><origin-id xmlns='urn:xmpp:sid:0' id='de305d54-75b4-431b-adb2'/></message>";

const PRESENCE: &str = "<presence xmlns='jabber:client' from='romeo@localhost/orchard'>\
     <show>away</show><status>In the orchard</status><priority>5</priority>\
     <c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://gajim.org' \
     ver='QgayPKawpkPSDYmwT/WM94uAlu0='/>\
     <x xmlns='vcard-temp:x:update'><photo>01b87fcd030b72895ff8e88db57ec525450f000d</photo></x></presence>";

fn roster_result() -> String {
    let mut xml = String::from(
        "<iq xmlns='jabber:client' type='result' id='roster_1' to='romeo@localhost/orchard'>\
         <query xmlns='jabber:iq:roster' ver='ver14'>",
    );
    for i in 0..50 {
        xml.push_str(&format!(
            "<item jid='contact{i}@example.org' name='Contact &amp; friend {i}' subscription='both'>\
             <group>Friends</group></item>"
        ));
    }
    xml.push_str("</query></iq>");
    xml
}

const LIMITS: StreamLimits = StreamLimits { max_stanza_bytes: 262_144, max_depth: 32, max_attributes: 64 };

const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
     xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>";

/// Polls a future that never waits: a `&[u8]` source is always ready.
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// Reads an open stream of `count` copies of `stanza`; returns the stanzas read.
fn read_stream(bytes: &[u8], count: usize) -> usize {
    let mut reader = StreamReader::new(bytes, LIMITS);
    let mut n = 0;
    ready(async {
        match reader.next().await {
            Ok(StreamEvent::Open(_)) => {}
            other => panic!("expected the stream header, got {other:?}"),
        }
        while n < count {
            match reader.next().await {
                Ok(StreamEvent::Stanza(el)) => {
                    black_box(&el);
                    n += 1;
                }
                Ok(StreamEvent::Keepalive) => {}
                other => panic!("expected a stanza, got {other:?}"),
            }
        }
    });
    n
}

fn stream_reader(c: &mut Criterion) {
    const COUNT: usize = 100;
    let roster = roster_result();
    let mut group = c.benchmark_group("stream_reader");
    for (name, stanza) in [("message", MESSAGE), ("presence_caps", PRESENCE), ("roster_50", roster.as_str())] {
        let mut bytes = String::from(HEADER);
        for _ in 0..COUNT {
            bytes.push_str(stanza);
        }
        group.throughput(Throughput::Elements(COUNT as u64));
        group.bench_function(name, |b| b.iter(|| read_stream(black_box(bytes.as_bytes()), COUNT)));
    }
    group.finish();
}

fn element(c: &mut Criterion) {
    let roster = roster_result();
    let mut group = c.benchmark_group("element");
    for (name, stanza) in [("message", MESSAGE), ("presence_caps", PRESENCE), ("roster_50", roster.as_str())] {
        group.bench_function(format!("parse/{name}"), |b| b.iter(|| Element::parse(black_box(stanza))));
        let el = Element::parse(stanza).expect("a well-formed stanza");
        group.bench_function(format!("serialise/{name}"), |b| b.iter(|| black_box(&el).to_xml_in(ns::CLIENT)));
    }
    group.finish();
}

criterion_group!(benches, stream_reader, element);
criterion_main!(benches);
