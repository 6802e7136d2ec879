//! `waxwing plugin ...`: only a running server has plugins to talk about.

use std::process::ExitCode;

use serde_json::{Value, json};

use super::Found;
use super::args::PluginCommand;

pub fn run(found: &Found, cmd: PluginCommand) -> anyhow::Result<ExitCode> {
    let req = match &cmd {
        PluginCommand::List => json!({"cmd": "plugin-list"}),
        PluginCommand::Reload { name, vhost } => json!({"cmd": "plugin-reload", "name": name, "vhost": vhost}),
        PluginCommand::New { name, dir, lang, sdk, repo } => {
            return super::scaffold::run(name, *lang, dir.as_deref(), sdk.as_deref(), repo.as_deref());
        }
    };
    let result = super::control::call(found, &req)?;
    match cmd {
        PluginCommand::List => print!("{}", render_list(&result)),
        PluginCommand::Reload { .. } | PluginCommand::New { .. } => {
            println!("{}", result.as_str().map_or_else(|| result.to_string(), str::to_owned))
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One plugin a line, `name` first, then its other fields as key=value;
/// anything not shaped like that is shown as JSON.
fn render_list(result: &Value) -> String {
    let Some(items) = result.as_array() else {
        return format!("{result:#}\n");
    };
    let mut out = String::new();
    for item in items {
        let Some(fields) = item.as_object() else {
            out.push_str(&format!("{item}\n"));
            continue;
        };
        let mut parts: Vec<String> = Vec::new();
        if let Some(name) = fields.get("name") {
            parts.push(plain(name));
        }
        parts.extend(fields.iter().filter(|(k, _)| *k != "name").map(|(k, v)| format!("{k}={}", plain(v))));
        out.push_str(&parts.join("  "));
        out.push('\n');
    }
    out
}

fn plain(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_rendering() {
        let v = json!([{"vhost": "a.example", "name": "ping", "version": "1.0.0", "calls": 3}, "odd"]);
        let text = render_list(&v);
        assert_eq!(text, "ping  calls=3  version=1.0.0  vhost=a.example\n\"odd\"\n");
        assert_eq!(render_list(&json!({"x": 1})), "{\n  \"x\": 1\n}\n");
    }

    #[test]
    fn no_server_is_a_clear_error() {
        let dir = crate::testutil::tempdir("cli-plugins");
        let mut cfg = crate::config::Config::default();
        cfg.server.data_dir = dir.clone();
        let found = Found { cfg, source: crate::config::ConfigSource::Embedded };
        let err = run(&found, PluginCommand::List).unwrap_err().to_string();
        assert!(err.contains("no server is running") && err.contains("admin.sock"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
