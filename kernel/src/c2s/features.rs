//! `<stream:features/>` for each stage of negotiation (RFC 6120 §4.3.2).

use waxwing_xml::ns;

use crate::sasl::Mechanism;

pub fn before_tls(required: bool, mechanisms: &[Mechanism]) -> String {
    let mut out = String::from("<stream:features><starttls xmlns='");
    out.push_str(ns::TLS);
    if required {
        out.push_str("'><required/></starttls>");
    } else {
        out.push_str("'/>");
        push_mechanisms(&mut out, mechanisms);
    }
    out.push_str("</stream:features>");
    out
}

pub fn sasl(mechanisms: &[Mechanism], exporter: bool) -> String {
    let mut out = String::from("<stream:features>");
    push_mechanisms(&mut out, mechanisms);
    if exporter {
        // XEP-0440: say which channel binding types -PLUS can use here.
        out.push_str("<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-exporter'/></sasl-channel-binding>");
    }
    out.push_str("</stream:features>");
    out
}

pub fn bind() -> String {
    format!(
        "<stream:features><bind xmlns='{}'/><session xmlns='{}'><optional/></session></stream:features>",
        ns::BIND,
        ns::SESSION
    )
}

fn push_mechanisms(out: &mut String, mechanisms: &[Mechanism]) {
    if mechanisms.is_empty() {
        return;
    }
    out.push_str("<mechanisms xmlns='");
    out.push_str(ns::SASL);
    out.push_str("'>");
    for m in mechanisms {
        out.push_str("<mechanism>");
        out.push_str(m.name());
        out.push_str("</mechanism>");
    }
    out.push_str("</mechanisms>");
}
