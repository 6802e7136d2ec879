//! `waxwing plugin new`: the crate it writes builds outside the repository
//! against the SDK, loads from a config, and answers a client.

use std::process::Command;

use waxwing_tests::server::binary;
use waxwing_tests::{RawClient, Server, waxwing};

const PW: &str = "new-plugin-pw";

#[tokio::test]
async fn a_new_plugin_builds_loads_and_answers() {
    let scratch = Server::configure("");
    let dir = scratch.dir().join("motd");
    let out = waxwing(&["plugin", "new", "motd", "--dir", dir.to_str().expect("utf-8 path")]);
    assert!(out.status.success(), "plugin new: {}", String::from_utf8_lossy(&out.stderr));

    // Built like the repository's plugins (same lock, same target dir), so
    // the SDK and its dependencies compiled for them are reused.
    let target = binary().ancestors().nth(2).expect("<target>/debug/waxwing").join("plugins");
    let lock = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/Cargo.lock");
    std::fs::copy(&lock, dir.join("Cargo.lock")).expect("copying the plugins' Cargo.lock");
    let built = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--target", "wasm32-wasip2", "--offline"])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(&dir)
        .output()
        .expect("running cargo");
    assert!(built.status.success(), "cargo build: {}", String::from_utf8_lossy(&built.stderr));
    let wasm = target.join("wasm32-wasip2/release/motd.wasm");

    let config = format!(
        "[[vhost]]\ndomain = \"localhost\"\n[[vhost.plugin]]\nname = \"motd\"\nsource = {:?}\n\
         [vhost.plugin.config]\ngreeting = \"Welcome aboard\"\n",
        wasm.display().to_string()
    );
    let s = Server::start_with_users(&config, &[("ann@localhost", PW)]);
    let _log = s.log_on_panic();
    let mut c = RawClient::login(&s, "ann", PW).await;
    let r = c.iq("get", Some("localhost"), "<hello xmlns='urn:example:motd'/>").await;
    assert_eq!(r.attr("type"), Some("result"), "{r}");
    let hello = r.child("hello", "urn:example:motd").unwrap_or_else(|| panic!("no <hello/>: {r}"));
    assert_eq!(hello.text(), "Welcome aboard");
}
