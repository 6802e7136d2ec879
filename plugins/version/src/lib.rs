//! XEP-0092: the server's software name and version, and its OS only where
//! the operator opted in.
//!
//! Settings: `version` overrides the version reported ("": this plugin's
//! own); `show_os` adds `<os/>`, with the text of `os` (default "WASI": a
//! sandboxed plugin cannot see the host's OS, so the operator names it).

use waxwing_sdk::prelude::*;

const NS: &str = "jabber:iq:version";

struct Version;

impl Plugin for Version {
    fn describe() -> Describe {
        Describe::new("version", env!("CARGO_PKG_VERSION"))
            .feature(NS)
            .iq_get_host(NS, "query")
            .setting_text("version", "", "The version reported; empty reports the plugin's own")
            .setting_bool("show_os", false, "Whether to report an operating system")
            .setting_text("os", "WASI", "The operating system reported when show_os is on")
    }

    fn on_iq(iq: Iq) -> Handled {
        // The kernel hands over every declared setting, checked: an error
        // here means the settings above and `answer` disagree.
        let query = answer(&waxwing_sdk::config())
            .map_err(|e| StanzaError::new(Condition::InternalServerError).with_text(e))?;
        iq.reply_with(query)
    }
}

/// The `<query/>` to answer with, from the declared settings.
fn answer(config: &Json) -> Result<Element, String> {
    let version = match config.require_str("version")? {
        "" => env!("CARGO_PKG_VERSION"),
        v => v,
    };
    let text = |name: &str, value: &str| Element::new(name, NS).with_text(value.to_string());
    let mut query = Element::new("query", NS).with_child(text("name", "Waxwing")).with_child(text("version", version));
    if config.require_bool("show_os")? {
        query.push_child(text("os", config.require_str("os")?));
    }
    Ok(query)
}

waxwing_sdk::export_plugin!(Version);

#[cfg(test)]
mod tests {
    use super::*;

    /// The config as the kernel hands it over: every declared setting, its
    /// default unless overridden.
    fn cfg(overrides: &[(&str, Json)]) -> Json {
        let settings = Version::describe().into_wit().settings;
        Json::Object(
            settings
                .into_iter()
                .map(|s| {
                    let given = overrides.iter().find(|(k, _)| *k == s.key).map(|(_, v)| v.clone());
                    let value = given.unwrap_or_else(|| Json::parse(&s.default).unwrap());
                    (s.key, value)
                })
                .collect(),
        )
    }

    fn text(q: &Element, name: &str) -> Option<String> {
        q.child(name, NS).map(Element::text)
    }

    #[test]
    fn defaults_to_own_version_without_os() {
        let q = answer(&cfg(&[])).unwrap();
        assert_eq!(text(&q, "name").as_deref(), Some("Waxwing"));
        assert_eq!(text(&q, "version").as_deref(), Some(env!("CARGO_PKG_VERSION")));
        assert!(q.child("os", NS).is_none());
    }

    #[test]
    fn settings_set_version_and_os() {
        let q = answer(&cfg(&[("version", "9.9".into()), ("show_os", true.into()), ("os", "Linux".into())])).unwrap();
        assert_eq!(text(&q, "version").as_deref(), Some("9.9"));
        assert_eq!(text(&q, "os").as_deref(), Some("Linux"));
        let q = answer(&cfg(&[("show_os", true.into())])).unwrap();
        assert_eq!(text(&q, "os").as_deref(), Some("WASI"));
    }

    #[test]
    fn answers_a_get() {
        waxwing_sdk::testing::init::<Version>(&cfg(&[]).to_string()).unwrap();
        let xml = "<iq xmlns='jabber:client' type='get' id='v' from='u@h/r'><query xmlns='jabber:iq:version'/></iq>";
        let iq = Iq(Stanza::from_xml(xml, Address::Host, "h").unwrap());
        let Ok(Outcome::Reply(reply)) = Version::on_iq(iq) else { panic!("expected a reply") };
        assert_eq!(reply.child("query", NS).and_then(|q| text(q, "name")).as_deref(), Some("Waxwing"));
    }
}
