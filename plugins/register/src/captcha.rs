//! XEP-0158 question-and-answer CAPTCHA: what a challenge remembers, and how
//! an answer is judged. Pure logic; `challenges` keeps them in `mem`.

/// XEP-0158's namespace, also the FORM_TYPE of a registration form that
/// carries a challenge.
pub const NS_CAPTCHA: &str = "urn:xmpp:captcha";

/// Random bytes in a challenge id: unguessable, so one client cannot answer
/// (and so burn) another's challenge.
pub const ID_BYTES: usize = 16;

/// What answers compare as: case and surrounding or repeated whitespace are
/// not what a question tests.
pub fn normalise(answer: &str) -> String {
    answer.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// The id a client echoes back in the form's `challenge` field.
pub fn id_from_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Ids come back from clients; only ones this plugin could have made are
/// used as `mem` keys.
pub fn is_well_formed_id(id: &str) -> bool {
    id.len() == ID_BYTES * 2 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// An issued challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub expires_at_ms: u64,
    /// Normalised accepted answers.
    pub answers: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    Passed,
    Wrong,
    Expired,
}

impl Challenge {
    /// `<expiry ms>` then one answer per line (normalised answers have no
    /// line breaks).
    pub fn encode(&self) -> String {
        let mut out = self.expires_at_ms.to_string();
        for a in &self.answers {
            out.push('\n');
            out.push_str(a);
        }
        out
    }

    /// `None` for anything `encode` did not write.
    pub fn decode(bytes: &[u8]) -> Option<Challenge> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut lines = text.split('\n');
        let expires_at_ms = lines.next()?.parse().ok()?;
        let answers: Vec<String> = lines.map(str::to_owned).collect();
        (!answers.is_empty()).then_some(Challenge { expires_at_ms, answers })
    }

    pub fn judge(&self, answer: &str, now_ms: u64) -> Judgement {
        if now_ms >= self.expires_at_ms {
            Judgement::Expired
        } else if self.answers.contains(&normalise(answer)) {
            Judgement::Passed
        } else {
            Judgement::Wrong
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge() -> Challenge {
        Challenge { expires_at_ms: 1_000, answers: vec!["four".into(), "4".into()] }
    }

    #[test]
    fn answers_compare_without_case_or_spacing() {
        assert_eq!(normalise("  Dark   Blue\t"), "dark blue");
        let c = challenge();
        assert_eq!(c.judge(" FOUR ", 999), Judgement::Passed);
        assert_eq!(c.judge("4", 0), Judgement::Passed);
        assert_eq!(c.judge("five", 0), Judgement::Wrong);
        assert_eq!(c.judge("", 0), Judgement::Wrong);
    }

    #[test]
    fn a_challenge_expires_at_its_deadline() {
        assert_eq!(challenge().judge("four", 1_000), Judgement::Expired);
        assert_eq!(challenge().judge("five", 5_000), Judgement::Expired);
    }

    #[test]
    fn encoding_round_trips_and_refuses_garbage() {
        let c = challenge();
        assert_eq!(Challenge::decode(c.encode().as_bytes()), Some(c));
        for bad in [&b""[..], b"12", b"x\nfour", b"\xff\xfe", b"-1\nfour"] {
            assert_eq!(Challenge::decode(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_ids_this_plugin_makes_are_well_formed() {
        let id = id_from_bytes(&[0xab; ID_BYTES]);
        assert_eq!(id.len(), 32);
        assert!(is_well_formed_id(&id));
        for bad in ["", "abc", &"g".repeat(32), &"AB".repeat(16), &"a".repeat(33), "../../../etc/passwd0000000000000"] {
            assert!(!is_well_formed_id(bad), "{bad:?}");
        }
    }
}
