//! The client side of the admin socket, for the CLI.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

/// Long enough for a large import batch to be hashed, short enough that a
/// wedged server does not hang the CLI forever.
const REPLY_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Nothing listens on the socket: the server is not running, and the
    /// caller may act on the data directory itself.
    #[error("no server is listening on the admin socket {}", path.display())]
    NotRunning { path: PathBuf },
    /// The server ran the command and it failed; the message says why.
    #[error("{0}")]
    Failed(String),
    #[error("admin socket {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("unexpected reply on the admin socket: {0}")]
    Protocol(String),
}

/// Sends one request and waits for its reply.
pub fn request(path: &Path, req: &Value) -> Result<Value, AdminError> {
    let io = |source| AdminError::Io { path: path.to_owned(), source };
    let stream = UnixStream::connect(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
            AdminError::NotRunning { path: path.to_owned() }
        }
        _ => io(e),
    })?;
    stream.set_read_timeout(Some(REPLY_TIMEOUT)).map_err(io)?;
    let mut line = serde_json::to_vec(req).map_err(|e| AdminError::Protocol(format!("encoding the request: {e}")))?;
    line.push(b'\n');
    (&stream).write_all(&line).map_err(io)?;
    let mut reply = Vec::new();
    BufReader::new(&stream).read_until(b'\n', &mut reply).map_err(io)?;
    if reply.is_empty() {
        return Err(AdminError::Protocol("the server closed the connection without replying".into()));
    }
    let reply: Value =
        serde_json::from_slice(&reply).map_err(|e| AdminError::Protocol(format!("reply is not JSON: {e}")))?;
    interpret(reply)
}

/// Turns a reply object into the command's result or its error.
pub fn interpret(reply: Value) -> Result<Value, AdminError> {
    match reply.get("ok") {
        Some(Value::Bool(true)) => Ok(reply.get("result").cloned().unwrap_or(Value::Null)),
        Some(Value::Bool(false)) => match reply.get("error") {
            Some(Value::String(e)) => Err(AdminError::Failed(e.clone())),
            _ => Err(AdminError::Protocol(format!("failure without an error message: {reply}"))),
        },
        _ => Err(AdminError::Protocol(format!("no boolean \"ok\" field: {reply}"))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn replies_are_interpreted() {
        assert_eq!(interpret(json!({"ok": true, "result": [1]})).unwrap(), json!([1]));
        assert_eq!(interpret(json!({"ok": true})).unwrap(), Value::Null);
        assert!(matches!(interpret(json!({"ok": false, "error": "no"})), Err(AdminError::Failed(e)) if e == "no"));
        assert!(matches!(interpret(json!({"ok": false})), Err(AdminError::Protocol(_))));
        assert!(matches!(interpret(json!({"ok": "yes"})), Err(AdminError::Protocol(_))));
    }

    #[test]
    fn missing_socket_means_not_running() {
        let dir = crate::testutil::tempdir("admin-client");
        let path = dir.join("none.sock");
        assert!(matches!(request(&path, &json!({"cmd": "ping"})), Err(AdminError::NotRunning { .. })));
        // A socket file nobody listens on (a crashed server's) is the same.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(matches!(request(&path, &json!({"cmd": "ping"})), Err(AdminError::NotRunning { .. })));
        let _ = std::fs::remove_dir_all(dir);
    }
}
