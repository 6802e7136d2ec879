//! The server side of the admin socket.

use std::fs::Permissions;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

use super::AdminApi;
use super::commands::{failure, respond};

/// Longest request line accepted; a bulk import of many thousand users fits.
pub const MAX_LINE: usize = 16 * 1024 * 1024;

/// Binds the socket (refusing if another server answers on it) and serves
/// it in a spawned task. Aborting the task closes the socket and removes
/// its file.
pub async fn serve(path: PathBuf, api: Arc<dyn AdminApi>) -> anyhow::Result<JoinHandle<()>> {
    let listener = bind(&path).await?;
    let file = SocketFile::new(path)?;
    tracing::info!(path = %file.path.display(), "admin socket listening");
    Ok(tokio::spawn(accept_loop(listener, api, file)))
}

async fn accept_loop(listener: UnixListener, api: Arc<dyn AdminApi>, _file: SocketFile) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(connection(stream, api.clone()));
            }
            Err(e) => {
                // Usually out of file descriptors: back off rather than spin.
                tracing::warn!("admin socket: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn bind(path: &Path) -> anyhow::Result<UnixListener> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating the admin socket's folder {}", dir.display()))?;
    clear_stale(path).await?;
    // Bound under a temporary name and renamed into place once it is 0600,
    // so there is no moment at which others could connect to it.
    let tmp = dir.join(format!(".admin-{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let listener =
        UnixListener::bind(&tmp).with_context(|| format!("binding the admin socket at {}", tmp.display()))?;
    let placed = std::fs::set_permissions(&tmp, Permissions::from_mode(0o600))
        .with_context(|| format!("making {} private", tmp.display()))
        .and_then(|()| {
            std::fs::rename(&tmp, path).with_context(|| format!("moving {} to {}", tmp.display(), path.display()))
        });
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(listener)
}

/// A socket file left by a server that died is removed; one that a live
/// server answers on is not ours to take.
async fn clear_stale(path: &Path) -> anyhow::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("inspecting the admin socket path {}", path.display())),
    };
    if !meta.file_type().is_socket() {
        bail!(
            "the admin socket path {} exists and is not a socket: move it away or set listen.admin_socket",
            path.display()
        );
    }
    match UnixStream::connect(path).await {
        Ok(_) => bail!(
            "another server is already listening on the admin socket {} (is `waxwing serve` running with this \
             data directory?)",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            std::fs::remove_file(path)
                .with_context(|| format!("removing the stale admin socket {}", path.display()))?;
            tracing::info!(path = %path.display(), "removed a stale admin socket left by an earlier run");
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("checking whether a server listens on {}", path.display())),
    }
}

/// Removes the socket file when serving stops, unless another server has
/// since put its own socket at the same path.
struct SocketFile {
    path: PathBuf,
    id: (u64, u64),
}

impl SocketFile {
    fn new(path: PathBuf) -> anyhow::Result<SocketFile> {
        let m = std::fs::symlink_metadata(&path).with_context(|| format!("inspecting {}", path.display()))?;
        Ok(SocketFile { id: (m.dev(), m.ino()), path })
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Ok(m) = std::fs::symlink_metadata(&self.path)
            && (m.dev(), m.ino()) == self.id
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

async fn connection(stream: UnixStream, api: Arc<dyn AdminApi>) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut line = Vec::new();
    loop {
        line.clear();
        let reply = match read_line(&mut read, &mut line).await {
            Ok(Line::Complete) if line.trim_ascii().is_empty() => continue,
            Ok(Line::Complete) => answer(&api, std::mem::take(&mut line)).await,
            Ok(Line::TooLong) => {
                let msg = format!("request line longer than {MAX_LINE} bytes; closing the connection");
                let _ = send(&mut write, &failure(msg)).await;
                return;
            }
            Ok(Line::Eof) => return,
            Err(e) => {
                tracing::debug!("admin socket: read failed: {e}");
                return;
            }
        };
        if let Err(e) = send(&mut write, &reply).await {
            tracing::debug!("admin socket: write failed: {e}");
            return;
        }
    }
}

enum Line {
    Complete,
    TooLong,
    Eof,
}

/// Reads one line of at most [`MAX_LINE`] bytes (plus its newline) without
/// ever buffering more than that.
async fn read_line<R: AsyncRead + Unpin>(read: &mut BufReader<R>, line: &mut Vec<u8>) -> std::io::Result<Line> {
    let n = read.take(MAX_LINE as u64 + 1).read_until(b'\n', line).await?;
    Ok(if n == 0 {
        Line::Eof
    } else if line.last() == Some(&b'\n') || line.len() <= MAX_LINE {
        // The second case is a last line without a newline before EOF.
        Line::Complete
    } else {
        Line::TooLong
    })
}

async fn answer(api: &Arc<dyn AdminApi>, line: Vec<u8>) -> Value {
    let api = api.clone();
    match tokio::task::spawn_blocking(move || respond(&*api, &line)).await {
        Ok(reply) => reply,
        Err(e) => {
            tracing::error!("admin command failed unexpectedly: {e}");
            failure("internal error while running the command; see the server log")
        }
    }
}

async fn send<W: tokio::io::AsyncWrite + Unpin>(write: &mut W, reply: &Value) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(reply).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    write.write_all(&bytes).await
}
