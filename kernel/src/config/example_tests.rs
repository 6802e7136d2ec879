//! `deploy/waxwing.example.toml` documents every key the config knows. The
//! keys are read off the serde structs themselves: `deny_unknown_fields`
//! makes an unknown key's error list the fields a table accepts, so a probe
//! key in each table (and in each table found under it) walks the whole
//! config. A field added without its line in the example fails here.

use std::collections::BTreeSet;

use super::Config;

const EXAMPLE: &str = include_str!("../../../deploy/waxwing.example.toml");
const PROBE: &str = "waxwing_probe_key";

/// The fields a table at `path` accepts, or `None` when no struct sits
/// there (a value, a map, a free-form table). `arrays` are the path's
/// prefixes that are arrays of tables (`vhost`, `vhost.plugin`).
fn fields_at(path: &[&str], array: bool, arrays: &BTreeSet<String>) -> Option<Vec<String>> {
    let mut text = String::new();
    for i in 1..path.len() {
        let prefix = path[..i].join(".");
        if arrays.contains(&prefix) {
            text.push_str(&format!("[[{prefix}]]\n"));
        }
    }
    if !path.is_empty() {
        let p = path.join(".");
        text.push_str(&if array { format!("[[{p}]]\n") } else { format!("[{p}]\n") });
    }
    text.push_str(&format!("{PROBE} = 1\n"));
    let err = Config::parse(&text).err()?.to_string();
    let (_, expected) = err.split_once(&format!("unknown field `{PROBE}`, expected "))?;
    let line = expected.lines().next().unwrap_or("");
    Some(line.split('`').skip(1).step_by(2).map(str::to_string).collect())
}

/// Every key path the config accepts: `server.data_dir`, `vhost.plugin.name`, …
fn known_keys() -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut arrays = BTreeSet::new();
    let mut todo: Vec<Vec<String>> = Vec::new();
    for f in fields_at(&[], false, &arrays).expect("the top level is a struct") {
        todo.push(vec![f]);
    }
    while let Some(path) = todo.pop() {
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        let joined = path.join(".");
        keys.insert(joined.clone());
        let table = fields_at(&p, false, &arrays);
        let nested = match table {
            Some(fields) => Some(fields),
            None => {
                let as_array = fields_at(&p, true, &arrays);
                if as_array.is_some() {
                    arrays.insert(joined.clone());
                }
                as_array
            }
        };
        for f in nested.into_iter().flatten() {
            let mut child = path.clone();
            child.push(f);
            todo.push(child);
        }
    }
    keys
}

/// The key paths the example mentions, set (`key = v`) or commented out
/// (`#key = v`), with tables named by their headers.
fn example_keys(text: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut section = String::new();
    for line in text.lines() {
        let line = line.strip_prefix('#').unwrap_or(line);
        if line.starts_with(' ') || line.is_empty() {
            continue;
        }
        if let Some(h) = line.strip_prefix('[') {
            section = h.trim_start_matches('[').split(']').next().unwrap_or("").trim().to_string();
            keys.insert(section.clone());
            // A header names the tables it lies in: [vhost.plugin.config]
            // is under vhost.plugin.
            let mut prefix = String::new();
            for part in section.split('.') {
                prefix = if prefix.is_empty() { part.to_string() } else { format!("{prefix}.{part}") };
                keys.insert(prefix.clone());
            }
        } else if let Some((k, _)) = line.split_once('=') {
            let k = k.trim();
            if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                keys.insert(if section.is_empty() { k.to_string() } else { format!("{section}.{k}") });
            }
        }
    }
    keys
}

/// The example with every `#key = v` and `#[table]` line switched on.
fn uncommented(text: &str) -> String {
    text.lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if !rest.starts_with(' ') && !rest.is_empty() => rest,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_walk_finds_nested_tables_and_stops_at_values() {
    let keys = known_keys();
    for k in ["server.data_dir", "listen.c2s", "s2s.routes", "uploads.max_file_size", "component.secret"] {
        assert!(keys.contains(k), "{k} in {keys:?}");
    }
    for k in ["vhost.domain", "vhost.plugin", "vhost.plugin.name", "vhost.plugin.config", "vhost.plugin.grants"] {
        assert!(keys.contains(k), "{k} in {keys:?}");
    }
    assert!(!keys.iter().any(|k| k.starts_with("s2s.routes.") || k.starts_with("vhost.plugin.config.")), "{keys:?}");
}

#[test]
fn the_example_config_documents_every_key_and_loads() {
    let known = known_keys();
    let documented = example_keys(EXAMPLE);
    let missing: Vec<&String> = known.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "deploy/waxwing.example.toml does not document {missing:?}: add each key with what it does, its default \
         and its unit"
    );
    // Keys the example mentions that no struct knows: `#key` lines are not
    // checked by the loader, so a renamed key would linger here.
    let unknown: Vec<&String> = documented
        .difference(&known)
        .filter(|k| {
            !k.starts_with("vhost.plugin.config.") && !k.starts_with("s2s.pinned.") && !k.starts_with("s2s.routes.")
        })
        .collect();
    assert!(unknown.is_empty(), "deploy/waxwing.example.toml mentions keys the config does not know: {unknown:?}");

    let dir = crate::testutil::tempdir("example-config");
    let file = dir.join("waxwing.toml");
    std::fs::write(&file, EXAMPLE).unwrap();
    let cfg = Config::load(&file).unwrap_or_else(|e| panic!("the example does not load: {e:#}"));
    assert_eq!(cfg.vhosts[0].domain, "example.org");
    // Its commented-out examples parse too, each with a value of its type.
    Config::parse(&uncommented(EXAMPLE)).unwrap_or_else(|e| panic!("the example's #key lines: {e:#}"));
    let _ = std::fs::remove_dir_all(dir);
}
