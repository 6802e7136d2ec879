//! Parsing and executing admin requests, independent of the transport.
//!
//! Everything here blocks (PBKDF2, RocksDB): the socket server calls it from
//! `spawn_blocking`.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;

use anyhow::{anyhow, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::AdminApi;
use super::parallel::parallel_map;
use crate::accounts::AccountError;

/// Every command name, for the error on an unknown one.
pub const COMMANDS: &[&str] = &[
    "ping",
    "user-add",
    "user-passwd",
    "user-del",
    "user-list",
    "plugin-list",
    "plugin-reload",
    "status",
    "sessions",
    "kick",
    "stats",
    "announce",
    "reload",
    "stop",
    "import",
    "export",
    "tenant-list",
    "tenant-add",
    "tenant-change",
    "tenant-remove",
];

/// `stop`'s longest delay: a day, as an admin's XEP-0133 command allows.
const MAX_STOP_DELAY_SECS: u64 = 86_400;
/// Bytes of the text sessions are told.
const MAX_REASON_BYTES: usize = 1024;

#[derive(Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Request {
    Ping,
    /// Entries are parsed one by one so that a malformed entry fails alone.
    UserAdd {
        users: Vec<Value>,
    },
    UserPasswd {
        jid: String,
        password: String,
    },
    UserDel {
        jid: String,
    },
    UserList {
        domain: Option<String>,
    },
    PluginList,
    PluginReload {
        name: String,
        vhost: Option<String>,
    },
    Status,
    Sessions {
        domain: Option<String>,
    },
    /// A full JID ends one session, a bare one every session of the account.
    Kick {
        jid: String,
        reason: Option<String>,
    },
    Stats,
    Announce {
        domain: Option<String>,
        message: String,
    },
    Reload,
    /// Stop (or, with `restart`, restart) the server in `delay_secs`,
    /// telling every session `reason`.
    Stop {
        #[serde(default)]
        restart: bool,
        #[serde(default)]
        delay_secs: u64,
        reason: Option<String>,
    },
    /// A XEP-0227 file the server reads itself (an absolute path).
    Import {
        path: String,
    },
    Export {
        domain: Option<String>,
    },
    TenantList,
    /// `config`: the tenant's table as TOML, the keys of a `[[vhost]]` table.
    TenantAdd {
        config: String,
    },
    TenantChange {
        config: String,
    },
    TenantRemove {
        domain: String,
        /// Export the tenant's accounts and data here first (an absolute path).
        export: Option<String>,
        #[serde(default)]
        keep_data: bool,
    },
}

/// Names the command only: requests carry passwords, which must not reach logs.
impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Request::Ping => "ping",
            Request::UserAdd { .. } => "user-add",
            Request::UserPasswd { .. } => "user-passwd",
            Request::UserDel { .. } => "user-del",
            Request::UserList { .. } => "user-list",
            Request::PluginList => "plugin-list",
            Request::PluginReload { .. } => "plugin-reload",
            Request::Status => "status",
            Request::Sessions { .. } => "sessions",
            Request::Kick { .. } => "kick",
            Request::Stats => "stats",
            Request::Announce { .. } => "announce",
            Request::Reload => "reload",
            Request::Stop { .. } => "stop",
            Request::Import { .. } => "import",
            Request::Export { .. } => "export",
            Request::TenantList => "tenant-list",
            Request::TenantAdd { .. } => "tenant-add",
            Request::TenantChange { .. } => "tenant-change",
            Request::TenantRemove { .. } => "tenant-remove",
        })
    }
}

/// One entry of a `user-add` batch.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    jid: String,
    password: String,
}

/// One bound client session, as `sessions` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRow {
    /// The full JID.
    pub jid: String,
    pub resource: String,
    /// The client's address, `-` when unknown.
    pub ip: String,
    /// The XEP-0115 caps node of the client's last presence, `-` when unknown.
    pub client: String,
}

/// The `node` of the XEP-0115 `<c/>` in a presence, which names the client
/// software (`https://gajim.org`, `http://conversations.im`...).
pub fn caps_node(presence_xml: &str) -> Option<String> {
    let el = waxwing_xml::Element::parse(presence_xml).ok()?;
    let c = el.elements().find(|e| e.name == "c" && e.ns == "http://jabber.org/protocol/caps")?;
    c.attr("node").filter(|n| !n.is_empty()).map(str::to_owned)
}

/// The outcome of one `user-add` entry, in request order: `result` is
/// "created", or `error` says why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddOutcome {
    pub jid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Request {
    /// One line of the wire protocol (without or with its newline).
    pub fn from_line(line: &[u8]) -> Result<Request, String> {
        let value: Value = serde_json::from_slice(line).map_err(|e| format!("malformed JSON: {e}"))?;
        Self::from_value(value)
    }

    pub fn from_value(value: Value) -> Result<Request, String> {
        let Some(obj) = value.as_object() else {
            return Err("a request must be a JSON object such as {\"cmd\": \"ping\"}".into());
        };
        let cmd = match obj.get("cmd") {
            None => return Err("the request has no \"cmd\" field".into()),
            Some(Value::String(c)) => c.clone(),
            Some(other) => return Err(format!("\"cmd\" must be a string, not {other}")),
        };
        if !COMMANDS.contains(&cmd.as_str()) {
            return Err(format!("unknown command {cmd:?}; known commands: {}", COMMANDS.join(", ")));
        }
        serde_json::from_value(value).map_err(|e| format!("bad {cmd:?} request: {e}"))
    }
}

