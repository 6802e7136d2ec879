//! The admin server over a real socket, with a fake server behind it.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::*;
use crate::storage::Storage;
use crate::testutil::tempdir;

struct Fake {
    accounts: Accounts,
    events: Mutex<Vec<String>>,
}

impl AdminApi for Fake {
    fn accounts(&self) -> &Accounts {
        &self.accounts
    }
    fn domains(&self) -> Vec<String> {
        vec!["a.example".into(), "b.example".into()]
    }
    fn plugin_list(&self) -> Value {
        json!([{"name": "ping", "vhost": "a.example"}])
    }
    fn plugin_reload(&self, name: &str, vhost: Option<&str>) -> anyhow::Result<String> {
        if name == "ping" {
            Ok(format!("reloaded ping on {}", vhost.unwrap_or("all")))
        } else {
            anyhow::bail!("no plugin {name:?}")
        }
    }
    fn on_user_created(&self, jid: &str) {
        self.events.lock().unwrap().push(format!("created {jid}"));
    }
    fn on_user_deleted(&self, jid: &str) {
        self.events.lock().unwrap().push(format!("deleted {jid}"));
    }
}

struct Harness {
    dir: PathBuf,
    sock: PathBuf,
    fake: Arc<Fake>,
    task: tokio::task::JoinHandle<()>,
}

impl Harness {
    async fn start() -> Harness {
        let dir = tempdir("admin");
        let storage = Storage::open(&dir).unwrap();
        let fake = Arc::new(Fake { accounts: Accounts::new(storage, 4096), events: Mutex::new(Vec::new()) });
        let sock = dir.join("admin.sock");
        let task = serve(sock.clone(), fake.clone()).await.unwrap();
        Harness { dir, sock, fake, task }
    }

    /// Runs the blocking client off the runtime's worker threads.
    async fn call(&self, req: Value) -> Result<Value, AdminError> {
        let sock = self.sock.clone();
        tokio::task::spawn_blocking(move || request(&sock, &req)).await.unwrap()
    }

