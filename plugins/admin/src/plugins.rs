//! Waxwing's own commands: this host's plugins listed, reloaded from their
//! source, and configured (their declared settings, edited as a form and
//! kept by the kernel across restarts).

use waxwing_sdk::SettingType;
use waxwing_sdk::adhoc::{Request, Step};
use waxwing_sdk::forms::FieldType;
use waxwing_sdk::prelude::*;
use waxwing_sdk::server::{self, PluginSettings};

use crate::service::refused;

/// The nodes' namespace and the forms' FORM_TYPE.
pub const NS: &str = "urn:waxwing:admin";

fn bad(text: String) -> StanzaError {
    StanzaError::new(Condition::BadRequest).with_text(text)
}

fn form(title: &str) -> DataForm {
    DataForm::form().with_form_type(NS).title(title)
}

/// A list-single of this host's plugins.
fn choose(title: &str) -> Result<DataForm, StanzaError> {
    let field = server::plugins()
        .map_err(refused)?
        .iter()
        .fold(Field::new("plugin", FieldType::ListSingle).label("Plugin").required(), |f, p| {
            f.option(&p.name, &p.name)
        });
    Ok(form(title).field(field))
}

/// The first stage of a plugin command, if `name` is one.
pub fn first_stage(name: &str) -> Option<Result<Step, StanzaError>> {
    Some(match name {
        "list-plugins" => list(),
        "reload-plugin" => choose("Reloading a Plugin").map(|f| Step::form(f, 1)),
        "configure-plugin" => choose("Configuring a Plugin").map(|f| Step::form_with_more(f, 1)),
        _ => return None,
    })
}

fn list() -> Result<Step, StanzaError> {
    let columns = ["name", "version", "state", "calls", "failures", "source"];
    let reported = columns.iter().map(|c| Field::new(c, FieldType::TextSingle).label(c)).collect();
    let rows = server::plugins().map_err(refused)?.into_iter().map(|p| {
        let state = if p.reason.is_empty() { p.state } else { format!("{} ({})", p.state, p.reason) };
        let cells = [p.name, p.version, state, p.calls.to_string(), p.failures.to_string(), p.source];
        columns.iter().zip(cells).map(|(c, v)| Field::text_single(c, &v)).collect()
    });
    let table = rows.fold(DataForm::result().with_form_type(NS).title("Plugins").reported(reported), DataForm::item);
    Ok(Step::result(table))
}

/// The submitted form of a plugin command, if `name` is one.
pub fn submit(name: &str, req: &Request) -> Option<Result<Step, StanzaError>> {
    Some(match (name, req.stage) {
        ("reload-plugin", _) => chosen(req).and_then(|p| {
            let summary = server::reload_plugin(&p).map_err(refused)?;
            Ok(Step::done(&summary))
        }),
        ("configure-plugin", 1) => chosen(req).and_then(|p| settings_form(&p)),
        ("configure-plugin", _) => configure(req),
        _ => return None,
    })
}

fn chosen(req: &Request) -> Result<String, StanzaError> {
    req.form
        .as_ref()
        .and_then(|f| f.value("plugin"))
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .ok_or_else(|| bad("choose a plugin".into()))
}

/// The second stage: a field per declared setting, with the value it runs with.
fn settings_form(plugin: &str) -> Result<Step, StanzaError> {
    let s = server::settings_of(plugin).map_err(refused)?;
    if s.declared.is_empty() {
        return Ok(Step::done(&format!("{plugin} declares no settings")));
    }
    let current = Json::parse(&s.current).unwrap_or(Json::Null);
    let mut f = form(&format!("Configuring {plugin}"));
    for d in &s.declared {
        f = f.field(field_for(&d.key, &d.type_, current.get(&d.key)).label(&d.key).desc(&d.doc));
    }
    if !s.overridden.is_empty() {
        let reset =
            s.overridden.iter().fold(
                Field::new("reset", FieldType::ListMulti).label("Put back to the config file's value"),
                |f, k| f.option(k, k),
            );
        f = f.field(reset);
    }
    let keep = Json::Object(vec![("plugin".into(), Json::String(plugin.to_string()))]);
    Ok(Step::form(f, 2).keep(keep))
}

fn text_of(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

fn field_for(key: &str, t: &SettingType, value: &Json) -> Field {
    match t {
        SettingType::Boolean => Field::boolean(key, value.as_bool().unwrap_or(false)),
        SettingType::TextList => Field::new(key, FieldType::TextMulti).values(&value.as_str_list()),
        SettingType::Choice(options) => {
            options.iter().fold(Field::list_single(key, &text_of(value)), |f, o| f.option(o, o))
        }
        SettingType::Integer(_) | SettingType::ByteSize(_) | SettingType::Text | SettingType::Any => {
            Field::text_single(key, &text_of(value))
        }
    }
}

/// What the admin typed for a setting, as the JSON value the kernel checks.
fn value_for(key: &str, t: &SettingType, field: &Field) -> Result<Json, StanzaError> {
    let text = field.values.first().map(String::as_str).unwrap_or_default().trim();
    Ok(match t {
        SettingType::Boolean => {
            Json::Bool(field.bool_value().ok_or_else(|| bad(format!("{key}: {text:?} is not true or false")))?)
        }
        SettingType::Integer(_) => match text.parse::<i64>() {
            Ok(n) => Json::Number(n.to_string()),
            Err(_) => return Err(bad(format!("{key}: {text:?} is not a whole number"))),
        },
        // "64 KiB" is a size too; the kernel reads it.
        SettingType::ByteSize(_) => match text.parse::<i64>() {
            Ok(n) => Json::Number(n.to_string()),
            Err(_) => Json::String(text.to_string()),
        },
        SettingType::TextList => {
            Json::Array(field.values.iter().filter(|v| !v.trim().is_empty()).map(|v| Json::String(v.clone())).collect())
        }
        SettingType::Text | SettingType::Choice(_) => Json::String(text.to_string()),
        SettingType::Any => Json::parse(text).map_err(|e| bad(format!("{key}: not JSON: {e}")))?,
    })
}

/// The changes a submitted settings form makes: the keys whose value moved,
/// and `null` for those put back to the config file's.
fn changes(s: &PluginSettings, submitted: &DataForm) -> Result<Json, StanzaError> {
    let current = Json::parse(&s.current).unwrap_or(Json::Null);
    let reset = submitted.values("reset");
    let mut out = Vec::new();
    for d in &s.declared {
        if reset.contains(&d.key) {
            out.push((d.key.clone(), Json::Null));
            continue;
        }
        let Some(field) = submitted.get(&d.key) else { continue };
        let value = value_for(&d.key, &d.type_, field)?;
        if &value != current.get(&d.key) {
            out.push((d.key.clone(), value));
        }
    }
    Ok(Json::Object(out))
}

fn configure(req: &Request) -> Result<Step, StanzaError> {
    let plugin = req.data.get("plugin").as_str().ok_or_else(|| bad("choose a plugin first".into()))?.to_string();
    let submitted = req.form.as_ref().ok_or_else(|| bad("submit the settings form".into()))?;
    let s = server::settings_of(&plugin).map_err(refused)?;
    let changes = changes(&s, submitted)?;
    if changes.as_object().is_some_and(<[_]>::is_empty) {
        return Ok(Step::done(&format!("{plugin}: nothing changed")));
    }
    let summary = server::configure_plugin(&plugin, &changes).map_err(refused)?;
    Ok(Step::done(&summary))
}