/// The whole exchange for one request line: parse, execute, frame the reply.
pub fn respond(api: &dyn AdminApi, line: &[u8]) -> Value {
    match Request::from_line(line) {
        Ok(req) => match execute(api, req) {
            Ok(result) => json!({ "ok": true, "result": result }),
            Err(e) => failure(format!("{e:#}")),
        },
        Err(e) => failure(e),
    }
}

pub fn failure(message: impl Into<String>) -> Value {
    json!({ "ok": false, "error": message.into() })
}

pub fn execute(api: &dyn AdminApi, req: Request) -> anyhow::Result<Value> {
    match req {
        Request::Ping => Ok(json!("pong")),
        Request::UserAdd { users } => Ok(serde_json::to_value(add_users(api, users))?),
        Request::UserPasswd { jid, password } => {
            let user = UserJid::parse(&api.domains(), &jid)?;
            api.accounts().set_password(&user.domain, &user.node, &password).map_err(|e| user.error(e))?;
            Ok(json!("password changed"))
        }
        Request::UserDel { jid } => {
            let user = UserJid::parse(&api.domains(), &jid)?;
            api.accounts().delete(&user.domain, &user.node).map_err(|e| user.error(e))?;
            api.on_user_deleted(&user.bare());
            Ok(json!("deleted"))
        }
        Request::UserList { domain } => {
            let served = api.domains();
            let domains = match domain {
                Some(d) if served.contains(&d) => vec![d],
                Some(d) => bail!("this server does not serve the domain {d:?} (served: {})", served.join(", ")),
                None => served,
            };
            let mut jids = Vec::new();
            for d in domains {
                let users = api.accounts().list(&d).map_err(|e| anyhow!("listing the users of {d}: {e}"))?;
                jids.extend(users.into_iter().map(|u| format!("{u}@{d}")));
            }
            Ok(json!(jids))
        }
        Request::PluginList => Ok(api.plugin_list()),
        Request::PluginReload { name, vhost } => {
            if let Some(v) = &vhost {
                let served = api.domains();
                if !served.contains(v) {
                    bail!("this server does not serve the vhost {v:?} (served: {})", served.join(", "));
                }
            }
            Ok(json!(api.plugin_reload(&name, vhost.as_deref())?))
        }
        Request::Status => api.status(),
        Request::Sessions { domain } => {
            let domains = served_or(api, domain)?;
            let domain_of = |jid: &str| jid::FullJid::new(jid).map(|j| j.domain().as_str().to_owned()).ok();
            let rows: Vec<SessionRow> = api
                .sessions()?
                .into_iter()
                .filter(|r| domain_of(&r.jid).is_some_and(|d| domains.contains(&d)))
                .collect();
            Ok(serde_json::to_value(rows)?)
        }
        Request::Kick { jid, reason } => {
            let target = jid::Jid::new(&jid).map_err(|e| anyhow!("{jid:?} is not a valid JID: {e}"))?;
            let Some(node) = target.node() else {
                bail!("{jid:?} has no user part: give user@domain (every session) or user@domain/resource (one)");
            };
            let domain = target.domain().as_str();
            served_or(api, Some(domain.to_owned()))?;
            let bare = format!("{node}@{domain}");
            let resource = target.resource().map(|r| r.as_str().to_owned());
            let reason = reason.unwrap_or_else(|| "ended by the server's administrator".into());
            let ended = api.kick(&bare, resource.as_deref(), &reason)?;
            if ended.is_empty() {
                bail!("{jid} has no session online");
            }
            Ok(json!(ended))
        }
        Request::Stats => {
            let mut stats = api.stats()?;
            let mut registered = serde_json::Map::new();
            let mut total = 0;
            for d in api.domains() {
                let n = api.accounts().list(&d).map_err(|e| anyhow!("counting the users of {d}: {e}"))?.len();
                total += n;
                registered.insert(d, json!(n));
            }
            stats["registered_users"] = json!(total);
            stats["registered_users_by_vhost"] = Value::Object(registered);
            Ok(stats)
        }
        Request::Announce { domain, message } => {
            if message.trim().is_empty() {
                bail!("the announcement is empty: give the message text");
            }
            let mut sent = 0;
            for d in served_or(api, domain)? {
                sent += api.announce(&d, &message)?;
            }
            Ok(json!(sent))
        }
        Request::Reload => Ok(json!(api.reload()?)),
        Request::Stop { restart, delay_secs, reason } => {
            if delay_secs > MAX_STOP_DELAY_SECS {
                bail!("delay_secs {delay_secs} is over a day ({MAX_STOP_DELAY_SECS})");
            }
            let reason = reason.unwrap_or_default();
            if reason.len() > MAX_REASON_BYTES {
                bail!("the reason is over {MAX_REASON_BYTES} bytes");
            }
            api.stop(restart, std::time::Duration::from_secs(delay_secs), &reason)?;
            Ok(json!(if restart { "restarting" } else { "stopping" }))
        }
        Request::Import { path } => {
            let path = std::path::PathBuf::from(path);
            if !path.is_absolute() {
                bail!("the import file must be an absolute path (the server's working directory is not yours)");
            }
            api.import(&path)
        }
        Request::Export { domain } => {
            served_or(api, domain.clone())?;
            Ok(json!(api.export(domain.as_deref())?))
        }
        Request::TenantList => api.tenant_list(),
        Request::TenantAdd { config } => Ok(json!(api.tenant_add(&config)?)),
        Request::TenantChange { config } => Ok(json!(api.tenant_change(&config)?)),
        Request::TenantRemove { domain, export, keep_data } => {
            let export_to = export.map(std::path::PathBuf::from);
            if export_to.as_ref().is_some_and(|p| !p.is_absolute()) {
                bail!("the export file must be an absolute path (the server's working directory is not yours)");
            }
            let removal = crate::tenants::Removal { export_to, keep_data };
            Ok(json!(api.tenant_remove(&domain, &removal)?))
        }
    }
}

