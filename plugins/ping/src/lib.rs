//! XEP-0199: the server answers a ping addressed to it, or to an account's
//! bare JID (which the server answers on the account's behalf, RFC 6121
//! §8.5.2.1.3; a client pinging without `to` lands here), with an empty result.

use waxwing_sdk::prelude::*;

struct Ping;

impl Plugin for Ping {
    fn describe() -> Describe {
        Describe::new("ping", env!("CARGO_PKG_VERSION"))
            .feature(ns::PING)
            .route(Route::iq_get().payload(ns::PING, "ping").to_each([Address::Host, Address::Bare]))
    }

    fn on_iq(iq: Iq) -> Handled {
        iq.reply_empty()
    }
}

waxwing_sdk::export_plugin!(Ping);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_with_an_empty_result() {
        let xml = "<iq xmlns='jabber:client' type='get' id='p' from='u@h/r'><ping xmlns='urn:xmpp:ping'/></iq>";
        let iq = Iq(Stanza::from_xml(xml, Address::Host, "h").unwrap());
        let Ok(Outcome::Reply(reply)) = Ping::on_iq(iq) else { panic!("expected a reply") };
        assert_eq!(reply.to_xml_in(ns::CLIENT), "<iq from='h' to='u@h/r' id='p' type='result'/>");
        let routes = Ping::describe().into_wit().routes;
        assert_eq!(routes.iter().map(|r| r.to).collect::<Vec<_>>(), vec![Address::Host, Address::Bare]);
        assert!(routes.iter().all(|r| r.payload_name == "ping" && r.types == [StanzaType::Get]));
    }
}
