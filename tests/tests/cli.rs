//! The `waxwing` command line against a stopped server (the data directory)
//! and a running one (the admin socket).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use waxwing_tests::dns;
use waxwing_tests::server::{binary, run_command};
use waxwing_tests::{Mech, RawClient, Server, body, waxwing};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn ok(o: &Output) -> String {
    assert!(o.status.success(), "exit {}\nstdout: {}\nstderr: {}", o.status, stdout(o), stderr(o));
    stdout(o)
}

#[track_caller]
fn fails(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "expected exit 1\nstdout: {}\nstderr: {}", stdout(o), stderr(o));
    stderr(o)
}

fn listed(o: &Output) -> Vec<String> {
    ok(o).lines().map(str::to_string).collect()
}

/// Whether `user`/`pw` can log in: SASL success, or the failure condition.
async fn can_log_in(s: &Server, user: &str, pw: &str) -> Result<(), String> {
    let mut c = RawClient::connect_tls(s).await;
    c.auth(Mech::ScramSha256, user, pw).await.map_err(|f| f.to_string())
}

#[test]
fn version_flag_prints_the_version() {
    let o = waxwing(&["--version"]);
    let text = ok(&o);
    assert!(text.contains("waxwing"), "{text}");
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
    assert_eq!(ok(&waxwing(&["-V"])), text, "-V and --version differ");
}

#[test]
fn check_config_names_a_bad_key_and_exits_1() {
    let s = Server::configure("");
    let bad = s.dir().join("bad.toml");
    std::fs::write(&bad, "[server]\ndata_dri = \"somewhere\"\n").expect("writing bad.toml");
    let err = fails(&waxwing(&["check-config", bad.to_str().expect("utf-8 path")]));
    assert!(err.contains("data_dri"), "the bad key is not named: {err}");
    // The harness's own config is fine.
    let good = ok(&waxwing(&["check-config", s.config_path().to_str().expect("utf-8 path")]));
    assert!(good.contains("ok"), "{good}");
    // A bad value is named too.
    let bad_value = s.dir().join("bad-value.toml");
    std::fs::write(&bad_value, "[limits]\nmax_depth = 1\n").expect("writing bad-value.toml");
    let err = fails(&waxwing(&["check-config", bad_value.to_str().expect("utf-8 path")]));
    assert!(err.contains("limits.max_depth"), "{err}");
}

/// `check-config` loads what `serve` would load, so it refuses the same
/// things, each named: a builtin that does not exist, a file that is not a
/// component, a component whose name differs from its table, a setting the
/// plugin does not declare or of the wrong type, a certificate for another
/// name. And `serve` refuses each of them too.
#[test]
fn check_config_refuses_what_serve_refuses() {
    let s = Server::configure("");
    let dir = s.dir();
    let not_wasm = dir.join("not.wasm");
    std::fs::write(&not_wasm, b"\0asm\x01\0\0\0garbage").expect("writing not.wasm");
    let ping = waxwing_tests::server::built_plugin("ping").display().to_string();
    let other_cert = dir.join("other.crt");
    let other_key = dir.join("other.key");
    let plugin = |body: &str| format!("[[vhost]]\ndomain = \"localhost\"\n[[vhost.plugin]]\n{body}\n");
    let cases = [
        (plugin("name = \"pnig\""), vec!["pnig", "no builtin plugin"]),
        (
            plugin(&format!("name = \"bad\"\nsource = {:?}", not_wasm.display().to_string())),
            vec!["bad", "not a loadable component"],
        ),
        (plugin(&format!("name = \"pong\"\nsource = {ping:?}")), vec!["pong", "describes itself as \"ping\""]),
        (
            plugin("name = \"register\"\n[vhost.plugin.config]\nallow_registraton = true"),
            vec!["register", "allow_registraton", "allow_registration"],
        ),
        (
            plugin("name = \"offline\"\n[vhost.plugin.config]\nmax_messages_per_user = \"lots\""),
            vec!["offline", "max_messages_per_user"],
        ),
        (
            format!(
                "[[vhost]]\ndomain = \"localhost\"\ncert = {:?}\nkey = {:?}\n",
                other_cert.display().to_string(),
                other_key.display().to_string()
            ),
            vec!["does not name localhost"],
        ),
    ];
    // A real certificate and key, for another name.
    let mut gen_server =
        Server::configure("[[vhost]]\ndomain = \"other.example\"\n[[vhost.plugin]]\nname = \"ping\"\n");
    gen_server.launch();
    std::fs::copy(gen_server.data_dir().join("tls/other.example.crt"), &other_cert).expect("copying the certificate");
    std::fs::copy(gen_server.data_dir().join("tls/other.example.key"), &other_key).expect("copying the key");
    gen_server.terminate();
    for (i, (toml, wants)) in cases.iter().enumerate() {
        let file = dir.join(format!("case{i}.toml"));
        std::fs::write(
            &file,
            format!("[server]\ndata_dir = {:?}\n{toml}", dir.join(format!("data{i}")).display().to_string()),
        )
        .expect("writing a case");
        let err = fails(&waxwing(&["check-config", file.to_str().expect("utf-8 path")]));
        for want in wants {
            assert!(err.contains(want), "case {i}: check-config does not say {want:?}: {err}");
        }
        let served = fails(&waxwing(&["--config", file.to_str().expect("utf-8 path"), "serve"]));
        assert!(served.contains(wants[0]), "case {i}: serve did not refuse it the same way: {served}");
    }
}

