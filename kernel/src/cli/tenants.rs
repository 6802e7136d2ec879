//! `waxwing tenant …`: tenants added, changed, listed and removed on the
//! running server, over its admin socket. The table sent is TOML with every
//! path absolute: the server's working directory is not the caller's.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, anyhow, bail};
use serde_json::json;

use super::Found;
use super::args::{TenantArgs, TenantCommand};
use super::control::call;

pub fn run(found: &Found, cmd: TenantCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TenantCommand::List { json } => {
            let v = call(found, &json!({"cmd": "tenant-list"}))?;
            if json {
                println!("{v}");
                return Ok(ExitCode::SUCCESS);
            }
            for t in v.as_array().into_iter().flatten() {
                println!(
                    "{} {} sessions={} connections={}",
                    t["domain"].as_str().unwrap_or("?"),
                    t["source"].as_str().unwrap_or("?"),
                    t["sessions"],
                    t["connections"]
                );
            }
        }
        TenantCommand::Add(args) => {
            let v = call(found, &json!({"cmd": "tenant-add", "config": table(&args)?}))?;
            println!("added: {}", plain(&v));
        }
        TenantCommand::Change(args) => {
            let v = call(found, &json!({"cmd": "tenant-change", "config": table(&args)?}))?;
            println!("changed: {}", plain(&v));
        }
        TenantCommand::Remove { domain, export, keep_data } => {
            let export = export.map(|p| absolute(&p)).transpose()?;
            let req = json!({"cmd": "tenant-remove", "domain": domain, "export": export, "keep_data": keep_data});
            println!("{}", plain(&call(found, &req)?));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn plain(v: &serde_json::Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

/// The tenant's table: `--from-file`'s, with the flags laid over it.
fn table(args: &TenantArgs) -> anyhow::Result<String> {
    let mut t = match &args.from_file {
        Some(file) => {
            let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
            let mut t: toml::Table = toml::from_str(&text).with_context(|| format!("in {}", file.display()))?;
            let base = absolute(file)?.parent().map(Path::to_path_buf).unwrap_or_default();
            rebase(&mut t, &base);
            if let Some(d) = t.get("domain").and_then(|d| d.as_str())
                && d != args.domain
            {
                bail!("{} names domain {d:?}, not {:?}", file.display(), args.domain);
            }
            t
        }
        None => toml::Table::new(),
    };
    t.insert("domain".into(), args.domain.clone().into());
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        t.insert("cert".into(), path_value(&absolute(cert)?)?);
        t.insert("key".into(), path_value(&absolute(key)?)?);
    }
    if !args.admins.is_empty() {
        t.insert("admins".into(), toml::Value::Array(args.admins.iter().map(|a| a.clone().into()).collect()));
    }
    if !args.quotas.is_empty() {
        let quotas = t.entry("quotas").or_insert_with(|| toml::Value::Table(toml::Table::new()));
        let toml::Value::Table(quotas) = quotas else { bail!("`quotas` in the file must be a table") };
        for q in &args.quotas {
            let (key, value) =
                q.split_once('=').ok_or_else(|| anyhow!("--quota {q:?}: write KEY=NUMBER, such as accounts=100"))?;
            let n: i64 = value.trim().parse().map_err(|_| anyhow!("--quota {q:?}: {value:?} is not a whole number"))?;
            quotas.insert(key.trim().to_owned(), n.into());
        }
    }
    toml::to_string(&t).context("writing the tenant's table")
}

/// Paths in a tenant file are the file's business; the server gets them whole.
fn rebase(t: &mut toml::Table, base: &Path) {
    let fix = |v: &mut toml::Value| {
        if let toml::Value::String(s) = v
            && s != "builtin"
            && Path::new(s.as_str()).is_relative()
        {
            *s = base.join(&*s).display().to_string();
        }
    };
    for key in ["cert", "key"] {
        if let Some(v) = t.get_mut(key) {
            fix(v);
        }
    }
    if let Some(toml::Value::Array(plugins)) = t.get_mut("plugin") {
        for p in plugins {
            if let Some(v) = p.get_mut("source") {
                fix(v);
            }
        }
    }
}

fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("{} has no absolute form", p.display()))
}

fn path_value(p: &Path) -> anyhow::Result<toml::Value> {
    p.to_str().map(|s| toml::Value::String(s.to_owned())).ok_or_else(|| anyhow!("{} is not UTF-8", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(domain: &str) -> TenantArgs {
        TenantArgs { domain: domain.into(), cert: None, key: None, admins: vec![], quotas: vec![], from_file: None }
    }

    #[test]
    fn flags_make_a_table_the_server_parses() {
        let mut a = args("a.example");
        a.admins = vec!["boss@a.example".into()];
        a.quotas = vec!["accounts=10".into(), "session_stanzas_per_sec = 5".into()];
        a.cert = Some("c.pem".into());
        a.key = Some("k.pem".into());
        let v = crate::tenants::parse_tenant(&table(&a).unwrap()).unwrap();
        assert_eq!(v.domain, "a.example");
        assert_eq!(v.admins, ["boss@a.example"]);
        assert_eq!(v.quotas.accounts, Some(10));
        assert_eq!(v.quotas.session_stanzas_per_sec, Some(5));
        assert!(v.cert.unwrap().is_absolute());
    }

    #[test]
    fn bad_quotas_and_files_are_named() {
        let mut a = args("a.example");
        a.quotas = vec!["accounts".into()];
        assert!(table(&a).unwrap_err().to_string().contains("KEY=NUMBER"));
        a.quotas = vec!["accounts=many".into()];
        assert!(table(&a).unwrap_err().to_string().contains("\"many\""));
        let dir = crate::testutil::tempdir("tenant-cli");
        let f = dir.join("t.toml");
        std::fs::write(&f, "domain = \"b.example\"\n").unwrap();
        let mut a = args("a.example");
        a.from_file = Some(f.clone());
        assert!(table(&a).unwrap_err().to_string().contains("b.example"));
        std::fs::write(&f, "[[plugin]]\nname = \"p\"\nsource = \"p.wasm\"\n").unwrap();
        let text = table(&a).unwrap();
        assert!(text.contains(&dir.join("p.wasm").display().to_string()), "{text}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
