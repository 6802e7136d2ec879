//! XEP-0363 HTTP File Upload on `upload.<vhost>`: this plugin decides who
//! may upload what, and how much; the kernel signs the URLs, takes the PUT,
//! keeps the file under the data folder and serves the GET (`uploads`
//! host interface, granted by name).
//!
//! Settings: `max_file_size`, `quota` (bytes an account may have stored at
//! once), `expire_after_days` (0 keeps files until the account is deleted),
//! `allowed_types` (MIME types or `type/*`; empty allows any),
//! `slot_valid_secs` (how long a PUT URL works), `name`.
//!
//! Only accounts of this vhost get slots. What each account holds is in
//! `kv` under `f/<owner>/<expiry>/<id>` (value: the size), so the quota is a
//! scan of the account's unexpired files; deleting an account deletes them.

mod quota;

use waxwing_sdk::prelude::*;
use waxwing_sdk::uploads::{self, SlotRequest, UploadError};

const NS: &str = "urn:xmpp:http:upload:0";
const SUBDOMAIN: &str = "upload";
const DAY_MS: u64 = 24 * 3600 * 1000;

struct HttpUpload;

impl Plugin for HttpUpload {
    fn describe() -> Describe {
        Describe::new("http_upload", env!("CARGO_PKG_VERSION"))
            .service(SUBDOMAIN)
            .identity("store", "file", "HTTP File Upload")
            .feature(NS)
            .route(Route::iq().to(Address::Service))
            .event(EventKind::UserDeleted)
            .capabilities([Capability::Kv])
            .setting_text("name", "HTTP File Upload", "The service's name in disco")
            .setting_bytes("max_file_size", 1, 1 << 40, 10 << 20, "The largest file a slot is granted for")
            .setting_bytes("quota", 0, 1 << 50, 100 << 20, "Bytes an account may have stored at once; 0: no limit")
            .setting_int(
                "expire_after_days",
                0,
                36500,
                7,
                "Days a file is kept; 0 keeps it until the account is deleted",
            )
            .setting_text_list("allowed_types", &[], "MIME types (or type/*) that may be uploaded; empty allows any")
            .setting_int("slot_valid_secs", 1, 86400, 300, "Seconds a PUT URL stays usable")
    }

    fn init(config: &Json) -> Result<Ready, String> {
        for t in config.get("allowed_types").as_str_list() {
            if !t.contains('/') {
                return Err(format!(
                    "allowed_types contains {t:?}: write a MIME type such as \"image/png\" or \"image/*\""
                ));
            }
        }
        Ok(Ready::new())
    }

    fn on_iq(iq: Iq) -> Handled {
        if waxwing_sdk::jid::node(iq.to()).is_some() || waxwing_sdk::jid::resource(iq.to()).is_some() {
            return Err(Condition::ServiceUnavailable.into());
        }
        match (iq.payload_ns(), iq.payload_name()) {
            (ns::DISCO_INFO, "query") if iq.is_get() => iq.reply_with(info(&iq)?),
            (ns::DISCO_ITEMS, "query") if iq.is_get() => iq.reply_with(Element::new("query", ns::DISCO_ITEMS)),
            (NS, "request") if iq.is_get() => iq.reply_with(request_slot(&iq)?),
            _ => Err(Condition::ServiceUnavailable.into()),
        }
    }

    fn on_event(event: Event) -> Result<(), EventError> {
        if let Event::UserDeleted { jid } = event {
            quota::forget_account(&jid)?;
        }
        Ok(())
    }
}

/// disco#info with the size limit as XEP-0128 extended info (§3), which
/// depends on the config and so cannot be in `describe()`.
fn info(iq: &Iq) -> Result<Element, StanzaError> {
    if iq.payload()?.attr("node").is_some_and(|n| !n.is_empty()) {
        return Err(Condition::ItemNotFound.into());
    }
    let c = waxwing_sdk::config();
    let name = c.get("name").as_str().unwrap_or_default().to_string();
    let max = c.get("max_file_size").as_i64().unwrap_or_default();
    let form = DataForm::result().with_form_type(NS).field(Field::text_single("max-file-size", &max.to_string()));
    let feature = |var: &str| Element::new("feature", ns::DISCO_INFO).with_attr("var", var);
    Ok(Element::new("query", ns::DISCO_INFO)
        .with_child(
            Element::new("identity", ns::DISCO_INFO)
                .with_attr("category", "store")
                .with_attr("type", "file")
                .with_attr("name", name),
        )
        .with_child(feature(ns::DISCO_INFO))
        .with_child(feature(NS))
        .with_child(form.to_element()))
}