#[tokio::test]
async fn user_commands_with_the_server_stopped() {
    let mut s = Server::configure("");
    // Offline, the CLI uses a database only where a server made one.
    let err = fails(&s.cli(&["user", "add", "alice@localhost", "first-pw"]));
    assert!(err.contains("no database") && err.contains("waxwing serve"), "{err}");
    s.launch();
    s.terminate();
    let out = ok(&s.cli(&["user", "add", "alice@localhost", "first-pw"]));
    assert!(out.contains("alice@localhost"), "{out}");
    ok(&s.cli(&["user", "add", "bob@localhost", "bob-pw"]));
    assert_eq!(listed(&s.cli(&["user", "list"])), ["alice@localhost", "bob@localhost"]);
    // The same account twice is an error naming it.
    let err = fails(&s.cli(&["user", "add", "alice@localhost", "again-pw"]));
    assert!(err.contains("alice@localhost"), "{err}");
    // Password from standard input.
    ok(&s.cli_with_stdin(&["user", "passwd", "alice@localhost"], Some("second-pw\n")));
    ok(&s.cli(&["user", "del", "bob@localhost"]));
    assert_eq!(listed(&s.cli(&["user", "list"])), ["alice@localhost"]);
    let err = fails(&s.cli(&["user", "del", "bob@localhost"]));
    assert!(err.contains("bob@localhost"), "{err}");
    // A domain this server does not serve.
    let err = fails(&s.cli(&["user", "add", "carol@elsewhere.example", "carol-pw"]));
    assert!(err.contains("elsewhere.example"), "{err}");

    // What was done offline is what the server then serves.
    s.launch();
    let _log = s.log_on_panic();
    can_log_in(&s, "alice", "second-pw").await.expect("the new password works");
    let f = can_log_in(&s, "alice", "first-pw").await.expect_err("the old password still works");
    assert!(f.contains("not-authorized"), "{f}");
    let f = can_log_in(&s, "bob", "bob-pw").await.expect_err("a deleted account can log in");
    assert!(f.contains("not-authorized"), "{f}");
}

