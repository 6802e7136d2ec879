//! The server's tenants, for its operators (`[server] operators`): listed,
//! added from a form, changed from the same form (the whole table, as the
//! kernel replaces it), removed after a confirmation. A vhost's admins see
//! these commands (the kernel's audiences stop at `admins`) but are refused
//! them here, as they are restart and shutdown.

use waxwing_sdk::adhoc::{Request, Step};
use waxwing_sdk::forms::FieldType;
use waxwing_sdk::jid::Jid;
use waxwing_sdk::prelude::*;
use waxwing_sdk::server::{self, ServerError};

use crate::plugins::NS;
use crate::service::refused;

/// The commands only operators may run, by node suffix.
pub const OPERATOR_ONLY: &[&str] =
    &["restart", "shutdown", "list-tenants", "add-tenant", "change-tenant", "remove-tenant"];

/// The quota fields of the add and change forms: each a `[quotas]` key of the tenant's table.
const QUOTAS: &[(&str, &str)] = &[
    ("accounts", "Accounts at most (0: no limit)"),
    ("connections", "Open client connections at most"),
    ("session_stanzas_per_sec", "Stanzas per second one session may send (0: no limit)"),
];

fn bad(text: String) -> StanzaError {
    StanzaError::new(Condition::BadRequest).with_text(text)
}

/// `forbidden` unless the sender is one of the server's operators. Without
/// the `server` grant nobody can be told apart, and the error says so.
pub fn check_operator(name: &str, req: &Request) -> Result<(), StanzaError> {
    if !OPERATOR_ONLY.contains(&name) || server::is_operator(&req.from) {
        return Ok(());
    }
    if let Err(ServerError::NotGranted) = server::admins() {
        return Err(refused(ServerError::NotGranted));
    }
    Err(StanzaError::new(Condition::Forbidden)
        .with_text(format!("{name} is for the server's operators ([server] operators), not this host's admins")))
}

fn form(title: &str) -> DataForm {
    DataForm::form().with_form_type(NS).title(title)
}

/// The first stage of a tenant command, if `name` is one.
pub fn first_stage(name: &str) -> Option<Result<Step, StanzaError>> {
    Some(match name {
        "list-tenants" => list(),
        "add-tenant" => Ok(Step::form(add_form(), 1)),
        "change-tenant" => choose_changed().map(|f| Step::form_with_more(f, 1)),
        "remove-tenant" => Ok(Step::form_with_more(remove_form(), 1)),
        _ => return None,
    })
}

fn list() -> Result<Step, StanzaError> {
    let columns = ["domain", "source", "sessions", "connections"];
    let reported = columns.iter().map(|c| Field::new(c, FieldType::TextSingle).label(c)).collect();
    let rows = server::tenants().map_err(refused)?.into_iter().map(|t| {
        let cells = [t.domain, t.source, t.sessions.to_string(), t.connections.to_string()];
        columns.iter().zip(cells).map(|(c, v)| Field::text_single(c, &v)).collect()
    });
    let table = rows.fold(DataForm::result().with_form_type(NS).title("Tenants").reported(reported), DataForm::item);
    Ok(Step::result(table))
}

fn domain_field() -> Field {
    Field::new("domain", FieldType::JidSingle).label("Domain").required()
}

/// The fields of a tenant's table but its domain, shared by the add and
/// change forms so that both write the same keys.
fn table_fields(f: DataForm) -> DataForm {
    let f = f
        .field(Field::new("cert", FieldType::TextSingle).label("Certificate file (absolute path; optional)"))
        .field(Field::new("key", FieldType::TextSingle).label("Private key file (absolute path; optional)"))
        .field(Field::new("admins", FieldType::JidMulti).label("The tenant's admins"));
    QUOTAS.iter().fold(f, |f, (var, label)| f.field(Field::new(var, FieldType::TextSingle).label(label)))
}

fn add_form() -> DataForm {
    table_fields(
        form("Adding a Tenant")
            .instructions("The tenant serves from the moment this completes, and is kept across restarts.")
            .field(domain_field()),
    )
}

/// The tenants a change may name: the kernel changes only those added at
/// runtime (a config file's tenant changes in the file). With none, the
/// domain is typed, and the kernel's refusal says why.
fn choose_changed() -> Result<DataForm, StanzaError> {
    let runtime: Vec<String> =
        server::tenants().map_err(refused)?.into_iter().filter(|t| t.source == "runtime").map(|t| t.domain).collect();
    let field = if runtime.is_empty() {
        domain_field()
    } else {
        runtime
            .iter()
            .fold(Field::new("domain", FieldType::ListSingle).label("Domain").required(), |f, d| f.option(d, d))
    };
    Ok(form("Changing a Tenant").field(field))
}

/// The second stage of a change: the tenant's new table. The kernel cannot
/// tell the current one, so the form starts empty and says what that means.
fn change_form(domain: &str) -> DataForm {
    table_fields(form(&format!("Changing {domain}")).instructions(&format!(
        "These values replace {domain}'s whole table: a field left empty is the server's default, \
         not its current value (no certificate files: a self-signed certificate; no admins; the \
         server's quotas), and its plugins are the default list. Its sessions stay."
    )))
}

fn remove_form() -> DataForm {
    form("Removing a Tenant")
        .field(Field::new("domain", FieldType::JidSingle).label("Domain").required())
        .field(Field::boolean("keep-data", false).label("Keep its accounts and data in the database"))
}

/// The submitted form of a tenant command, if `name` is one.
pub fn submit(name: &str, req: &Request) -> Option<Result<Step, StanzaError>> {
    Some(match (name, req.stage) {
        ("add-tenant", _) => add(req),
        ("change-tenant", 1) => chosen_for_change(req),
        ("change-tenant", _) => change(req),
        ("remove-tenant", 1) => confirm_removal(req),
        ("remove-tenant", _) => remove(req),
        _ => return None,
    })
}

