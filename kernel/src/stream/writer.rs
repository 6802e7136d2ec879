use std::time::Instant;

use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Writes to a stream, remembering when it last did so (for keepalives).
pub struct StreamWriter<W> {
    inner: W,
    last_write: Instant,
}

impl<W: AsyncWrite + Unpin> StreamWriter<W> {
    pub fn new(inner: W) -> Self {
        StreamWriter { inner, last_write: Instant::now() }
    }

    /// Writes and flushes.
    pub async fn send(&mut self, data: &str) -> std::io::Result<()> {
        self.inner.write_all(data.as_bytes()).await?;
        self.inner.flush().await?;
        self.last_write = Instant::now();
        Ok(())
    }

    /// Writes several pieces with one flush: the batching the session loop does.
    pub async fn send_all<S: AsRef<str>>(&mut self, pieces: &[S]) -> std::io::Result<()> {
        let total: usize = pieces.iter().map(|p| p.as_ref().len()).sum();
        let mut buf = Vec::with_capacity(total);
        for p in pieces {
            buf.extend_from_slice(p.as_ref().as_bytes());
        }
        self.inner.write_all(&buf).await?;
        self.inner.flush().await?;
        self.last_write = Instant::now();
        Ok(())
    }

    pub fn last_write(&self) -> Instant {
        self.last_write
    }

    pub async fn shutdown(&mut self) {
        let _ = self.inner.shutdown().await;
    }

    pub fn into_inner(self) -> W {
        self.inner
    }
}
