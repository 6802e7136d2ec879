//! `waxwing import FILE` and `waxwing export [FILE]`: XEP-0227 files (see
//! [`crate::migrate`]). With a server running they go through its admin
//! socket into its live plugins; without, they open the data directory and
//! load the plugins here.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, anyhow, bail};
use serde_json::{Value, json};

use super::Found;
use crate::admin::{self, AdminError};
use crate::migrate::{Migrator, piefxis, with_runtime};

/// Whether a server answers on the admin socket.
fn server_runs(found: &Found) -> anyhow::Result<bool> {
    match admin::request(&found.cfg.admin_socket(), &json!({"cmd": "ping"})) {
        Ok(_) => Ok(true),
        Err(AdminError::NotRunning { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub fn import(found: Found, file: &Path) -> anyhow::Result<ExitCode> {
    if server_runs(&found)? {
        return import_live(&found, file);
    }
    let cfg = found.cfg;
    // Read first: a file that cannot be read changes nothing.
    let doc = piefxis::read_file(file)?;
    if !admin::has_database(&cfg.server.data_dir) {
        // Importing is how a new server is filled, so the database is made,
        // but never silently: this says where.
        eprintln!("creating a new database in {}", cfg.server.data_dir.display());
    }
    let report = with_runtime(move || -> anyhow::Result<_> {
        let m = Migrator::open(&cfg)?;
        Ok(m.import(doc))
    })??;
    let failed: Vec<(String, String)> = report.failed.iter().map(|(at, why)| (at.to_string(), why.clone())).collect();
    Ok(print_report(&report.imported, &report.warnings, &failed))
}

/// The server reads the file itself (its XIncludes are relative to it), so
/// the path goes over the socket, made absolute here.
fn import_live(found: &Found, file: &Path) -> anyhow::Result<ExitCode> {
    let path = std::fs::canonicalize(file).with_context(|| format!("reading {}", file.display()))?;
    let v = super::control::call(found, &json!({"cmd": "import", "path": path}))?;
    let strings = |key: &str| -> Vec<String> {
        v[key].as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()).unwrap_or_default()
    };
    let failed: Vec<(String, String)> = v["failed"]
        .as_array()
        .ok_or_else(|| anyhow!("unexpected reply to import: {v}"))?
        .iter()
        .map(|f| (text(&f["at"]), text(&f["why"])))
        .collect();
    Ok(print_report(&strings("imported"), &strings("warnings"), &failed))
}

fn text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

fn print_report(imported: &[String], warnings: &[String], failed: &[(String, String)]) -> ExitCode {
    for jid in imported {
        println!("imported {jid}");
    }
    for w in warnings {
        eprintln!("warning: {w}");
    }
    for (at, why) in failed {
        eprintln!("error: {at}: {why}");
    }
    println!("{} users imported, {} not imported", imported.len(), failed.len());
    if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

pub fn export(found: Found, file: Option<&Path>, domain: Option<String>) -> anyhow::Result<ExitCode> {
    let text = if server_runs(&found)? {
        let v = super::control::call(&found, &json!({"cmd": "export", "domain": domain}))?;
        v.as_str().ok_or_else(|| anyhow!("unexpected reply to export: {v}"))?.to_owned()
    } else {
        let cfg = found.cfg;
        if !admin::has_database(&cfg.server.data_dir) {
            bail!(
                "no database in the data directory {} and no server answers on the admin socket {} (config: {}): \
                 nothing to export; point this command at the server's config with --config FILE or WAXWING_CONFIG",
                cfg.server.data_dir.display(),
                cfg.admin_socket().display(),
                found.source.describe()
            );
        }
        let hosts = with_runtime(move || -> anyhow::Result<_> {
            let m = Migrator::open(&cfg)?;
            m.export(domain.as_deref())
        })??;
        piefxis::write(&hosts)
    };
    match file {
        Some(path) => {
            crate::migrate::write_private(path, text.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            let users = text.matches("<user ").count();
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