fn submitted(req: &Request) -> Result<&DataForm, StanzaError> {
    req.form.as_ref().ok_or_else(|| bad("submit the form".into()))
}

fn text<'a>(f: &'a DataForm, var: &str) -> &'a str {
    f.value(var).unwrap_or_default().trim()
}

/// A domain the kernel could serve: a prepared JID with no node or resource.
fn domain(f: &DataForm) -> Result<String, StanzaError> {
    let given = text(f, "domain");
    if given.is_empty() {
        return Err(bad("domain: give the tenant's domain".into()));
    }
    match Jid::prep(given) {
        Ok(j) if j.node.is_none() && j.resource.is_none() => Ok(j.domain),
        Ok(_) => Err(bad(format!("domain: {given:?} is not a domain name (it has an @ or a /)"))),
        Err(e) => Err(bad(format!("domain: {given:?} is not a domain name: {}", e.message))),
    }
}

/// A TOML basic string: the values come from the form, so quotes,
/// backslashes and control characters are escaped rather than trusted.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `domain`'s `[[vhost]]` table, as TOML, from the add or change form.
fn table(domain: &str, f: &DataForm) -> Result<String, StanzaError> {
    let mut out = format!("domain = {}\n", toml_string(domain));
    for var in ["cert", "key"] {
        let path = text(f, var);
        if path.is_empty() {
            continue;
        }
        if !path.starts_with('/') {
            return Err(bad(format!("{var}: {path:?} is not an absolute path")));
        }
        out.push_str(&format!("{var} = {}\n", toml_string(path)));
    }
    let mut admins = Vec::new();
    for a in f.values("admins").iter().map(|a| a.trim()).filter(|a| !a.is_empty()) {
        match Jid::prep(a) {
            Ok(j) if j.node.is_some() && j.resource.is_none() => admins.push(toml_string(&j.bare())),
            _ => return Err(bad(format!("admins: {a:?} is not an account's bare JID"))),
        }
    }
    if !admins.is_empty() {
        out.push_str(&format!("admins = [{}]\n", admins.join(", ")));
    }
    let mut quotas = String::new();
    for (var, _) in QUOTAS {
        let given = text(f, var);
        if given.is_empty() {
            continue;
        }
        let n: u64 = given.parse().map_err(|_| bad(format!("{var}: {given:?} is not a whole number")))?;
        quotas.push_str(&format!("{var} = {n}\n"));
    }
    if !quotas.is_empty() {
        out.push_str("\n[quotas]\n");
        out.push_str(&quotas);
    }
    Ok(out)
}

fn add(req: &Request) -> Result<Step, StanzaError> {
    let f = submitted(req)?;
    let domain = domain(f)?;
    let said = server::add_tenant(&table(&domain, f)?).map_err(refused)?;
    Ok(Step::done(&format!("tenant {domain} added: {said}")))
}

/// The first stage's domain, which must be a tenant; a config file's gets
/// the form too, and the kernel's refusal, which says where it changes.
fn chosen_for_change(req: &Request) -> Result<Step, StanzaError> {
    let domain = domain(submitted(req)?)?;
    if !server::tenants().map_err(refused)?.iter().any(|t| t.domain == domain) {
        return Err(bad(format!("domain: there is no tenant {domain}")));
    }
    let keep = Json::Object(vec![("domain".into(), Json::String(domain.clone()))]);
    Ok(Step::form(change_form(&domain), 2).keep(keep))
}

fn change(req: &Request) -> Result<Step, StanzaError> {
    let domain = req.data.get("domain").as_str().ok_or_else(|| bad("choose a tenant first".into()))?.to_string();
    let said = server::change_tenant(&table(&domain, submitted(req)?)?).map_err(refused)?;
    Ok(Step::done(&format!("tenant {domain} changed: {said}")))
}

/// The second stage: what removing would do, to be confirmed.
fn confirm_removal(req: &Request) -> Result<Step, StanzaError> {
    let f = submitted(req)?;
    let domain = domain(f)?;
    let keep = f.get("keep-data").and_then(|k| k.bool_value()).unwrap_or(false);
    let tenant = server::tenants()
        .map_err(refused)?
        .into_iter()
        .find(|t| t.domain == domain)
        .ok_or_else(|| bad(format!("domain: there is no tenant {domain}")))?;
    let data = if keep { "its data is kept in the database" } else { "its accounts and data are deleted" };
    let confirm = form(&format!("Removing {domain}"))
        .instructions(&format!(
            "{domain} stops being served: its {} sessions end with host-gone, and {data}.",
            tenant.sessions
        ))
        .field(Field::boolean("confirm", false).label(&format!("Remove {domain}")).required());
    let keep_json = Json::Object(vec![("domain".into(), Json::String(domain)), ("keep-data".into(), Json::Bool(keep))]);
    Ok(Step::form(confirm, 2).keep(keep_json))
}

fn remove(req: &Request) -> Result<Step, StanzaError> {
    let domain = req.data.get("domain").as_str().ok_or_else(|| bad("choose a tenant first".into()))?.to_string();
    let keep = req.data.get("keep-data").as_bool().unwrap_or(false);
    let confirmed = submitted(req)?.get("confirm").and_then(|c| c.bool_value()).unwrap_or(false);
    if !confirmed {
        return Ok(Step::done(&format!("{domain} was not removed")));
    }
    let said = server::remove_tenant(&domain, keep).map_err(refused)?;
    Ok(Step::done(&said))
}