    async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
        assert!(!self.sock.exists(), "socket file removed on stop");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn failed(r: Result<Value, AdminError>) -> String {
    match r {
        Err(AdminError::Failed(e)) => e,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// Sends raw lines on one connection and returns one reply per line.
fn raw(sock: &Path, lines: &[&[u8]]) -> Vec<Value> {
    let mut s = UnixStream::connect(sock).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut out = Vec::new();
    for l in lines {
        s.write_all(l).unwrap();
        let mut reply = String::new();
        r.read_line(&mut reply).unwrap();
        out.push(serde_json::from_str(&reply).unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_commands() {
    let h = Harness::start().await;
    let mode = std::fs::metadata(&h.sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(h.call(json!({"cmd": "ping"})).await.unwrap(), json!("pong"));

    let users = json!([
        {"jid": "Alice@a.example", "password": "secret-1"},
        {"jid": "bob@b.example", "password": "secret-2"},
        {"jid": "carol@elsewhere.org", "password": "x"},
        {"jid": "alice@a.example", "password": "again"},
        {"jid": "dave@a.example/phone", "password": "x"},
        {"jid": "a.example", "password": "x"},
        {"jid": "erin@a.example"},
        "not an object",
    ]);
    let res = h.call(json!({"cmd": "user-add", "users": users})).await.unwrap();
    let res: Vec<commands::AddOutcome> = serde_json::from_value(res).unwrap();
    assert_eq!(res.len(), 8);
    assert_eq!((res[0].jid.as_str(), res[0].result.as_deref()), ("alice@a.example", Some("created")));
    assert_eq!(res[1].result.as_deref(), Some("created"));
    let errors: Vec<&str> = res[2..].iter().map(|r| r.error.as_deref().unwrap()).collect();
    assert!(errors[0].contains("does not serve the domain \"elsewhere.org\""), "{}", errors[0]);
    assert!(errors[1].contains("listed twice") && errors[1].contains("entry 1"), "{}", errors[1]);
    assert!(errors[2].contains("resource"), "{}", errors[2]);
    assert!(errors[3].contains("no user part"), "{}", errors[3]);
    assert!(errors[4].contains("entry 7") && errors[4].contains("password"), "{}", errors[4]);
    assert!(errors[5].contains("entry 8"), "{}", errors[5]);
    assert_eq!(res[7].jid, "entry 8");

    let again = h.call(json!({"cmd": "user-add", "users": [{"jid": "alice@a.example", "password": "p4ss-word"}]}));
    let again: Vec<commands::AddOutcome> = serde_json::from_value(again.await.unwrap()).unwrap();
    assert!(again[0].error.as_deref().unwrap().contains("already exists"), "{again:?}");

    let all = h.call(json!({"cmd": "user-list"})).await.unwrap();
    assert_eq!(all, json!(["alice@a.example", "bob@b.example"]));
    let b = h.call(json!({"cmd": "user-list", "domain": "b.example"})).await.unwrap();
    assert_eq!(b, json!(["bob@b.example"]));
    let err = failed(h.call(json!({"cmd": "user-list", "domain": "c.example"})).await);
    assert!(err.contains("c.example"), "{err}");

    let ok = h.call(json!({"cmd": "user-passwd", "jid": "bob@b.example", "password": "new-secret"})).await;
    assert_eq!(ok.unwrap(), json!("password changed"));
    let err = failed(h.call(json!({"cmd": "user-passwd", "jid": "nobody@b.example", "password": "pw-pw-pw"})).await);
    assert!(err.contains("nobody@b.example"), "{err}");

    assert_eq!(h.call(json!({"cmd": "user-del", "jid": "bob@b.example"})).await.unwrap(), json!("deleted"));
    let err = failed(h.call(json!({"cmd": "user-del", "jid": "bob@b.example"})).await);
    assert!(err.contains("bob@b.example") && err.contains("does not exist"), "{err}");
    let err = failed(h.call(json!({"cmd": "user-del", "jid": "bob@@b.example"})).await);
    assert!(err.contains("not a valid JID"), "{err}");
    let err = failed(h.call(json!({"cmd": "user-del", "jid": "bob@other.example"})).await);
    assert!(err.contains("other.example"), "{err}");

    let events = h.fake.events.lock().unwrap().clone();
    assert_eq!(events, vec!["created alice@a.example", "created bob@b.example", "deleted bob@b.example"]);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_commands() {
    let h = Harness::start().await;
    assert_eq!(h.call(json!({"cmd": "plugin-list"})).await.unwrap()[0]["name"], json!("ping"));
    let r = h.call(json!({"cmd": "plugin-reload", "name": "ping", "vhost": "a.example"})).await.unwrap();
    assert_eq!(r, json!("reloaded ping on a.example"));
    let err = failed(h.call(json!({"cmd": "plugin-reload", "name": "nope"})).await);
    assert!(err.contains("no plugin \"nope\""), "{err}");
    let err = failed(h.call(json!({"cmd": "plugin-reload", "name": "ping", "vhost": "z.example"})).await);
    assert!(err.contains("z.example"), "{err}");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_leave_the_connection_usable() {
    let h = Harness::start().await;
    let sock = h.sock.clone();
    let replies = tokio::task::spawn_blocking(move || {
        raw(
            &sock,
            &[
                b"{not json\n",
                b"\n[1, 2]\n",
                b"{\"no\": \"cmd\"}\n",
                b"{\"cmd\": 7}\n",
                b"{\"cmd\": \"frobnicate\"}\n",
                b"{\"cmd\": \"user-del\"}\n",
                b"{\"cmd\": \"user-del\", \"jid\": \"a@a.example\", \"extra\": 1}\n",
                b"\xff\xfe\n",
                b"{\"cmd\": \"ping\"}\n",
            ],
        )
    })
    .await
    .unwrap();
    let wants = [
        "malformed JSON",
        "JSON object",
        "no \"cmd\"",
        "must be a string",
        "unknown command \"frobnicate\"",
        "missing field `jid`",
        "unknown field `extra`",
        "malformed JSON",
    ];
    for (reply, want) in replies.iter().zip(wants) {
        assert_eq!(reply["ok"], json!(false), "{reply}");
        let err = reply["error"].as_str().unwrap();
        assert!(err.contains(want), "{want:?} not in {err:?}");
    }
    assert_eq!(replies[8], json!({"ok": true, "result": "pong"}));
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlong_line_is_refused_and_closed() {
    let h = Harness::start().await;
    let sock = h.sock.clone();
    let (reply, rest) = tokio::task::spawn_blocking(move || {
        let s = UnixStream::connect(&sock).unwrap();
        let mut w = s.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            let chunk = vec![b' '; 1024 * 1024];
            // The server stops reading after 16 MiB, so later writes may fail.
            for _ in 0..(MAX_LINE / chunk.len() + 2) {
                if w.write_all(&chunk).is_err() {
                    break;
                }
            }
        });
        let mut r = BufReader::new(s);
        let mut reply = String::new();
        r.read_line(&mut reply).unwrap();
        let mut rest = String::new();
        let rest_n = r.read_line(&mut rest).unwrap_or(0);
        let _ = writer.join();
        (reply, rest_n)
    })
    .await
    .unwrap();
    let reply: Value = serde_json::from_str(&reply).unwrap();
    assert!(reply["error"].as_str().unwrap().contains("longer than"), "{reply}");
    assert_eq!(rest, 0, "connection closed");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_server_refused_stale_socket_replaced() {
    let h = Harness::start().await;
    let err = serve(h.sock.clone(), h.fake.clone()).await.unwrap_err().to_string();
    assert!(err.contains("already listening"), "{err}");
    assert_eq!(h.call(json!({"cmd": "ping"})).await.unwrap(), json!("pong"), "first server unharmed");

    // A socket file whose server died is taken over.
    let stale = h.dir.join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let task = serve(stale.clone(), h.fake.clone()).await.unwrap();
    let s = stale.clone();
    let pong = tokio::task::spawn_blocking(move || request(&s, &json!({"cmd": "ping"}))).await.unwrap();
    assert_eq!(pong.unwrap(), json!("pong"));
    task.abort();

    // A regular file in the way is not deleted.
    let file = h.dir.join("file.sock");
    std::fs::write(&file, "keep me").unwrap();
    let err = serve(file.clone(), h.fake.clone()).await.unwrap_err().to_string();
    assert!(err.contains("not a socket"), "{err}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    h.stop().await;
}

#[test]
fn concurrent_connections_are_served() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let h = rt.block_on(Harness::start());
    // Two connections open at once, answered in the order they ask.
    let mut first = UnixStream::connect(&h.sock).unwrap();
    let second = raw(&h.sock, &[b"{\"cmd\": \"ping\"}\n"]);
    assert_eq!(second[0]["result"], json!("pong"));
    first.write_all(b"{\"cmd\": \"ping\"}\n").unwrap();
    let mut reply = String::new();
    BufReader::new(first).read_line(&mut reply).unwrap();
    assert!(reply.contains("pong"));
    rt.block_on(h.stop());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_commands_check_their_input_first() {
    let h = Harness::start().await;
    // The fake answers none of these itself: what comes back is the checks'.
    let cases = [
        (json!({"cmd": "kick", "jid": "a.example"}), "no user part"),
        (json!({"cmd": "kick", "jid": "a@@a.example"}), "not a valid JID"),
        (json!({"cmd": "kick", "jid": "ann@c.example/r"}), "does not serve the domain \"c.example\""),
        (json!({"cmd": "sessions", "domain": "c.example"}), "c.example"),
        (json!({"cmd": "announce", "message": " \n"}), "announcement is empty"),
        (json!({"cmd": "announce", "domain": "c.example", "message": "hi"}), "c.example"),
        (json!({"cmd": "import", "path": "relative/dump.xml"}), "absolute path"),
        (json!({"cmd": "export", "domain": "c.example"}), "c.example"),
        (json!({"cmd": "announce"}), "missing field `message`"),
        (json!({"cmd": "kick", "jid": "ann@a.example", "force": true}), "unknown field `force`"),
        (json!({"cmd": "stop", "delay_secs": 90_000}), "over a day"),
        (json!({"cmd": "stop", "reason": "x".repeat(2000)}), "over 1024 bytes"),
        (json!({"cmd": "stop", "restart": "yes"}), "invalid type"),
        // What only a running server can answer says so.
        (json!({"cmd": "status"}), "needs a running server"),
        (json!({"cmd": "stats"}), "needs a running server"),
        (json!({"cmd": "reload"}), "needs a running server"),
        (json!({"cmd": "kick", "jid": "ann@a.example/r"}), "needs a running server"),
        (json!({"cmd": "stop", "restart": true}), "needs a running server"),
    ];
    for (req, want) in cases {
        let err = failed(h.call(req.clone()).await);
        assert!(err.contains(want), "{req}: {want:?} not in {err:?}");
    }
    h.stop().await;
}

#[test]
fn caps_nodes_are_read_from_presence() {
    let p = "<presence xmlns='jabber:client'><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' \
             node='https://gajim.org' ver='x'/></presence>";
    assert_eq!(commands::caps_node(p).as_deref(), Some("https://gajim.org"));
    assert_eq!(commands::caps_node("<presence xmlns='jabber:client'/>"), None);
    assert_eq!(
        commands::caps_node("<presence xmlns='jabber:client'><c node='x'/></presence>"),
        None,
        "wrong namespace"
    );
    assert_eq!(commands::caps_node("not xml"), None);
}
