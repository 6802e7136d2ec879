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

/// After TLS: SASL, and what plugins offer before authentication (XEP-0077).
pub fn sasl(mechanisms: &[Mechanism], exporter: bool, plugin_features: &[String]) -> String {
    let mut out = String::from("<stream:features>");
    push_mechanisms(&mut out, mechanisms);
    for f in plugin_features {
        out.push_str(f);
    }
    if exporter {
        // XEP-0440: say which channel binding types -PLUS can use here.
        out.push_str("<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-exporter'/></sasl-channel-binding>");
    }
    out.push_str("</stream:features>");
    out
}

/// Where XEP-0115 says the server's capabilities are: this node, with the
/// `ver` of the host's disco#info.
pub const CAPS_NODE: &str = "https://waxwing.im";

/// After authentication: binding, the legacy session, the plugins' stream
/// features (roster versioning, pre-approval) and the host's XEP-0115 caps.
pub fn bind(plugin_features: &[String], caps_ver: Option<&str>) -> String {
    let mut out =
        format!("<stream:features><bind xmlns='{}'/><session xmlns='{}'><optional/></session>", ns::BIND, ns::SESSION);
    for f in plugin_features {
        out.push_str(f);
    }
    if let Some(ver) = caps_ver {
        out.push_str(&format!("<c xmlns='{}' hash='sha-1' node='{CAPS_NODE}' ver='", ns::CAPS));
        // base64 has no XML specials but '+', '/' and '=': safe in an attribute.
        out.push_str(ver);
        out.push_str("'/>");
    }
    out.push_str("</stream:features>");
    out
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