/// §4: a slot for the file the request describes, or why not.
fn request_slot(iq: &Iq) -> Result<Element, StanzaError> {
    let owner = waxwing_sdk::jid::bare(iq.from()).to_string();
    if waxwing_sdk::jid::domain(&owner) != waxwing_sdk::domain() {
        return Err(StanzaError::new(Condition::Forbidden).with_text("only accounts of this server may upload here"));
    }
    let req = iq.payload()?;
    let filename = req.attr("filename").unwrap_or_default().to_string();
    let size: u64 = req
        .attr("size")
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| StanzaError::new(Condition::BadRequest).with_text("the request needs a size in bytes"))?;
    let content_type = req.attr("content-type").unwrap_or_default().trim().to_string();
    if filename.is_empty() {
        return Err(StanzaError::new(Condition::BadRequest).with_text("the request needs a filename"));
    }
    let c = waxwing_sdk::config();
    let int = |k: &str| c.get(k).as_i64().and_then(|v| u64::try_from(v).ok()).unwrap_or_default();
    let max = int("max_file_size");
    if size > max {
        return Err(too_large(max));
    }
    let allowed = c.get("allowed_types").as_str_list();
    if !allowed.is_empty() && !allowed.iter().any(|a| type_matches(a, &content_type)) {
        return Err(StanzaError::new(Condition::NotAcceptable)
            .with_text(format!("files of type {content_type:?} may not be uploaded here")));
    }
    let now = waxwing_sdk::now_ms();
    let keep_ms = int("expire_after_days") * DAY_MS;
    quota::check(&owner, size, int("quota"), now)?;
    let request = SlotRequest {
        owner: owner.clone(),
        filename,
        size,
        content_type,
        put_valid_ms: int("slot_valid_secs") * 1000,
        keep_ms,
    };
    let slot = uploads::grant(&request).map_err(|e| match e {
        UploadError::TooLarge(kernel_max) => too_large(kernel_max.min(max)),
        UploadError::Invalid(why) => StanzaError::new(Condition::BadRequest).with_text(why),
        UploadError::NotGranted | UploadError::Unavailable(_) => {
            waxwing_sdk::log::warn(&format!("no upload slot for {owner}: {e}"));
            StanzaError::new(Condition::ServiceUnavailable).with_text("uploads are not available on this server now")
        }
    })?;
    let expires = if keep_ms == 0 { u64::MAX } else { now + keep_ms };
    quota::record(&owner, expires, &slot.id, size)?;
    let mut put = Element::new("put", NS).with_attr("url", slot.put_url);
    for (name, value) in slot.put_headers {
        put.push_child(Element::new("header", NS).with_attr("name", name).with_text(value));
    }
    Ok(Element::new("slot", NS).with_child(put).with_child(Element::new("get", NS).with_attr("url", slot.get_url)))
}

/// §5: the file is larger than the service takes.
fn too_large(max: u64) -> StanzaError {
    StanzaError::new(Condition::NotAcceptable)
        .with_text(format!("the file is larger than the limit of {max} bytes"))
        .with_app_condition(
            Element::new("file-too-large", NS).with_child(Element::new("max-file-size", NS).with_text(max.to_string())),
        )
}

/// Whether an allowed pattern (`image/png`, `image/*`) admits a content type.
fn type_matches(pattern: &str, content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let pattern = pattern.trim().to_ascii_lowercase();
    match pattern.strip_suffix("/*") {
        Some(kind) => essence.split_once('/').is_some_and(|(k, _)| k == kind),
        None => essence == pattern,
    }
}

waxwing_sdk::export_plugin!(HttpUpload);

#[cfg(test)]
mod tests;
