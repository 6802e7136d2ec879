//! The commands only a running server answers, over its admin socket:
//! `status`, `sessions`, `kick`, `stats`, `announce`, `reload`, `stop`,
//! `restart`.
//!
//! Output is for scripts as much as for people: `key: value` lines with
//! stable keys (or `--json`), one session a line with tab-free columns, and
//! a first word that says what happened (`kicked`, `announced`, `reloaded`).

use std::process::ExitCode;

use anyhow::anyhow;
use serde_json::{Value, json};

use super::args::StopArgs;
use super::{EXIT_NOT_RUNNING, Found};
use crate::admin::commands::SessionRow;
use crate::admin::{self, AdminError};

/// One request to the running server; no server is [`super::NotRunning`].
pub fn call(found: &Found, req: &Value) -> anyhow::Result<Value> {
    match admin::request(&found.cfg.admin_socket(), req) {
        Ok(v) => Ok(v),
        Err(AdminError::NotRunning { .. }) => Err(found.not_running().into()),
        Err(e) => Err(e.into()),
    }
}

pub fn status(found: &Found, as_json: bool) -> anyhow::Result<ExitCode> {
    let socket = found.cfg.admin_socket();
    let result = match admin::request(&socket, &json!({"cmd": "status"})) {
        Ok(v) => v,
        Err(AdminError::NotRunning { .. }) => {
            if as_json {
                let v = json!({"status": "not running", "admin_socket": socket, "config": found.source.describe()});
                println!("{v}");
            } else {
                println!("status: not running");
                println!("admin_socket: {}", socket.display());
                println!("config: {}", found.source.describe());
            }
            return Ok(ExitCode::from(EXIT_NOT_RUNNING));
        }
        Err(e) => return Err(e.into()),
    };
    if as_json {
        println!("{result}");
    } else {
        print!("{}", render_status(&result));
    }
    Ok(ExitCode::SUCCESS)
}

fn render_status(v: &Value) -> String {
    let mut out = format!("status: {}\n", plain(&v["status"]));
    for key in ["pid", "version", "uptime_secs", "config"] {
        if !v[key].is_null() {
            out.push_str(&format!("{key}: {}\n", plain(&v[key])));
        }
    }
    out.push_str(&format!("vhosts: {}\n", list(&v["vhosts"])));
    if let Some(listening) = v["listening"].as_object() {
        for (kind, addrs) in listening {
            let shown = if addrs.is_array() { list(addrs) } else { plain(addrs) };
            out.push_str(&format!("listening {kind}: {shown}\n"));
        }
    }
    out.push_str(&format!("sessions: {}\n", plain(&v["sessions"])));
    if let Some(by) = v["sessions_by_vhost"].as_object() {
        for (d, n) in by {
            out.push_str(&format!("sessions {d}: {}\n", plain(n)));
        }
    }
    out
}

pub fn sessions(found: &Found, domain: Option<String>, as_json: bool) -> anyhow::Result<ExitCode> {
    let result = call(found, &json!({"cmd": "sessions", "domain": domain}))?;
    let rows: Vec<SessionRow> =
        serde_json::from_value(result).map_err(|e| anyhow!("unexpected reply to sessions: {e}"))?;
    if as_json {
        println!("{}", serde_json::to_string(&rows)?);
    } else {
        print!("{}", render_sessions(&rows));
    }
    Ok(ExitCode::SUCCESS)
}

/// One session a line: full JID, resource, IP, client, separated by two
/// spaces (none of them holds a space: a resource may, so it is quoted then).
fn render_sessions(rows: &[SessionRow]) -> String {
    let field =
        |s: &str| if s.chars().any(char::is_whitespace) || s.is_empty() { format!("{s:?}") } else { s.to_owned() };
    rows.iter()
        .map(|r| format!("{}  {}  {}  {}\n", field(&r.jid), field(&r.resource), field(&r.ip), field(&r.client)))
        .collect()
}

