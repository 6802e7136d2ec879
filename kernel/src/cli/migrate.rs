//! `waxwing import FILE` and `waxwing export [FILE]`: XEP-0227 files, with
//! the server stopped (see [`crate::migrate`]).

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use serde_json::json;

use crate::admin::{self, AdminError};
use crate::config::Config;
use crate::migrate::{Migrator, piefxis, with_runtime};

/// Import and export open the database and load the plugins themselves:
/// a running server holds both.
fn refuse_if_running(cfg: &Config, what: &str) -> anyhow::Result<()> {
    let path = cfg.admin_socket();
    match admin::request(&path, &json!({"cmd": "ping"})) {
        Err(AdminError::NotRunning { .. }) => Ok(()),
        Ok(_) => bail!(
            "a server is running on this data directory (it answers on {}): stop it first, then run `waxwing {what}` \
             again (it opens the database and loads the plugins itself)",
            path.display()
        ),
        Err(e) => Err(e.into()),
    }
}

pub fn import(cfg: Config, file: &Path) -> anyhow::Result<ExitCode> {
    refuse_if_running(&cfg, "import")?;
    // Read first: a file that cannot be read changes nothing.
    let doc = piefxis::read_file(file)?;
    let report = with_runtime(move || -> anyhow::Result<_> {
        let m = Migrator::open(&cfg)?;
        Ok(m.import(doc))
    })??;
    for jid in &report.imported {
        println!("imported {jid}");
    }
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    for (at, why) in &report.failed {
        eprintln!("error: {at}: {why}");
    }
    println!("{} users imported, {} not imported", report.imported.len(), report.failed.len());
    Ok(if report.failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

pub fn export(cfg: Config, file: Option<&Path>, domain: Option<String>) -> anyhow::Result<ExitCode> {
    refuse_if_running(&cfg, "export")?;
    let hosts = with_runtime(move || -> anyhow::Result<_> {
        let m = Migrator::open(&cfg)?;
        m.export(domain.as_deref())
    })??;
    let text = piefxis::write(&hosts);
    let users: usize = hosts.iter().map(|h| h.users.len()).sum();
    match file {
        Some(path) => {
            write_private(path, text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("exported {users} users to {}", path.display());
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes()).context("writing the export to standard output")?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The file holds every account's SCRAM credentials: readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
