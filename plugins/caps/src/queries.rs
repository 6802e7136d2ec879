//! The disco#info queries this plugin has in flight: at most one per `ver`,
//! so a thousand clients of one release cost one round trip. A query the
//! client never answers stops blocking its `ver` after `STALE_AFTER_MS`.

/// How long an unanswered query keeps others for the same `ver` from going out.
pub const STALE_AFTER_MS: u64 = 60_000;

/// Ids of our queries start with this, so results meant for other plugins
/// are passed on untouched.
pub const ID_PREFIX: &str = "caps-";

/// A query sent and not yet answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    /// The full JID asked; only its answer counts.
    pub asked: String,
    pub ver: String,
    pub sent_ms: u64,
}

impl Pending {
    /// `sent_ms\nasked\nver`; a full JID may hold no newline, a `ver` we keep
    /// holds none either (`Advertised::from_presence`).
    pub fn encode(&self) -> String {
        format!("{}\n{}\n{}", self.sent_ms, self.asked, self.ver)
    }

    pub fn decode(bytes: &[u8]) -> Option<Pending> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut parts = text.splitn(3, '\n');
        let sent_ms = parts.next()?.parse().ok()?;
        let (asked, ver) = (parts.next()?, parts.next()?);
        Some(Pending { asked: asked.to_owned(), ver: ver.to_owned(), sent_ms })
    }

    pub fn is_stale(&self, now_ms: u64) -> bool {
        now_ms.saturating_sub(self.sent_ms) >= STALE_AFTER_MS
    }
}

/// `mem` key: the query in flight for a `ver`, holding its id.
pub fn by_ver_key(ver: &str) -> String {
    format!("asking/{ver}")
}

/// `mem` key: a query by its iq id.
pub fn by_id_key(id: &str) -> String {
    format!("query/{id}")
}

/// A fresh iq id from random bytes.
pub fn new_id(random: &[u8]) -> String {
    let mut id = String::from(ID_PREFIX);
    for b in random {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_round_trips_and_goes_stale() {
        let p = Pending { asked: "a@h/r".into(), ver: "v=".into(), sent_ms: 1000 };
        assert_eq!(Pending::decode(p.encode().as_bytes()), Some(p.clone()));
        assert!(!p.is_stale(1000 + STALE_AFTER_MS - 1));
        assert!(p.is_stale(1000 + STALE_AFTER_MS));
        assert!(!p.is_stale(0), "a clock going backwards does not free the ver");
        assert_eq!(Pending::decode(b"notanumber\na\nb"), None);
        assert_eq!(Pending::decode(b"1\na"), None);
    }

    #[test]
    fn ids_are_prefixed_hex() {
        assert_eq!(new_id(&[0, 0xab, 0x10]), "caps-00ab10");
    }
}
