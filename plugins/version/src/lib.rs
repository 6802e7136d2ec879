//! XEP-0092: the server's software name and version, and its OS only where
//! the operator opted in.
//!
//! Config: `version` overrides the version reported (default: this plugin's
//! own); `show_os = true` adds `<os/>`, with the text of `os` (default "WASI":
//! a sandboxed plugin cannot see the host's OS, so the operator names it).

use waxwing_sdk::prelude::*;

const NS: &str = "jabber:iq:version";

struct Version;

impl Plugin for Version {
    fn describe() -> Describe {
        Describe::new("version", env!("CARGO_PKG_VERSION")).feature(NS).iq_get_host(NS, "query")
    }

    fn init(config: &Json) -> Result<(), String> {
        answer(config).map(|_| ())
    }

    fn on_iq(iq: Iq) -> Handled {
        let query = answer(&waxwing_sdk::config())
            .map_err(|e| StanzaError::new(Condition::InternalServerError).with_text(e))?;
        iq.reply_with(query)
    }
}

/// The `<query/>` to answer with; an `Err` names the config key that is wrong.
fn answer(config: &Json) -> Result<Element, String> {
    let version = match config.get("version") {
        Json::Null => env!("CARGO_PKG_VERSION"),
        v => v.as_str().ok_or("config 'version' must be a string")?,
    };
    let show_os = match config.get("show_os") {
        Json::Null => false,
        v => v.as_bool().ok_or("config 'show_os' must be true or false")?,
    };
    let text = |name: &str, value: &str| Element::new(name, NS).with_text(value.to_string());
    let mut query = Element::new("query", NS).with_child(text("name", "Waxwing")).with_child(text("version", version));
    if show_os {
        let os = match config.get("os") {
            Json::Null => "WASI",
            v => v.as_str().ok_or("config 'os' must be a string")?,
        };
        query.push_child(text("os", os));
    }
    Ok(query)
}

waxwing_sdk::export_plugin!(Version);

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(json: &str) -> Json {
        Json::parse(json).unwrap()
    }

    #[test]
    fn defaults_to_own_version_without_os() {
        let q = answer(&cfg("{}")).unwrap();
        assert_eq!(q.child("name", NS).map(Element::text).as_deref(), Some("Waxwing"));
        assert_eq!(q.child("version", NS).map(Element::text).as_deref(), Some(env!("CARGO_PKG_VERSION")));
        assert!(q.child("os", NS).is_none());
    }

    #[test]
    fn config_sets_version_and_os() {
        let q = answer(&cfg(r#"{"version": "9.9", "show_os": true, "os": "Linux"}"#)).unwrap();
        assert_eq!(q.child("version", NS).map(Element::text).as_deref(), Some("9.9"));
        assert_eq!(q.child("os", NS).map(Element::text).as_deref(), Some("Linux"));
        let q = answer(&cfg(r#"{"show_os": true}"#)).unwrap();
        assert_eq!(q.child("os", NS).map(Element::text).as_deref(), Some("WASI"));
    }

    #[test]
    fn wrong_types_refuse_the_load() {
        assert!(answer(&cfg(r#"{"version": 3}"#)).is_err());
        assert!(answer(&cfg(r#"{"show_os": "yes"}"#)).is_err());
        assert!(Version::init(&cfg(r#"{"show_os": 1}"#)).is_err());
    }
}
