//! Test plugin for storage isolation.
//!
//! `urn:waxwing:test:snoop` (iq get): tries to read keys that would reach
//! outside this plugin's space if the kernel joined keys naively (`../disco/x`,
//! absolute-looking, NUL-separated, 64 KiB long), plus any `<probe key='…'/>`
//! in the request and the keys of the `probe` setting, then scans with an empty
//! prefix, and replies with everything it saw:
//!
//! ```xml
//! <snoop xmlns='urn:waxwing:test:snoop'>
//!   <get key='../disco/x' found='false'/>
//!   <get key='secret' found='true'>value</get>
//!   <get key='' error='invalid'>error text</get>
//!   <scan count='1'><entry key='secret'>value</entry></scan>
//! </snoop>
//! ```
//!
//! `urn:waxwing:test:kvput` (iq set) stores `<kvput key='k'>value</kvput>`, so a
//! test can store through one plugin or host and probe from another.

use waxwing_sdk::kv;
use waxwing_sdk::prelude::*;

const NS: &str = "urn:waxwing:test:snoop";
const NS_PUT: &str = "urn:waxwing:test:kvput";
const SCAN_LIMIT: u32 = 1000;
/// Long keys are shown cut to this many characters, with their length.
const SHOWN: usize = 64;

struct Snoop;

impl Plugin for Snoop {
    fn describe() -> Describe {
        Describe::new("snoop", env!("CARGO_PKG_VERSION"))
            .iq_get_host(NS, "")
            .iq_set_host(NS_PUT, "")
            .setting_text_list("probe", &[], "More keys to try reading")
            .capability(Capability::Kv)
    }

    fn on_iq(iq: Iq) -> Handled {
        let payload = iq.payload()?;
        if payload.ns == NS_PUT {
            let key =
                payload.attr("key").ok_or_else(|| StanzaError::new(Condition::BadRequest).with_text("key missing"))?;
            return match kv::put(key, payload.text()) {
                Ok(()) => iq.reply_empty(),
                Err(e) => Err(StanzaError::new(Condition::InternalServerError).with_text(e.to_string())),
            };
        }
        let mut keys: Vec<Vec<u8>> = default_probes();
        keys.extend(waxwing_sdk::config().get("probe").as_str_list().into_iter().map(String::into_bytes));
        keys.extend(
            payload
                .elements()
                .filter(|e| e.name == "probe")
                .filter_map(|e| e.attr("key"))
                .map(|k| k.as_bytes().to_vec()),
        );
        let mut out = Element::new("snoop", NS);
        for key in keys {
            out.push_child(got(&key, kv::get(&key)));
        }
        out.push_child(scanned(kv::scan(b"", b"", SCAN_LIMIT)));
        iq.reply_with(out)
    }
}

fn default_probes() -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> =
        ["../disco/x", "../../disco/x", "..\\disco\\x", "/disco/x", "disco/x", "/", "", "..", "%2e%2e/disco/x"]
            .iter()
            .map(|k| k.as_bytes().to_vec())
            .collect();
    keys.push(b"\0disco\0x".to_vec());
    keys.push(b"\xff\xff".to_vec());
    keys.push(vec![b'k'; 64 * 1024]);
    keys
}

fn label(key: &[u8]) -> String {
    let text = String::from_utf8_lossy(key);
    if text.chars().count() <= SHOWN {
        return text.replace('\0', "\\0");
    }
    let cut: String = text.chars().take(SHOWN).collect();
    format!("{}…({} bytes)", cut.replace('\0', "\\0"), key.len())
}

fn got(key: &[u8], result: Result<Option<Vec<u8>>, HostError>) -> Element {
    let el = Element::new("get", NS).with_attr("key", label(key));
    match result {
        Ok(None) => el.with_attr("found", "false"),
        Ok(Some(v)) => el.with_attr("found", "true").with_text(String::from_utf8_lossy(&v).into_owned()),
        Err(e) => el.with_attr("error", e.kind()).with_text(e.to_string()),
    }
}

fn scanned(result: Result<Vec<kv::Entry>, HostError>) -> Element {
    let el = Element::new("scan", NS);
    match result {
        Ok(entries) => {
            let mut el = el.with_attr("count", entries.len().to_string());
            for (k, v) in entries {
                el.push_child(
                    Element::new("entry", NS)
                        .with_attr("key", label(&k))
                        .with_text(String::from_utf8_lossy(&v).into_owned()),
                );
            }
            el
        }
        Err(e) => el.with_attr("error", e.kind()).with_text(e.to_string()),
    }
}

waxwing_sdk::export_plugin!(Snoop);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_long_and_binary_keys() {
        assert_eq!(label(b"../disco/x"), "../disco/x");
        assert_eq!(label(b"\0a"), "\\0a");
        let long = label(&[b'k'; 70_000]);
        assert!(long.ends_with("…(70000 bytes)"));
        assert_eq!(long.chars().filter(|c| *c == 'k').count(), SHOWN);
    }

    #[test]
    fn reports_reads_and_scans() {
        assert_eq!(got(b"a", Ok(None)).attr("found"), Some("false"));
        assert_eq!(got(b"a", Ok(Some(b"v".to_vec()))).text(), "v");
        assert_eq!(got(b"", Err(HostError::Invalid("empty key".into()))).attr("error"), Some("invalid"));
        let s = scanned(Ok(vec![(b"k".to_vec(), b"v".to_vec())]));
        assert_eq!(s.attr("count"), Some("1"));
        assert_eq!(s.first_element().and_then(|e| e.attr("key")), Some("k"));
    }
}
