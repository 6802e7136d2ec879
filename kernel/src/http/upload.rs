//! `/upload/<id>/<name>`: the PUT and GET of HTTP upload (XEP-0363) slots.
//! The PUT must carry the slot's token, its exact size and its content type
//! before its deadline, once; the GET serves the file once it is whole, in
//! a way no uploaded file can run script on this origin.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::Http;
use crate::uploads::{Slot, Uploads, names, now_ms};

/// A PUT that sends nothing for this long is abandoned.
const IDLE_BODY: Duration = Duration::from_secs(60);
/// Read size when serving a file.
const CHUNK: usize = 64 * 1024;

fn refuse(status: StatusCode, why: &str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{why}\n")).into_response()
}

fn uploads(http: &Http) -> Result<Arc<Uploads>, Response> {
    http.uploads.clone().ok_or_else(|| refuse(StatusCode::NOT_FOUND, "uploads are not served here"))
}

/// The slot `id`, if it exists and `name` is its file name. Off the async
/// workers: a database read.
async fn find(up: &Arc<Uploads>, id: &str, name: &str) -> Result<Slot, Response> {
    let (up, key) = (up.clone(), id.to_string());
    let found = tokio::task::spawn_blocking(move || up.slot(&key)).await;
    match found {
        Ok(Ok(Some(slot))) if slot.filename == name => Ok(slot),
        Ok(Ok(_)) => Err(refuse(StatusCode::NOT_FOUND, "no such file")),
        Ok(Err(e)) => {
            tracing::warn!(id, "reading an upload slot failed: {e:#}");
            Err(refuse(StatusCode::INTERNAL_SERVER_ERROR, "the upload store failed"))
        }
        Err(e) => {
            tracing::warn!(id, "reading an upload slot panicked: {e}");
            Err(refuse(StatusCode::INTERNAL_SERVER_ERROR, "the upload store failed"))
        }
    }
}

fn query_token(uri: &Uri) -> Option<&str> {
    uri.query()?.split('&').find_map(|kv| kv.strip_prefix("token="))
}

