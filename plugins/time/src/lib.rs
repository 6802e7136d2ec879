//! XEP-0202: the server's time. The server keeps UTC, so the offset is `Z`.

use waxwing_sdk::prelude::*;

const NS: &str = "urn:xmpp:time";

struct Time;

impl Plugin for Time {
    fn describe() -> Describe {
        Describe::new("time", env!("CARGO_PKG_VERSION")).feature(NS).iq_get_host(NS, "time")
    }

    fn on_iq(iq: Iq) -> Handled {
        iq.reply_with(payload(waxwing_sdk::now_ms()))
    }
}

fn payload(now_ms: u64) -> Element {
    Element::new("time", NS)
        .with_child(Element::new("tzo", NS).with_text("Z"))
        .with_child(Element::new("utc", NS).with_text(waxwing_sdk::format_utc(now_ms)))
}

waxwing_sdk::export_plugin!(Time);

#[cfg(test)]
mod tests {
    use super::*;

    use waxwing_sdk::testing::FakeHost;

    #[test]
    fn answers_with_the_host_clock() {
        FakeHost::set_now_ms(1_166_551_115_000);
        let xml = "<iq xmlns='jabber:client' type='get' id='t' from='u@h/r'><time xmlns='urn:xmpp:time'/></iq>";
        let iq = Iq(Stanza::from_xml(xml, Address::Host, "h").unwrap());
        let Ok(Outcome::Reply(reply)) = Time::on_iq(iq) else { panic!("expected a reply") };
        let utc = reply.child("time", NS).and_then(|t| t.child("utc", NS)).map(Element::text);
        assert_eq!(utc.as_deref(), Some("2006-12-19T17:58:35.000Z"));
    }

    #[test]
    fn answers_in_utc() {
        assert_eq!(
            payload(1_166_551_115_000).to_xml(),
            "<time xmlns='urn:xmpp:time'><tzo>Z</tzo><utc>2006-12-19T17:58:35.000Z</utc></time>"
        );
    }
}