#[tokio::test]
async fn user_commands_with_the_server_running() {
    let s = Server::start("");
    let _log = s.log_on_panic();
    ok(&s.cli(&["user", "add", "carl@localhost", "carl-pw-1"]));
    assert_eq!(listed(&s.cli(&["user", "list", "--domain", "localhost"])), ["carl@localhost"]);
    let mut session = RawClient::login(&s, "carl", "carl-pw-1").await;

    ok(&s.cli_with_stdin(&["user", "passwd", "carl@localhost"], Some("carl-pw-2\n")));
    let f = can_log_in(&s, "carl", "carl-pw-1").await.expect_err("the old password still works");
    assert!(f.contains("not-authorized"), "{f}");
    can_log_in(&s, "carl", "carl-pw-2").await.expect("the new password works");

    // Deleting an account ends its sessions.
    ok(&s.cli(&["user", "del", "carl@localhost"]));
    session.expect_stream_error("not-authorized").await;
    let f = can_log_in(&s, "carl", "carl-pw-2").await.expect_err("a deleted account can log in");
    assert!(f.contains("not-authorized"), "{f}");
    assert!(listed(&s.cli(&["user", "list"])).is_empty());
}

#[tokio::test]
async fn bulk_import_of_300_users_from_stdin() {
    let s = Server::start("");
    let _log = s.log_on_panic();
    let input: String = (0..300).map(|i| format!("bulk{i}@localhost bulk-password-{i}\n")).collect();
    let out = ok(&s.cli_with_stdin(&["user", "add", "--file", "-"], Some(&input)));
    assert!(out.contains("300 created, 0 failed"), "{out}");
    let users = listed(&s.cli(&["user", "list"]));
    assert_eq!(users.len(), 300, "{users:?}");
    assert!(users.iter().any(|u| u == "bulk299@localhost"), "{users:?}");
    for i in [0, 150, 299] {
        let c = RawClient::login(&s, &format!("bulk{i}"), &format!("bulk-password-{i}")).await;
        assert!(c.jid.as_deref().is_some_and(|j| j.starts_with(&format!("bulk{i}@localhost/"))));
    }
}

#[test]
fn bad_import_lines_are_reported_by_number() {
    let s = Server::start("");
    let _log = s.log_on_panic();
    let input =
        "# accounts\ngood1@localhost pw-one\nno-password@localhost\ngood2@localhost pw-two\nbad@other.example pw\n";
    let o = s.cli_with_stdin(&["user", "add", "--file", "-"], Some(input));
    let err = fails(&o);
    assert!(err.contains("line 3"), "line 3 (no password) is not named: {err}");
    assert!(err.contains("line 5"), "line 5 (unknown domain) is not named: {err}");
    assert!(!err.contains("line 2") && !err.contains("line 4"), "good lines reported as bad: {err}");
    // The good lines were imported all the same.
    assert_eq!(listed(&s.cli(&["user", "list"])), ["good1@localhost", "good2@localhost"]);
}

#[test]
fn plugin_list_shows_the_default_plugins() {
    let s = Server::start("");
    let _log = s.log_on_panic();
    let out = ok(&s.cli(&["plugin", "list"]));
    for name in ["disco", "ping", "time", "version"] {
        assert!(out.lines().any(|l| l.split_whitespace().next() == Some(name)), "{name} is not listed:\n{out}");
    }
}

#[test]
fn plugin_list_without_a_server_is_a_clear_error() {
    let s = Server::configure("");
    // Exit 3: the command needs a running server (as `status` says when stopped).
    let o = s.cli(&["plugin", "list"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("no server is running"), "{}", stderr(&o));
}

/// `waxwing ARGS...` in `dir`, with `env` set and no `--config`; nothing of
/// the test runner's own `WAXWING_CONFIG` leaks in.
fn waxwing_in(dir: &Path, env: &[(&str, &Path)], args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(binary());
    cmd.current_dir(dir).args(args).env_remove("WAXWING_CONFIG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_command(cmd, stdin)
}

#[track_caller]
fn exit_code(o: &Output, want: i32) -> String {
    assert_eq!(o.status.code(), Some(want), "expected exit {want}\nstdout: {}\nstderr: {}", stdout(o), stderr(o));
    stdout(o)
}

/// The value of a `key: value` line.
fn field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix(&format!("{key}: ")).map(str::to_string))
}

