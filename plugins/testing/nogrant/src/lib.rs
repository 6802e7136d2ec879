//! Test plugin: on `urn:waxwing:test:nogrant` it calls one host interface and
//! replies with what the kernel said, so a test can check that an ungranted
//! capability is refused. The request's `cap` attribute picks the interface
//! (kv, mem, route, sessions, accounts, timers, disco, datasets; default kv):
//!
//! `<nogrant xmlns='urn:waxwing:test:nogrant' cap='kv' result='ok'/>` or
//! `<nogrant ... result='error' error='not-granted'>the error text</nogrant>`.

use waxwing_sdk::prelude::*;
use waxwing_sdk::{accounts, datasets, disco, kv, mem, route, sessions, timers};

const NS: &str = "urn:waxwing:test:nogrant";

struct NoGrant;

impl Plugin for NoGrant {
    fn describe() -> Describe {
        // Declares everything: which of it is granted is the test's config.
        Describe::new("nogrant", env!("CARGO_PKG_VERSION"))
            .iq_get_host(NS, "")
            .iq_set_host(NS, "")
            .reads("observer", "notes")
            .capabilities([
                Capability::Kv,
                Capability::Mem,
                Capability::Route,
                Capability::Sessions,
                Capability::Accounts,
                Capability::Timers,
                Capability::Disco,
                Capability::Datasets,
            ])
    }

    fn on_iq(iq: Iq) -> Handled {
        let cap = iq.payload()?.attr("cap").unwrap_or("kv").to_string();
        let outcome = match cap.as_str() {
            "kv" => kv::put("nogrant", "x"),
            "mem" => mem::put("nogrant", "x"),
            "route" => {
                route::send(&waxwing_sdk::new_message(iq.from(), StanzaType::Headline).with_attr("from", iq.to()))
            }
            "sessions" => sessions::of(waxwing_sdk::jid::bare(iq.from())).map(|_| ()),
            "accounts" => accounts::exists("nogrant").map(|_| ()),
            "timers" => timers::set(3_600_000, "nogrant").and_then(timers::cancel),
            "disco" => disco::host().map(|_| ()),
            // Another plugin's dataset: reading one's own needs no grant.
            "datasets" => datasets::get("observer", "notes", "nogrant").map(|_| ()),
            _ => return Err(StanzaError::new(Condition::BadRequest).with_text(format!("unknown cap '{cap}'"))),
        };
        iq.reply_with(report(&cap, outcome))
    }
}

fn report(cap: &str, outcome: Result<(), HostError>) -> Element {
    let el = Element::new("nogrant", NS).with_attr("cap", cap);
    match outcome {
        Ok(()) => el.with_attr("result", "ok"),
        Err(e) => el.with_attr("result", "error").with_attr("error", e.kind()).with_text(e.to_string()),
    }
}

waxwing_sdk::export_plugin!(NoGrant);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_the_refusal() {
        let el = report("kv", Err(HostError::NotGranted(Capability::Kv)));
        assert_eq!(
            el.to_xml(),
            "<nogrant xmlns='urn:waxwing:test:nogrant' cap='kv' result='error' error='not-granted'>capability 'kv' not granted</nogrant>"
        );
        assert_eq!(report("mem", Ok(())).attr("result"), Some("ok"));
    }
}
