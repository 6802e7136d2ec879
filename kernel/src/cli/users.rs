//! `waxwing user ...`: through the running server's admin socket, or, when
//! no server runs, against the data directory in this process. Both paths
//! send the same request through [`admin::commands`], so they behave alike.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, anyhow, bail};
use serde_json::{Value, json};

use super::args::{UserAdd, UserCommand};
use super::{Found, import, password};
use crate::admin::commands::{AddOutcome, respond};
use crate::admin::{self, AdminError, LocalAdmin};

/// Users per `user-add` request: keeps each request far below the socket's
/// line limit and each reply prompt, while giving every core work.
const BATCH: usize = 256;

pub enum Admin {
    Server(PathBuf),
    Local(LocalAdmin),
}

impl Admin {
    /// The running server if one answers on the admin socket, else the data
    /// directory opened here, which must hold a database already: a CLI run
    /// from the wrong folder, or with the wrong config, must not make an
    /// empty database the server never sees.
    pub fn connect(found: &Found) -> anyhow::Result<Admin> {
        let path = found.cfg.admin_socket();
        match admin::request(&path, &json!({"cmd": "ping"})) {
            Ok(_) => Ok(Admin::Server(path)),
            Err(AdminError::NotRunning { .. }) => {
                let local = LocalAdmin::open_existing(&found.cfg, &found.source.describe()).with_context(|| {
                    format!("no server answers on {}, so opening its data directory", path.display())
                })?;
                Ok(Admin::Local(local))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn call(&self, req: &Value) -> Result<Value, AdminError> {
        match self {
            Admin::Server(path) => admin::request(path, req),
            Admin::Local(local) => admin::interpret(respond(local, req.to_string().as_bytes())),
        }
    }
}

pub fn run(found: &Found, cmd: UserCommand) -> anyhow::Result<ExitCode> {
    let admin = Admin::connect(found)?;
    match cmd {
        UserCommand::Add(UserAdd { file: Some(file), .. }) => import_file(&admin, &file),
        UserCommand::Add(UserAdd { jid: Some(jid), password: pw, .. }) => {
            let pw = pw.map_or_else(|| password::read(&jid), Ok)?;
            let outcome = add(&admin, &[(jid.as_str(), pw.as_str())])?.pop();
            match outcome {
                Some(AddOutcome { jid, error: None, .. }) => println!("created {jid}"),
                Some(AddOutcome { error: Some(e), .. }) => bail!("{e}"),
                None => bail!("the server returned no result for {jid}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::Add(UserAdd { jid: None, file: None, .. }) => bail!("give a JID or --file FILE"),
        UserCommand::Passwd { jid, password: pw } => {
            let pw = pw.map_or_else(|| password::read(&jid), Ok)?;
            admin.call(&json!({"cmd": "user-passwd", "jid": jid, "password": pw}))?;
            println!("password changed for {jid}");
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::Del { jid } => {
            admin.call(&json!({"cmd": "user-del", "jid": jid}))?;
            println!("deleted {jid}");
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::List { domain, json } => {
            let jids = list(&admin, domain.as_deref())?;
            if json {
                println!("{}", serde_json::to_string(&jids)?);
            } else {
                for jid in jids {
                    println!("{jid}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// One `user-add` request; the outcomes come back in the order given.
fn add(admin: &Admin, users: &[(&str, &str)]) -> anyhow::Result<Vec<AddOutcome>> {
    let users: Vec<Value> = users.iter().map(|(jid, pw)| json!({"jid": jid, "password": pw})).collect();
    let n = users.len();
    let reply = admin.call(&json!({"cmd": "user-add", "users": users}))?;
    let outcomes: Vec<AddOutcome> =
        serde_json::from_value(reply).map_err(|e| anyhow!("unexpected reply to user-add: {e}"))?;
    if outcomes.len() != n {
        bail!("unexpected reply to user-add: {} results for {n} users", outcomes.len());
    }
    Ok(outcomes)
}

pub fn list(admin: &Admin, domain: Option<&str>) -> anyhow::Result<Vec<String>> {
    let reply = admin.call(&json!({"cmd": "user-list", "domain": domain}))?;
    serde_json::from_value(reply).map_err(|e| anyhow!("unexpected reply to user-list: {e}"))
}

fn import_file(admin: &Admin, file: &Path) -> anyhow::Result<ExitCode> {
    let (name, data) = if file == Path::new("-") {
        let mut data = Vec::new();
        std::io::stdin().lock().read_to_end(&mut data).context("reading the import from standard input")?;
        ("standard input".to_owned(), data)
    } else {
        let data = std::fs::read(file).with_context(|| format!("reading import file {}", file.display()))?;
        (file.display().to_string(), data)
    };
    let report = import(admin, &data)?;
    for (line, jid) in &report.created {
        println!("line {line}: created {jid}");
    }
    for (line, err) in &report.failed {
        eprintln!("error: {name}, line {line}: {err}");
    }
    println!("{} created, {} failed", report.created.len(), report.failed.len());
    if report.failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    let lines: Vec<String> = report.failed.iter().map(|(l, _)| l.to_string()).collect();
    eprintln!("error: {name}: lines {} were not imported", lines.join(", "));
    Ok(ExitCode::FAILURE)
}

pub struct ImportReport {
    /// (line, JID) of each account created.
    pub created: Vec<(usize, String)>,
    /// (line, why) of each line not imported, in line order.
    pub failed: Vec<(usize, String)>,
}

/// Imports what can be imported and reports the rest by line.
pub fn import(admin: &Admin, data: &[u8]) -> anyhow::Result<ImportReport> {
    let parsed = import::parse(data);
    let mut report = ImportReport { created: Vec::new(), failed: parsed.errors };
    for batch in parsed.entries.chunks(BATCH) {
        let users: Vec<(&str, &str)> = batch.iter().map(|e| (e.jid.as_str(), e.password.as_str())).collect();
        for (entry, outcome) in batch.iter().zip(add(admin, &users)?) {
            match outcome.error {
                Some(e) => report.failed.push((entry.line, e)),
                None => report.created.push((entry.line, outcome.jid)),
            }
        }
    }
    report.failed.sort_by_key(|(line, _)| *line);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigSource};
    use crate::storage::Storage;
    use crate::testutil::tempdir;

    /// A data directory with a database in it, as `serve` leaves one.
    fn config(dir: &Path) -> Found {
        drop(Storage::open(dir).unwrap());
        let mut cfg = Config::default();
        cfg.server.data_dir = dir.to_path_buf();
        Found { cfg, source: ConfigSource::Embedded }
    }

    #[test]
    fn no_database_is_created_by_accident() {
        let dir = tempdir("cli-nodb");
        let mut cfg = Config::default();
        cfg.server.data_dir = dir.join("data");
        let found = Found { cfg, source: ConfigSource::Embedded };
        let err = format!("{:#}", Admin::connect(&found).err().expect("refused"));
        for want in ["no database", "data", "admin.sock", "waxwing serve", "--config", "WAXWING_CONFIG"] {
            assert!(err.contains(want), "{want:?} not in {err}");
        }
        assert!(!dir.join("data").exists(), "nothing was created");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_password_policy_holds_offline() {
        let dir = tempdir("cli-policy");
        let admin = Admin::connect(&config(&dir)).unwrap();
        let out = add(&admin, &[("short@localhost", "x"), ("long@localhost", "long-enough")]).unwrap();
        assert!(out[0].error.as_deref().is_some_and(|e| e.contains("at least 6 characters")), "{out:?}");
        assert_eq!(out[1].result.as_deref(), Some("created"));
        let err = admin.call(&json!({"cmd": "user-passwd", "jid": "long@localhost", "password": "2shrt"})).unwrap_err();
        assert!(err.to_string().contains("at least 6 characters"), "{err}");
        drop(admin);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn offline_add_list_del() {
        let dir = tempdir("cli-users");
        let cfg = config(&dir);
        {
            let admin = Admin::connect(&cfg).unwrap();
            assert!(matches!(admin, Admin::Local(_)), "no server runs, so the data dir is used");
            let data = b"# two good, two bad\nalice@localhost pw-alice-1\nbob@localhost pw-bob-22\n\
                         mallory@example.org pw-pw-pw\nalice@localhost again-pw\njust-a-word\n";
            let report = import(&admin, data).unwrap();
            assert_eq!(report.created, vec![(2, "alice@localhost".into()), (3, "bob@localhost".into())]);
            let failed: Vec<usize> = report.failed.iter().map(|(l, _)| *l).collect();
            assert_eq!(failed, vec![4, 5, 6]);
            assert!(report.failed[0].1.contains("example.org"), "{:?}", report.failed);
            assert!(report.failed[1].1.contains("listed twice"), "{:?}", report.failed);
            assert_eq!(list(&admin, None).unwrap(), vec!["alice@localhost", "bob@localhost"]);
            admin.call(&json!({"cmd": "user-del", "jid": "alice@localhost"})).unwrap();
            let err = admin.call(&json!({"cmd": "user-del", "jid": "alice@localhost"})).unwrap_err();
            assert!(err.to_string().contains("does not exist"), "{err}");
        }
        // The database is closed and reopened: the changes were kept.
        let admin = Admin::connect(&cfg).unwrap();
        assert_eq!(list(&admin, Some("localhost")).unwrap(), vec!["bob@localhost"]);
        let err = list(&admin, Some("other.org")).unwrap_err().to_string();
        assert!(err.contains("other.org"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn bulk_import_spans_batches() {
        let dir = tempdir("cli-bulk");
        let admin = Admin::connect(&config(&dir)).unwrap();
        let n = BATCH + 3;
        let data: String = (0..n).map(|i| format!("user{i}@localhost password-{i}\n")).collect();
        let report = import(&admin, data.as_bytes()).unwrap();
        assert_eq!(report.created.len(), n);
        assert!(report.failed.is_empty());
        assert_eq!(report.created[n - 1], (n, format!("user{}@localhost", n - 1)));
        assert_eq!(list(&admin, None).unwrap().len(), n);
        drop(admin);
        let _ = std::fs::remove_dir_all(dir);
    }
}