/// A scratch folder that is no server's: the CLI run from "another directory".
fn elsewhere() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "waxwing-cli-elsewhere-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating a scratch folder");
    dir
}

#[test]
fn no_database_is_created_from_another_directory() {
    let dir = elsewhere();
    let o = waxwing_in(&dir, &[], &["user", "add", "alice@localhost", "alice-pw-1"], None);
    let err = fails(&o);
    for want in ["no database", "data", "admin.sock", "waxwing serve", "--config", "WAXWING_CONFIG"] {
        assert!(err.contains(want), "{want:?} is not in: {err}");
    }
    assert!(!dir.join("data").exists(), "the CLI made a data directory in {}", dir.display());
    // Listing, deleting and exporting refuse the same way.
    fails(&waxwing_in(&dir, &[], &["user", "list"], None));
    let err = fails(&waxwing_in(&dir, &[], &["export"], None));
    assert!(err.contains("no database"), "{err}");
    assert!(!dir.join("data").exists());
    // Commands that need a server exit 3.
    let o = waxwing_in(&dir, &[], &["stats"], None);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("error: no server is running"), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_config_is_found_through_waxwing_config() {
    let s = Server::start("");
    let _log = s.log_on_panic();
    let dir = elsewhere();
    let o = waxwing_in(&dir, &[("WAXWING_CONFIG", s.config_path())], &["status"], None);
    assert_eq!(field(&ok(&o), "status").as_deref(), Some("running"));
    // --config wins over the variable.
    let o = waxwing_in(
        &dir,
        &[("WAXWING_CONFIG", Path::new("/nonexistent.toml"))],
        &["--config", s.config_path().to_str().expect("utf-8"), "status"],
        None,
    );
    ok(&o);
    // A variable naming a missing file is an error that names it.
    let err = fails(&waxwing_in(&dir, &[("WAXWING_CONFIG", Path::new("/nonexistent.toml"))], &["status"], None));
    assert!(err.contains("WAXWING_CONFIG") && err.contains("/nonexistent.toml"), "{err}");
    ok(&waxwing_in(
        &dir,
        &[("WAXWING_CONFIG", s.config_path())],
        &["user", "add", "envuser@localhost", "env-pw-1"],
        None,
    ));
    assert_eq!(listed(&s.cli(&["user", "list"])), ["envuser@localhost"]);
    let json: serde_json::Value =
        serde_json::from_str(&ok(&s.cli(&["user", "list", "--json"]))).expect("user list --json");
    assert_eq!(json, serde_json::json!(["envuser@localhost"]));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn status_running_and_not() {
    let mut s = Server::start("");
    let out = ok(&s.cli(&["status"]));
    assert_eq!(field(&out, "status").as_deref(), Some("running"), "{out}");
    assert_eq!(field(&out, "pid"), Some(s.pid().to_string()), "{out}");
    assert_eq!(field(&out, "version").as_deref(), Some(env!("CARGO_PKG_VERSION")), "{out}");
    assert_eq!(field(&out, "vhosts").as_deref(), Some("localhost"), "{out}");
    assert_eq!(field(&out, "listening c2s"), Some(s.c2s_addr().to_string()), "{out}");
    assert_eq!(field(&out, "sessions").as_deref(), Some("0"), "{out}");
    let json: serde_json::Value = serde_json::from_str(&ok(&s.cli(&["status", "--json"]))).expect("status --json");
    assert_eq!(json["status"], "running");
    assert!(json["uptime_secs"].is_u64(), "{json}");
    s.terminate();
    let out = exit_code(&s.cli(&["status"]), 3);
    assert_eq!(field(&out, "status").as_deref(), Some("not running"), "{out}");
    assert!(field(&out, "admin_socket").is_some_and(|p| p.ends_with("admin.sock")), "{out}");
}

#[tokio::test]
async fn sessions_kick_stats_and_announce() {
    let s = Server::start_with_localhost_users("", &["ann", "ben"], "session-pw");
    let _log = s.log_on_panic();
    let mut phone = RawClient::login_with(&s, "ann@localhost", "session-pw", Mech::ScramSha256, Some("phone")).await;
    phone
        .send("<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://client.example/app' ver='x'/></presence>")
        .await;
    let mut laptop = RawClient::login_with(&s, "ann@localhost", "session-pw", Mech::ScramSha256, Some("laptop")).await;
    let mut ben = RawClient::login_with(&s, "ben@localhost", "session-pw", Mech::ScramSha256, Some("desk")).await;

    // The caps node arrives with the presence; wait until the server saw it.
    let mut lines = Vec::new();
    for _ in 0..100 {
        lines = listed(&s.cli(&["sessions"]));
        if lines.iter().any(|l| l.contains("client.example")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        lines,
        [
            "ann@localhost/laptop  laptop  127.0.0.1  -",
            "ann@localhost/phone  phone  127.0.0.1  https://client.example/app",
            "ben@localhost/desk  desk  127.0.0.1  -",
        ]
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&s.cli(&["sessions", "--json", "--domain", "localhost"]))).expect("json");
    assert_eq!(json.as_array().map(Vec::len), Some(3), "{json}");
    assert_eq!(json[1]["resource"], "phone");
    assert_eq!(json[1]["ip"], "127.0.0.1");
    let err = fails(&s.cli(&["sessions", "--domain", "elsewhere.example"]));
    assert!(err.contains("elsewhere.example"), "{err}");

    let stats = ok(&s.cli(&["stats"]));
    assert_eq!(field(&stats, "registered_users").as_deref(), Some("2"), "{stats}");
    assert_eq!(field(&stats, "online_sessions").as_deref(), Some("3"), "{stats}");
    assert!(field(&stats, "stanzas_routed").and_then(|n| n.parse::<u64>().ok()).is_some_and(|n| n >= 1), "{stats}");
    assert_eq!(field(&stats, "s2s_outgoing").as_deref(), Some("0"), "{stats}");
    let json: serde_json::Value = serde_json::from_str(&ok(&s.cli(&["stats", "--json"]))).expect("stats --json");
    assert_eq!(json["registered_users_by_vhost"]["localhost"], 2);

    // An announcement reaches every session, from the domain.
    let out = ok(&s.cli(&["announce", "maintenance at noon"]));
    assert_eq!(out.trim(), "announced to 3 sessions");
    for c in [&mut phone, &mut laptop, &mut ben] {
        let m = c.next_where("the announcement", |e| e.name == "message").await;
        assert_eq!(m.attr("from"), Some("localhost"));
        assert_eq!(body(&m), "maintenance at noon");
    }
    let err = fails(&s.cli(&["announce", "--domain", "elsewhere.example", "hi"]));
    assert!(err.contains("elsewhere.example"), "{err}");
    fails(&s.cli(&["announce", "  "]));

    // Kick one session by full JID, then the rest of an account by bare JID.
    let out = ok(&s.cli(&["kick", "ann@localhost/phone", "--reason", "testing kicks"]));
    assert_eq!(out.trim(), "kicked ann@localhost/phone");
    let e = phone.expect_stream_error("policy-violation").await;
    assert!(e.to_string().contains("testing kicks"), "{e}");
    let out = ok(&s.cli(&["kick", "ben@localhost"]));
    assert_eq!(out.trim(), "kicked ben@localhost/desk");
    ben.expect_stream_error("policy-violation").await;
    let err = fails(&s.cli(&["kick", "ben@localhost"]));
    assert!(err.contains("no session online"), "{err}");
    let err = fails(&s.cli(&["kick", "localhost"]));
    assert!(err.contains("no user part"), "{err}");
    let err = fails(&s.cli(&["kick", "a@@b"]));
    assert!(err.contains("not a valid JID"), "{err}");
    let err = fails(&s.cli(&["kick", "ann@elsewhere.example"]));
    assert!(err.contains("elsewhere.example"), "{err}");
    // The other session is untouched.
    let r = laptop.iq("get", Some("localhost"), "<ping xmlns='urn:xmpp:ping'/>").await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
}

#[test]
fn reload_reports_a_bad_file_and_applies_a_good_one() {
    let s = Server::start("");
    let _log = s.log_on_panic();
    let good = std::fs::read_to_string(s.config_path()).expect("reading the config");
    std::fs::write(s.config_path(), format!("{good}\n[limits]\nmax_depth = 1\n")).expect("writing a bad config");
    // The CLI reads the same (now bad) file to find the socket: it names the key.
    let err = fails(&waxwing(&["--config", s.config_path().to_str().expect("utf-8"), "reload"]));
    assert!(err.contains("limits.max_depth"), "{err}");
    // A bad file the CLI itself can read but the server refuses: an unknown plugin.
    std::fs::write(
        s.config_path(),
        format!("{good}\n[[vhost]]\ndomain = \"localhost\"\n[[vhost.plugin]]\nname = \"pnig\"\n"),
    )
    .expect("writing a bad config");
    let err = fails(&s.cli(&["reload"]));
    assert!(err.contains("pnig") && err.contains("running config is kept"), "{err}");
    std::fs::write(s.config_path(), &good).expect("restoring the config");
    let out = ok(&s.cli(&["reload"]));
    assert!(out.starts_with("reloaded: "), "{out}");
    assert_eq!(field(&ok(&s.cli(&["status"])), "status").as_deref(), Some("running"));
}

#[tokio::test]
async fn import_and_export_while_the_server_runs() {
    let s = Server::start("");
    let _log = s.log_on_panic();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/piefxis/basic.xml");
    let o = s.cli(&["import", file.to_str().expect("utf-8")]);
    let out = ok(&o);
    assert!(out.contains("imported alice@localhost") && out.contains("2 users imported, 0 not imported"), "{out}");
    // The live server has them: they log in, with their roster.
    let mut alice = RawClient::login_with(&s, "alice@localhost", "alice-old-pw", Mech::ScramSha256, Some("pc")).await;
    let r = alice.iq("get", None, "<query xmlns='jabber:iq:roster'/>").await;
    assert!(r.to_string().contains("bob@localhost"), "{r}");
    // Importing again refuses the users that exist, by line.
    let o = s.cli(&["import", file.to_str().expect("utf-8")]);
    let err = fails(&o);
    assert!(err.contains("alice@localhost already exists"), "{err}");
    // Export from the running server.
    let dump = ok(&s.cli(&["export"]));
    assert!(dump.contains("<user name='alice'>") && dump.contains("SCRAM-SHA-256"), "{dump}");
    let err = fails(&s.cli(&["export", "--domain", "elsewhere.example"]));
    assert!(err.contains("elsewhere.example"), "{err}");
    let err = fails(&s.cli(&["import", "/nonexistent/dump.xml"]));
    assert!(err.contains("/nonexistent/dump.xml"), "{err}");
}

#[tokio::test]
async fn one_password_policy_for_cli_and_admin_socket() {
    let s = Server::start("");
    let _log = s.log_on_panic();
    let err = fails(&s.cli(&["user", "add", "short@localhost", "x"]));
    assert!(err.contains("at least 6 characters"), "{err}");
    ok(&s.cli(&["user", "add", "long@localhost", "long-enough"]));
    let err = fails(&s.cli_with_stdin(&["user", "passwd", "long@localhost"], Some("12345\n")));
    assert!(err.contains("at least 6 characters"), "{err}");
    // The socket itself, as any other admin tool would use it.
    let sock = s.admin_socket();
    let reply = tokio::task::spawn_blocking(move || {
        use std::io::{BufRead as _, Write as _};
        let mut c = std::os::unix::net::UnixStream::connect(&sock).expect("connecting to the admin socket");
        c.write_all(b"{\"cmd\": \"user-passwd\", \"jid\": \"long@localhost\", \"password\": \"abc\"}\n")
            .expect("writing");
        let mut line = String::new();
        std::io::BufReader::new(c).read_line(&mut line).expect("reading");
        line
    })
    .await
    .expect("the socket client");
    assert!(reply.contains("\"ok\":false") && reply.contains("at least 6 characters"), "{reply}");
    can_log_in(&s, "long", "long-enough").await.expect("the password did not change");
}

#[tokio::test]
async fn file_import_keeps_spaces_as_stdin_does() {
    let s = Server::start("");
    let _log = s.log_on_panic();
    let out = ok(&s.cli_with_stdin(&["user", "add", "--file", "-"], Some("spacey@localhost pass word  \r\n")));
    assert!(out.contains("1 created"), "{out}");
    can_log_in(&s, "spacey", "pass word  ").await.expect("the trailing spaces are part of the password");
    let f = can_log_in(&s, "spacey", "pass word").await.expect_err("the password was trimmed");
    assert!(f.contains("not-authorized"), "{f}");
    // And standard input keeps them too.
    ok(&s.cli_with_stdin(&["user", "passwd", "spacey@localhost"], Some(" lead and trail \n")));
    can_log_in(&s, "spacey", " lead and trail ").await.expect("stdin keeps the spaces");
}

#[test]
fn help_documents_every_command() {
    let top = ok(&waxwing(&["--help"]));
    for want in ["5222", "5223", "5269", "5280", "5281", "5282", "WAXWING_CONFIG", "WAXWING_LOG", "SIGHUP", "data_dir"]
    {
        assert!(top.contains(want), "{want} is not in --help:\n{top}");
    }
    for cmd in ["status", "sessions", "kick", "stats", "announce", "reload", "import", "export"] {
        assert!(top.contains(cmd), "{cmd} is not listed:\n{top}");
        let help = ok(&waxwing(&[cmd, "--help"]));
        assert!(help.contains("Usage: waxwing"), "{cmd}: {help}");
    }
    let kick = ok(&waxwing(&["kick", "--help"]));
    assert!(kick.contains("user@domain/resource") && kick.contains("--reason"), "{kick}");
    let o = waxwing(&["kick"]);
    assert_eq!(o.status.code(), Some(2), "a usage error: {}", stderr(&o));
}

#[test]
fn check_certs_and_config() {
    let mut s = Server::configure("");
    // Before the first start there is no certificate at all: a warning.
    let out = ok(&s.cli(&["check", "certs"]));
    assert!(out.starts_with("warning localhost: no certificate configured"), "{out}");
    s.launch();
    let out = ok(&s.cli(&["check", "certs"]));
    assert!(out.contains("names localhost *.localhost") && out.contains("expires"), "{out}");
    let out = ok(&s.cli(&["check", "config"]));
    assert!(out.trim().ends_with(": ok"), "{out}");
    // The old name still works.
    ok(&s.cli(&["check-config", s.config_path().to_str().expect("utf-8")]));
}

/// `check dns` against a DNS server of the test's own on loopback
/// (`[s2s] dns_server`), as tests/tests/s2s_dns.rs serves one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_dns_reports_what_is_missing() {
    use hickory_proto::rr::RecordType;
    let mut zone = dns::Zone::new();
    zone.insert(("_xmpp-client._tcp.a.test.".into(), RecordType::SRV), vec![dns::srv(5222, "xmpp.a.test.")]);
    zone.insert(("xmpp.a.test.".into(), RecordType::A), vec![dns::a_record()]);
    zone.insert(("a.test.".into(), RecordType::A), vec![dns::a_record()]);
    zone.insert(("_xmpp-client._tcp.b.test.".into(), RecordType::SRV), vec![dns::srv(5222, "xmpp.b.test.")]);
    zone.insert(("_xmpp-server._tcp.b.test.".into(), RecordType::SRV), vec![dns::srv(5269, "xmpp.b.test.")]);
    zone.insert(("xmpp.b.test.".into(), RecordType::A), vec![dns::a_record()]);
    let dns_addr = dns::server(zone).await;
    let s = Server::configure_listening(
        "s2s = [\"127.0.0.1:5269\"]",
        &format!(
            "[s2s]\ndns_server = \"{dns_addr}\"\n\n[[vhost]]\ndomain = \"a.test\"\n\n[[vhost]]\ndomain = \"b.test\"\n"
        ),
    );
    let run = |args: Vec<&'static str>| {
        let config = s.config_path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            let mut cmd = Command::new(binary());
            cmd.arg("--config").arg(config).args(args);
            run_command(cmd, None)
        })
    };
    // a.test: clients find it, other servers do not.
    let o = run(vec!["check", "dns", "a.test"]).await.expect("the CLI ran");
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("ok _xmpp-client._tcp.a.test SRV 0 5 5222 xmpp.a.test"), "{out}");
    assert!(out.contains("ok xmpp.a.test A/AAAA 127.0.0.1"), "{out}");
    assert!(out.contains("missing _xmpp-server._tcp.a.test SRV (listen.s2s is 127.0.0.1:5269)"), "{out}");
    assert!(out.contains("ok a.test A/AAAA 127.0.0.1"), "{out}");
    // b.test has what it needs (direct TLS SRV records are optional).
    let o = run(vec!["check", "dns", "b.test"]).await.expect("the CLI ran");
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(out.contains("ok _xmpp-server._tcp.b.test SRV 0 5 5269 xmpp.b.test"), "{out}");
    assert!(!out.lines().any(|l| l.starts_with("missing")), "{out}");
    // Without a domain: every vhost, so the missing record of a.test fails it.
    let o = run(vec!["check", "dns"]).await.expect("the CLI ran");
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    // A domain nothing knows: everything missing.
    let o = run(vec!["check", "dns", "nowhere.test"]).await.expect("the CLI ran");
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("missing nowhere.test A/AAAA"), "{}", stdout(&o));
}

