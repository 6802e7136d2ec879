//! The plugin on the SDK's fake host: slot requests to
//! `upload.example.org` in, slots or errors out, and what each account is
//! charged.

use waxwing_sdk::testing::{self, FakeHost};

use super::*;

const SERVICE: &str = "upload.example.org";
const ALICE: &str = "alice@example.org/phone";

/// Loads the plugin with every setting at its default unless overridden.
fn load(overrides: &str) {
    let mut cfg = String::from(
        r#"{"name": "HTTP File Upload", "max_file_size": 1000, "quota": 2500, "expire_after_days": 7,
            "allowed_types": [], "slot_valid_secs": 300"#,
    );
    cfg.push_str(overrides);
    cfg.push('}');
    // A later key wins, as in the kernel's merged config.
    testing::init::<HttpUpload>(&cfg).unwrap();
}

fn iq(from: &str, inner: &str) -> Handled {
    let xml = format!("<iq from='{from}' to='{SERVICE}' type='get' id='u1'>{inner}</iq>");
    HttpUpload::on_iq(Iq(Stanza::from_xml(&xml, Address::Service, "example.org").unwrap()))
}

fn request(from: &str, name: &str, size: u64, ct: &str) -> Handled {
    iq(from, &format!("<request xmlns='{NS}' filename='{name}' size='{size}' content-type='{ct}'/>"))
}

fn slot(h: Handled) -> Element {
    match h {
        Ok(Outcome::Reply(r)) => r.child("slot", NS).cloned().unwrap_or_else(|| panic!("no slot in {r}")),
        other => panic!("expected a slot, got {other:?}"),
    }
}

fn error(h: Handled) -> StanzaError {
    match h {
        Err(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn a_slot_carries_the_kernels_urls_and_is_charged_to_the_account() {
    load("");
    let s = slot(request(ALICE, "cat.jpg", 600, "image/jpeg"));
    let put = s.child("put", NS).unwrap().attr("url").unwrap();
    let get = s.child("get", NS).unwrap().attr("url").unwrap();
    assert!(put.starts_with(get) && put.contains("?token="), "{put} {get}");
    let slots = FakeHost::upload_slots();
    assert_eq!(slots.len(), 1);
    let (_, asked) = &slots[0];
    assert_eq!((asked.owner.as_str(), asked.filename.as_str(), asked.size), ("alice@example.org", "cat.jpg", 600));
    assert_eq!(asked.content_type, "image/jpeg");
    assert_eq!(asked.put_valid_ms, 300_000);
    assert_eq!(asked.keep_ms, 7 * DAY_MS);
}

#[test]
fn too_large_says_the_limit_in_the_xeps_element() {
    load("");
    let e = error(request(ALICE, "big.bin", 1001, ""));
    assert_eq!(e.condition, Condition::NotAcceptable);
    let max = e.app_condition.as_ref().and_then(|a| a.child("max-file-size", NS)).map(Element::text);
    assert_eq!(max.as_deref(), Some("1000"));
    // The kernel's own cap, when lower, is the one reported.
    FakeHost::set_upload_limit(800);
    let e = error(request(ALICE, "big.bin", 900, ""));
    let max = e.app_condition.as_ref().and_then(|a| a.child("max-file-size", NS)).map(Element::text);
    assert_eq!(max.as_deref(), Some("800"));
}

#[test]
fn the_quota_counts_unexpired_files_and_says_when_to_retry() {
    load("");
    slot(request(ALICE, "a", 1000, ""));
    slot(request(ALICE, "b", 1000, ""));
    let e = error(request(ALICE, "c", 501, ""));
    assert_eq!(e.condition, Condition::ResourceConstraint);
    assert_eq!(e.error_type, ErrorType::Wait);
    let stamp = e.app_condition.as_ref().filter(|a| a.is("retry", NS)).and_then(|a| a.attr("stamp"));
    assert_eq!(stamp, Some(waxwing_sdk::format_utc(testing_now() + 7 * DAY_MS).as_str()));
    // Another account has its own quota.
    slot(request("bob@example.org/pc", "c", 1000, ""));
    // Once the first files expire, there is room again.
    FakeHost::advance(7 * DAY_MS + 1);
    slot(request(ALICE, "c", 1000, ""));
}

fn testing_now() -> u64 {
    waxwing_sdk::now_ms()
}

#[test]
fn allowed_types_admit_patterns_only() {
    load(r#", "allowed_types": ["image/*", "application/pdf"]"#);
    slot(request(ALICE, "a.png", 10, "image/png"));
    slot(request(ALICE, "a.pdf", 10, "application/pdf; charset=binary"));
    assert_eq!(error(request(ALICE, "a.html", 10, "text/html")).condition, Condition::NotAcceptable);
    assert_eq!(error(request(ALICE, "a", 10, "")).condition, Condition::NotAcceptable);
    assert!(testing::init::<HttpUpload>(r#"{"allowed_types": ["png"]}"#).unwrap_err().contains("allowed_types"));
}

#[test]
fn bad_requests_and_strangers_are_refused() {
    load("");
    assert_eq!(error(iq(ALICE, &format!("<request xmlns='{NS}' filename='a'/>"))).condition, Condition::BadRequest);
    assert_eq!(
        error(iq(ALICE, &format!("<request xmlns='{NS}' size='x' filename='a'/>"))).condition,
        Condition::BadRequest
    );
    assert_eq!(error(request(ALICE, "", 10, "")).condition, Condition::BadRequest);
    // The kernel's refusal of a name is the client's bad request.
    assert_eq!(error(request(ALICE, "a/b", 10, "")).condition, Condition::BadRequest);
    assert_eq!(error(request("mallory@elsewhere.example/x", "a", 10, "")).condition, Condition::Forbidden);
    assert!(FakeHost::upload_slots().is_empty(), "nothing was granted");
    assert!(waxwing_sdk::kv::scan_all("f/").unwrap().is_empty(), "nor charged");
}

#[test]
fn without_the_grant_the_service_is_unavailable() {
    load("");
    FakeHost::set_uploads_granted(false);
    assert_eq!(error(request(ALICE, "a", 10, "")).condition, Condition::ServiceUnavailable);
    assert!(waxwing_sdk::kv::scan_all("f/").unwrap().is_empty());
}

#[test]
fn disco_info_gives_the_limit_as_extended_info() {
    load("");
    let Ok(Outcome::Reply(r)) = iq(ALICE, &format!("<query xmlns='{}'/>", ns::DISCO_INFO)) else { panic!() };
    let q = r.child("query", ns::DISCO_INFO).unwrap();
    assert!(q.elements().any(|f| f.name == "feature" && f.attr("var") == Some(NS)));
    let form = DataForm::find_in(q).unwrap().unwrap();
    assert_eq!(form.form_type(), Some(NS));
    assert_eq!(form.value("max-file-size"), Some("1000"));
}

#[test]
fn a_deleted_account_loses_its_files() {
    load("");
    slot(request(ALICE, "a", 10, ""));
    slot(request("bob@example.org/pc", "b", 10, ""));
    HttpUpload::on_event(Event::UserDeleted { jid: "alice@example.org".into() }).unwrap();
    let left = FakeHost::upload_slots();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].1.owner, "bob@example.org");
    assert_eq!(waxwing_sdk::kv::scan_all("f/").unwrap().len(), 1);
}