pub fn kick(found: &Found, jid: &str, reason: &str) -> anyhow::Result<ExitCode> {
    let result = call(found, &json!({"cmd": "kick", "jid": jid, "reason": reason}))?;
    let ended: Vec<String> = serde_json::from_value(result).map_err(|e| anyhow!("unexpected reply to kick: {e}"))?;
    for j in ended {
        println!("kicked {j}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn stats(found: &Found, as_json: bool) -> anyhow::Result<ExitCode> {
    let v = call(found, &json!({"cmd": "stats"}))?;
    if as_json {
        println!("{v}");
        return Ok(ExitCode::SUCCESS);
    }
    for key in [
        "registered_users",
        "online_sessions",
        "uptime_secs",
        "s2s_outgoing",
        "s2s_incoming",
        "s2s_queued",
        "stanzas_routed",
    ] {
        println!("{key}: {}", plain(&v[key]));
    }
    for (group, prefix) in
        [("registered_users_by_vhost", "registered_users"), ("stanzas_routed_by_source", "stanzas_routed")]
    {
        if let Some(m) = v[group].as_object() {
            for (k, n) in m {
                println!("{prefix} {k}: {}", plain(n));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn announce(found: &Found, domain: Option<String>, message: &str) -> anyhow::Result<ExitCode> {
    let v = call(found, &json!({"cmd": "announce", "domain": domain, "message": message}))?;
    println!("announced to {} sessions", plain(&v));
    Ok(ExitCode::SUCCESS)
}

pub fn reload(found: &Found) -> anyhow::Result<ExitCode> {
    let v = call(found, &json!({"cmd": "reload"}))?;
    println!("reloaded: {}", plain(&v));
    Ok(ExitCode::SUCCESS)
}

pub fn stop(found: &Found, restart: bool, args: &StopArgs) -> anyhow::Result<ExitCode> {
    let req = json!({"cmd": "stop", "restart": restart, "delay_secs": args.delay, "reason": args.message});
    println!("{}", plain(&call(found, &req)?));
    Ok(ExitCode::SUCCESS)
}

fn plain(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

fn list(v: &Value) -> String {
    match v.as_array() {
        Some(items) if items.is_empty() => "-".to_owned(),
        Some(items) => items.iter().map(plain).collect::<Vec<_>>().join(", "),
        None => plain(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_are_keyed() {
        let v = json!({"status": "running", "pid": 42, "version": "0.1.0", "uptime_secs": 7, "vhosts": ["a.example"],
            "listening": {"c2s": ["127.0.0.1:5222"], "admin_socket": "/d/admin.sock"}, "sessions": 1,
            "sessions_by_vhost": {"a.example": 1}});
        let text = render_status(&v);
        assert!(text.starts_with("status: running\npid: 42\nversion: 0.1.0\nuptime_secs: 7\n"), "{text}");
        assert!(text.contains("vhosts: a.example\n") && text.contains("listening c2s: 127.0.0.1:5222\n"), "{text}");
        assert!(text.contains("listening admin_socket: /d/admin.sock\n") && text.contains("sessions a.example: 1\n"));
    }

    #[test]
    fn session_lines_quote_spaces() {
        let rows = vec![
            SessionRow {
                jid: "a@b/phone".into(),
                resource: "phone".into(),
                ip: "127.0.0.1".into(),
                client: "-".into(),
            },
            SessionRow {
                jid: "a@b/my pc".into(),
                resource: "my pc".into(),
                ip: "::1".into(),
                client: "https://gajim.org".into(),
            },
        ];
        assert_eq!(
            render_sessions(&rows),
            "a@b/phone  phone  127.0.0.1  -\n\"a@b/my pc\"  \"my pc\"  ::1  https://gajim.org\n"
        );
    }

    #[test]
    fn commands_without_a_server_say_so() {
        let dir = crate::testutil::tempdir("cli-control");
        let mut cfg = crate::config::Config::default();
        cfg.server.data_dir = dir.clone();
        let found = Found { cfg, source: crate::config::ConfigSource::Embedded };
        assert_eq!(status(&found, false).unwrap(), ExitCode::from(EXIT_NOT_RUNNING));
        let err = stats(&found, false).unwrap_err();
        assert!(err.downcast_ref::<super::super::NotRunning>().is_some(), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("admin.sock") && text.contains("WAXWING_CONFIG") && text.contains("waxwing serve"),
            "{text}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