/// The one domain asked for (which must be served), or every served one.
fn served_or(api: &dyn AdminApi, domain: Option<String>) -> anyhow::Result<Vec<String>> {
    let served = api.domains();
    match domain {
        Some(d) if served.contains(&d) => Ok(vec![d]),
        Some(d) => bail!("this server does not serve the domain {d:?} (served: {})", served.join(", ")),
        None => Ok(served),
    }
}

/// Validates every entry first (so duplicates within the batch are caught
/// before two threads race to create the same account), then creates the
/// accounts in parallel: hashing dominates a bulk import.
fn add_users(api: &dyn AdminApi, users: Vec<Value>) -> Vec<AddOutcome> {
    let served = api.domains();
    let mut first_seen = HashMap::new();
    let checked: Vec<(String, CheckedEntry)> = users
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let label = v.get("jid").and_then(Value::as_str).map_or_else(|| format!("entry {}", i + 1), str::to_owned);
            match check_entry(&served, &mut first_seen, i + 1, v) {
                Ok((user, password)) => (user.bare(), Ok((user, password))),
                Err(e) => (label, Err(e)),
            }
        })
        .collect();
    let created = parallel_map(&checked, |(_, entry)| match entry {
        Ok((user, password)) => {
            api.accounts().create(&user.domain, &user.node, password).map_err(|e| user.error(e).to_string())
        }
        Err(e) => Err(e.clone()),
    });
    checked
        .into_iter()
        .zip(created)
        .map(|((jid, _), outcome)| match outcome {
            Ok(()) => {
                api.on_user_created(&jid);
                AddOutcome { jid, result: Some("created".into()), error: None }
            }
            Err(e) => AddOutcome { jid, result: None, error: Some(e) },
        })
        .collect()
}

/// An entry ready to create (the account and its password), or why not.
type CheckedEntry = Result<(UserJid, String), String>;

fn check_entry(served: &[String], first_seen: &mut HashMap<String, usize>, n: usize, entry: Value) -> CheckedEntry {
    let new = serde_json::from_value::<NewUser>(entry).map_err(|e| format!("entry {n}: {e}"))?;
    let user = UserJid::parse(served, &new.jid).map_err(|e| e.to_string())?;
    match first_seen.entry(user.bare()) {
        Entry::Occupied(first) => {
            Err(format!("{} is listed twice in this batch (first as entry {})", user.bare(), first.get()))
        }
        Entry::Vacant(slot) => {
            slot.insert(n);
            Ok((user, new.password))
        }
    }
}

/// A bare `user@domain` JID, normalised, under a domain this server serves.
struct UserJid {
    node: String,
    domain: String,
}

impl UserJid {
    fn parse(served: &[String], text: &str) -> anyhow::Result<UserJid> {
        let jid = jid::BareJid::new(text).map_err(|e| match e {
            jid::Error::ResourceInBareJid => anyhow!("{text:?} has a resource: give a bare JID, user@domain"),
            e => anyhow!("{text:?} is not a valid JID: {e}"),
        })?;
        let Some(node) = jid.node() else {
            bail!("{text:?} has no user part: give a bare JID, user@domain");
        };
        let domain = jid.domain().as_str();
        if !served.iter().any(|d| d == domain) {
            bail!("this server does not serve the domain {domain:?} of {text:?} (served: {})", served.join(", "));
        }
        Ok(UserJid { node: node.as_str().to_owned(), domain: domain.to_owned() })
    }

    fn bare(&self) -> String {
        format!("{}@{}", self.node, self.domain)
    }

    fn error(&self, e: AccountError) -> anyhow::Error {
        match e {
            AccountError::Exists => anyhow!("{} already exists", self.bare()),
            AccountError::NotFound => anyhow!("{} does not exist", self.bare()),
            e => anyhow!("{}: {e}", self.bare()),
        }
    }
}