pub async fn put(
    State(http): State<Arc<Http>>,
    Path((id, name)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let up = match uploads(&http) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let slot = match find(&up, &id, &name).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !query_token(&uri).is_some_and(|t| up.token_matches(&id, &slot, t)) {
        return refuse(StatusCode::FORBIDDEN, "the upload token is missing or does not match this slot");
    }
    if slot.stored {
        return refuse(StatusCode::CONFLICT, "this slot's file is already uploaded");
    }
    if now_ms() > slot.put_deadline_ms {
        return refuse(StatusCode::FORBIDDEN, "this slot has expired: request a new one");
    }
    let length = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    match length {
        None => return refuse(StatusCode::LENGTH_REQUIRED, "send Content-Length with the slot's size"),
        Some(n) if n > slot.size => {
            return refuse(StatusCode::PAYLOAD_TOO_LARGE, &format!("this slot takes {} bytes", slot.size));
        }
        Some(n) if n != slot.size => {
            return refuse(StatusCode::BAD_REQUEST, &format!("this slot takes exactly {} bytes, not {n}", slot.size));
        }
        Some(_) => {}
    }
    if !slot.content_type.is_empty() {
        let sent = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if names::essence(sent) != names::essence(&slot.content_type) {
            return refuse(
                StatusCode::BAD_REQUEST,
                &format!("this slot takes Content-Type {}, not {sent:?}", slot.content_type),
            );
        }
    }
    let Some(_claim) = up.begin_put(&id) else {
        return refuse(StatusCode::CONFLICT, "another upload to this slot is in progress");
    };
    let part = up.part_path(&id);
    match receive(&part, body, slot.size).await {
        Ok(()) => {}
        Err(response) => {
            let _ = tokio::fs::remove_file(&part).await;
            return response;
        }
    }
    let (store, key) = (up.clone(), id.clone());
    let finished = tokio::task::spawn_blocking(move || {
        std::fs::rename(store.part_path(&key), store.file_path(&key))?;
        store.mark_stored(&key, slot)
    })
    .await;
    match finished {
        Ok(Ok(())) => {
            tracing::debug!(id, "upload stored");
            (StatusCode::CREATED, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "stored\n").into_response()
        }
        other => {
            tracing::warn!(id, "storing an upload failed: {other:?}");
            let _ = tokio::fs::remove_file(&part).await;
            let _ = tokio::fs::remove_file(up.file_path(&id)).await;
            refuse(StatusCode::INTERNAL_SERVER_ERROR, "storing the file failed")
        }
    }
}

/// Streams the body into `part`, exactly `size` bytes, synced.
async fn receive(part: &std::path::Path, body: Body, size: u64) -> Result<(), Response> {
    let disk = |e: std::io::Error| {
        tracing::warn!("writing {}: {e}", part.display());
        refuse(StatusCode::INSUFFICIENT_STORAGE, "the server could not write the file")
    };
    let mut file = tokio::fs::File::create(part).await.map_err(disk)?;
    let mut stream = body.into_data_stream();
    let mut got: u64 = 0;
    loop {
        let chunk = match tokio::time::timeout(IDLE_BODY, stream.next()).await {
            Err(_) => return Err(refuse(StatusCode::REQUEST_TIMEOUT, "the upload stalled")),
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                tracing::debug!("an upload's body ended early: {e}");
                return Err(refuse(StatusCode::BAD_REQUEST, "the upload's body ended early"));
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        got += chunk.len() as u64;
        if got > size {
            return Err(refuse(StatusCode::PAYLOAD_TOO_LARGE, &format!("this slot takes {size} bytes")));
        }
        file.write_all(&chunk).await.map_err(disk)?;
    }
    if got != size {
        return Err(refuse(StatusCode::BAD_REQUEST, &format!("the body had {got} bytes; this slot takes {size}")));
    }
    file.sync_all().await.map_err(disk)
}

pub async fn get(State(http): State<Arc<Http>>, Path((id, name)): Path<(String, String)>) -> Response {
    let up = match uploads(&http) {
        Ok(u) => u,
        Err(r) => return r,
    };
    let slot = match find(&up, &id, &name).await {
        Ok(s) if s.stored && (s.expires_ms == 0 || s.expires_ms > now_ms()) => s,
        Ok(_) => return refuse(StatusCode::NOT_FOUND, "no such file"),
        Err(r) => return r,
    };
    let file = match tokio::fs::File::open(up.file_path(&id)).await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(id, "an uploaded file is missing: {e}");
            return refuse(StatusCode::NOT_FOUND, "no such file");
        }
    };
    let body = Body::from_stream(futures_util::stream::unfold(file, |mut file| async move {
        let mut buf = vec![0u8; CHUNK];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buf)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    }));
    let content_type = if slot.content_type.is_empty() { "application/octet-stream" } else { &slot.content_type };
    let disposition = format!(
        "{}; filename*=UTF-8''{}",
        if names::inline(content_type) { "inline" } else { "attachment" },
        names::encode_segment(&slot.filename)
    );
    let mut response = Response::new(body);
    let h = response.headers_mut();
    let set = |h: &mut HeaderMap, name, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    };
    set(h, header::CONTENT_TYPE, content_type);
    set(h, header::CONTENT_LENGTH, &slot.size.to_string());
    set(h, header::CONTENT_DISPOSITION, &disposition);
    // An upload is someone else's content on this origin: never script, never sniffed.
    set(h, header::CONTENT_SECURITY_POLICY, "default-src 'none'; frame-ancestors 'none'; sandbox");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    // Caches keep it no longer than the server does.
    let left = if slot.expires_ms == 0 { 365 * 24 * 3600 } else { slot.expires_ms.saturating_sub(now_ms()) / 1000 };
    set(h, header::CACHE_CONTROL, &format!("public, max-age={left}, immutable"));
    // Any page may show or fetch a file whose URL it was given (web clients
    // decrypt OMEMO media with fetch); the URL is the capability.
    set(h, header::ACCESS_CONTROL_ALLOW_ORIGIN, "*");
    response
}

/// The CORS preflight of a browser's PUT; the CORS layer adds the headers.
pub async fn preflight() -> StatusCode {
    StatusCode::NO_CONTENT
}
