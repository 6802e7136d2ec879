//! The `waxwing` command line against a stopped server (the data directory)
//! and a running one (the admin socket).

use std::process::Output;

use waxwing_tests::{Mech, RawClient, Server, waxwing};

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
    let out = ok(&s.cli(&["user", "add", "alice@localhost", "first-pw"]));
    assert!(out.contains("alice@localhost"), "{out}");
    ok(&s.cli(&["user", "add", "bob@localhost", "bob-pw"]));
    assert_eq!(listed(&s.cli(&["user", "list"])), ["alice@localhost", "bob@localhost"]);
    // The same account twice is an error naming it.
    let err = fails(&s.cli(&["user", "add", "alice@localhost", "again"]));
    assert!(err.contains("alice@localhost"), "{err}");
    // Password from standard input.
    ok(&s.cli_with_stdin(&["user", "passwd", "alice@localhost"], Some("second-pw\n")));
    ok(&s.cli(&["user", "del", "bob@localhost"]));
    assert_eq!(listed(&s.cli(&["user", "list"])), ["alice@localhost"]);
    let err = fails(&s.cli(&["user", "del", "bob@localhost"]));
    assert!(err.contains("bob@localhost"), "{err}");
    // A domain this server does not serve.
    let err = fails(&s.cli(&["user", "add", "carol@elsewhere.example", "pw"]));
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
    let err = fails(&s.cli(&["plugin", "list"]));
    assert!(err.contains("no server is running"), "{err}");
}
