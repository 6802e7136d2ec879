//! The files in `deploy/` work: the systemd unit passes `systemd-analyze
//! verify` (or, on a machine without systemd, parses and keeps its
//! hardening), the sysusers file makes its user, the example config
//! passes `waxwing check-config`, plugins loaded, as `serve` would load it,
//! and the server's log lines suit journald and log shippers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use waxwing_tests::Server;
use waxwing_tests::server::{binary, run_command};

fn deploy(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy").join(name)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("waxwing-deploy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn have(program: &str) -> bool {
    Command::new(program).arg("--version").output().is_ok_and(|o| o.status.success())
}

/// `[Section]` → key → values, every line a header, a comment or `Key=Value`.
fn unit_keys(text: &str) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let mut out: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut section = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = Some(name.to_string());
            continue;
        }
        let (key, value) = line.split_once('=').unwrap_or_else(|| panic!("line {}: not Key=Value: {line}", n + 1));
        let section = section.clone().unwrap_or_else(|| panic!("line {}: a key before any [Section]", n + 1));
        assert!(key.chars().all(|c| c.is_ascii_alphanumeric()), "line {}: key {key:?}", n + 1);
        out.entry(section).or_default().entry(key.to_string()).or_default().push(value.to_string());
    }
    out
}

#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    let text = std::fs::read_to_string(deploy("waxwing.service")).unwrap();
    let keys = unit_keys(&text);
    let service = &keys["Service"];
    let one = |k: &str| service.get(k).and_then(|v| v.last()).map(String::as_str).unwrap_or("");
    for (key, want) in [
        ("User", "waxwing"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("StateDirectory", "waxwing"),
        ("ConfigurationDirectory", "waxwing"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ("Restart", "on-failure"),
        ("CapabilityBoundingSet", ""),
    ] {
        assert_eq!(one(key), want, "{key}");
    }
    assert!(one("LimitNOFILE").parse::<u64>().is_ok_and(|n| n >= 65536), "LimitNOFILE={}", one("LimitNOFILE"));
    assert!(one("ExecStart").contains("--config /etc/waxwing/waxwing.toml serve"), "{}", one("ExecStart"));
    // Cranelift writes the machine code it then runs.
    assert!(!service.contains_key("MemoryDenyWriteExecute"));
    assert_eq!(keys["Install"]["WantedBy"], ["multi-user.target"]);

    if !have("systemd-analyze") {
        eprintln!("systemd-analyze is not installed: the unit's keys were checked, not verified by systemd");
        return;
    }
    // verify also checks that ExecStart's program exists: point it at the
    // binary under test.
    let dir = temp_dir("unit");
    let unit = dir.join("waxwing.service");
    let exe = binary();
    std::fs::write(&unit, text.replace("/usr/local/bin/waxwing", exe.to_str().unwrap())).unwrap();
    let mut cmd = Command::new("systemd-analyze");
    cmd.arg("verify").arg(&unit);
    let out = run_command(cmd, None);
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // An unknown key or a bad value is only a warning: nothing may be said.
    assert!(out.status.success() && said.trim().is_empty(), "systemd-analyze verify: {:?}\n{said}", out.status);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_sysusers_file_makes_the_service_user() {
    let text = std::fs::read_to_string(deploy("waxwing.sysusers")).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("u waxwing - "), "{}", lines[0]);
    if !have("systemd-sysusers") {
        eprintln!("systemd-sysusers is not installed: the line's shape was checked only");
        return;
    }
    let root = temp_dir("sysusers");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    let mut cmd = Command::new("systemd-sysusers");
    cmd.arg(format!("--root={}", root.display())).args(["--dry-run", "-"]);
    let out = run_command(cmd, Some(&text));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-sysusers: {said}");
    assert!(said.contains("Creating user 'waxwing'"), "{said}");
    let _ = std::fs::remove_dir_all(root);
}

#[test]
fn the_example_config_passes_check_config() {
    // The example's data_dir is /var/lib/waxwing; check-config compiles the
    // plugins into <data_dir>/plugin-cache, so a copy points it elsewhere.
    let dir = temp_dir("example");
    let text = std::fs::read_to_string(deploy("waxwing.example.toml")).unwrap();
    assert!(text.contains("\ndata_dir = \"/var/lib/waxwing\"\n"), "the example sets data_dir for the unit");
    // The harness's shared cache: each test server compiles the plugins once a build.
    let cache = binary().ancestors().nth(2).map(|t| t.join("plugin-cache")).unwrap_or_else(|| dir.join("cache"));
    let copy = text.replace("\ndata_dir = \"/var/lib/waxwing\"\n", "\ndata_dir = \"data\"\n").replace(
        "\n#plugin_cache_dir = \"/var/cache/waxwing\"\n",
        &format!("\nplugin_cache_dir = {:?}\n", cache.display().to_string()),
    );
    let file = dir.join("waxwing.toml");
    std::fs::write(&file, copy).unwrap();
    let mut cmd = Command::new(binary());
    cmd.arg("check-config").arg(&file);
    let out = run_command(cmd, None);
    assert!(
        out.status.success(),
        "check-config refused the example: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// A date and time as the plain format writes them: `2026-12-03T17:52:27`.
fn has_timestamp(line: &str) -> bool {
    let b = line.as_bytes();
    b.windows(9).any(|w| w[0] == b'T' && w[3] == b':' && w[6] == b':' && w[1].is_ascii_digit() && w[8].is_ascii_digit())
}

#[test]
fn under_journald_lines_carry_a_priority_and_no_timestamp() {
    use std::os::unix::fs::MetadataExt as _;
    let mut s = Server::configure("");
    // systemd names the journal stream it connects stderr to; the harness
    // appends to this file, so its inode is the stream's.
    let log = s.dir().join("server.log");
    std::fs::File::create(&log).unwrap();
    let meta = std::fs::metadata(&log).unwrap();
    s.set_env("JOURNAL_STREAM", &format!("{}:{}", meta.dev(), meta.ino()));
    s.launch();
    s.terminate();
    let text = s.log_text();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.iter().any(|l| l.starts_with("<6> INFO ")), "{text}");
    assert!(lines.iter().any(|l| l.starts_with("<7>DEBUG ")), "{text}");
    assert!(lines.iter().all(|l| !has_timestamp(l)), "journald stamps lines itself:\n{text}");
}

#[test]
fn a_journal_stream_that_is_not_stderr_changes_nothing() {
    // A shell started from a service inherits JOURNAL_STREAM but writes
    // where it was told.
    let mut s = Server::configure("");
    s.set_env("JOURNAL_STREAM", "1:1");
    s.launch();
    s.terminate();
    let text = s.log_text();
    assert!(text.lines().any(|l| has_timestamp(l) && l.contains(" INFO ")), "{text}");
    assert!(!text.contains("<6>"), "{text}");
}

#[test]
fn json_logs_are_one_object_a_line() {
    let mut s = Server::configure("");
    s.set_env("WAXWING_LOG_FORMAT", "json");
    s.launch();
    s.terminate();
    let text = s.log_text();
    let mut levels = std::collections::BTreeSet::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}\n{text}"));
        assert!(v["timestamp"].is_string() && v["target"].is_string() && v["fields"].is_object(), "{line}");
        levels.insert(v["level"].as_str().unwrap_or("").to_string());
    }
    assert!(levels.contains("INFO") && levels.contains("DEBUG"), "{levels:?}\n{text}");
}
