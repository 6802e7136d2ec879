//! XEP-0227 export and import of stored messages, for the server itself.
//!
//! Export: an iq `get` with XEP-0013's `<offline/>` from the host's own
//! domain (only the server sends one) answers every stored message of the
//! account, oldest first, each stamped with its arrival (XEP-0203), and
//! deletes none. From anyone else it is not taken (XEP-0013 itself is not
//! implemented).
//!
//! Import: a message routed to the account with a `<delay/>` from the host
//! (how servers write stored messages out) is kept as having arrived then,
//! without that delay, so it is redelivered with one stamp, the original.

use waxwing_sdk::prelude::*;
use waxwing_sdk::{domain, format_utc, ns, parse_client_xml};

use crate::storage::{self, Record};

pub const NS_OFFLINE: &str = "http://jabber.org/protocol/offline";

pub fn export(iq: &Iq) -> Handled {
    if iq.from() != domain() {
        return Ok(Outcome::Pass);
    }
    let host = domain();
    let mut all = Element::new("offline", NS_OFFLINE);
    for (key, value) in storage::load_all(waxwing_sdk::jid::bare(iq.to()))? {
        match Record::decode(&value).and_then(|r| stamped(&r, &host)) {
            Ok(m) => all.push_child(m),
            Err(why) => waxwing_sdk::log::warn(&format!("not exporting {}: {why}", String::from_utf8_lossy(&key))),
        }
    }
    iq.reply_with(all)
}

fn stamped(record: &Record, host: &str) -> Result<Element, String> {
    let mut m = parse_client_xml(&record.xml).map_err(|e| e.to_string())?;
    m.push_child(
        Element::new("delay", ns::DELAY).with_attr("from", host).with_attr("stamp", format_utc(record.arrived_ms)),
    );
    Ok(m)
}

/// When an imported message arrived: the stamp of its `<delay/>` from
/// `host`, which is taken out. `None` when it has none.
pub fn arrival(message: &mut Element, host: &str) -> Option<u64> {
    let i = message.children.iter().position(
        |n| matches!(n, waxwing_sdk::Node::Element(e) if e.is("delay", ns::DELAY) && e.attr("from") == Some(host)),
    )?;
    let waxwing_sdk::Node::Element(delay) = &message.children[i] else { return None };
    let ms = parse_utc(delay.attr("stamp")?)?;
    message.children.remove(i);
    Some(ms)
}

/// XEP-0082 DateTime (`2006-12-19T17:58:35Z`, fractions and offsets
/// allowed) as milliseconds since the epoch.
pub fn parse_utc(stamp: &str) -> Option<u64> {
    let b = stamp.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| stamp.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, s) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = &stamp[19..];
    let mut ms = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let first3: String = frac[..digits].chars().chain("000".chars()).take(3).collect();
        ms = first3.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset_s = match rest {
        "Z" => 0,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) && &rest[3..4] == ":" => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (rest[1..3].parse::<i64>().ok()? * 3600 + rest[4..6].parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m) = if mo <= 2 { (y - 1, mo + 9) } else { (y, mo - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + s - offset_s;
    u64::try_from(secs * 1000 + ms).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_parse_back() {
        for ms in [0, 1_166_551_115_000, 1_700_000_000_123, 4_102_444_800_000] {
            assert_eq!(parse_utc(&format_utc(ms)), Some(ms), "{}", format_utc(ms));
        }
        assert_eq!(parse_utc("2006-12-19T17:58:35Z"), Some(1_166_551_115_000));
        assert_eq!(parse_utc("2006-12-19T18:58:35.5+01:00"), Some(1_166_551_115_500));
        for bad in ["", "2006-12-19", "2006-13-19T17:58:35Z", "2006-12-19T17:58:35", "2006-12-19T17:58:35.Z"] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_hosts_delay_gives_the_arrival() {
        let mut m = parse_client_xml(
            "<message from='a@x' to='b@h'><body>hi</body><delay xmlns='urn:xmpp:delay' from='other' stamp='2001-01-01T00:00:00Z'/>\
             <delay xmlns='urn:xmpp:delay' from='h' stamp='2006-12-19T17:58:35Z'/></message>",
        )
        .unwrap();
        assert_eq!(arrival(&mut m, "h"), Some(1_166_551_115_000));
        assert_eq!(m.elements().filter(|e| e.name == "delay").count(), 1, "only the host's delay goes");
        assert_eq!(arrival(&mut m, "h"), None);
    }
}