#[test]
fn dev_without_arguments_prints_usage() {
    let dev = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dev");
    let o = run_command(Command::new(&dev), None);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("usage: ./dev COMMAND"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("unbound variable"), "{}", stderr(&o));
    let mut help = Command::new(&dev);
    help.arg("help");
    let o = run_command(help, None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("./dev test"), "{}", stdout(&o));
}

#[tokio::test]
async fn stop_and_restart_tell_every_session_and_restart_keeps_the_process() {
    let mut s = Server::start_with_localhost_users("", &["ann"], "stop-pw-1");
    let pid = s.pid();
    let bad = fails(&s.cli(&["stop", "--delay", "90000"]));
    assert!(bad.contains("over a day"), "{bad}");
    let usage = s.cli(&["restart", "--delay", "soon"]);
    assert_eq!(usage.status.code(), Some(2), "{}", stderr(&usage));

    let mut ann = RawClient::login_with(&s, "ann@localhost", "stop-pw-1", Mech::ScramSha256, Some("a")).await;
    let since = std::time::SystemTime::now();
    let out = ok(&s.cli(&["restart", "--message", "Upgrading, back in a moment"]));
    assert_eq!(out.trim(), "restarting");
    let closed = ann.expect_stream_error("system-shutdown").await;
    assert!(closed.to_string().contains("Upgrading"), "{closed}");
    s.await_relaunch(since);
    assert_eq!(s.pid(), pid, "the same process");

    let mut ann = RawClient::login_with(&s, "ann@localhost", "stop-pw-1", Mech::ScramSha256, Some("b")).await;
    assert_eq!(ok(&s.cli(&["stop"])).trim(), "stopping");
    ann.expect_stream_error("system-shutdown").await;
    let status = s.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "{}", s.log_tail(40));
    let again = s.cli(&["stop"]);
    exit_code(&again, 3);
    assert!(stderr(&again).contains("no server is running"), "{}", stderr(&again));
}
