//! The HTTP server: XMPP over WebSocket (RFC 7395) at `/xmpp-websocket`,
//! BOSH (XEP-0124/0206) at `/http-bind`, connection discovery (XEP-0156) at `/.well-known/host-meta[.json]`,
//! HTTP upload (XEP-0363) at `/upload/`, and a health check; `/metrics` on a listener of its own. Plain HTTP (for loopback and a reverse proxy that
//! terminates TLS) and HTTPS on the kernel's own rustls acceptor, with each
//! vhost's certificate.

mod bosh;
mod cors;
mod host_meta;
mod metrics;
mod upload;
mod websocket;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::routing::get;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

use waxwing_xml::{Element, escape_attr, ns};

use crate::c2s::C2s;
use crate::s2s::S2s;
use crate::stream;
use crate::uploads::Uploads;

/// What a request's connection is: where it comes from, and whether it is
/// encrypted (or from loopback, where a reverse proxy terminates TLS).
#[derive(Debug, Clone, Copy)]
pub struct Connection {
    pub peer: SocketAddr,
    pub tls: bool,
}

impl Connection {
    /// A WebSocket may authenticate over it: TLS, or a loopback peer (the
    /// proxy in front did TLS; Prosody's `consider_websocket_secure`).
    pub fn secure(&self) -> bool {
        self.tls || self.peer.ip().is_loopback()
    }
}

pub struct Http {
    c2s: Arc<C2s>,
    s2s: Option<Arc<S2s>>,
    bosh: bosh::Sessions,
    uploads: Option<Arc<Uploads>>,
}

impl Http {
    pub fn new(c2s: Arc<C2s>, s2s: Option<Arc<S2s>>, uploads: Option<Arc<Uploads>>) -> Arc<Self> {
        Arc::new(Http { c2s, s2s, bosh: bosh::Sessions::default(), uploads })
    }

    /// The operators' listener: `/metrics` and `/health` only, loopback by default.
    fn metrics_router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/metrics", get(metrics::serve))
            .route("/health", get(|| async { "ok\n" }))
            .with_state(self.clone())
    }

    fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/xmpp-websocket", get(websocket::upgrade))
            .route("/http-bind", axum::routing::post(bosh::request).options(bosh::preflight))
            .route("/.well-known/host-meta", get(host_meta::xrd))
            .route("/.well-known/host-meta.json", get(host_meta::json))
            .route("/upload/{id}/{name}", get(upload::get).put(upload::put).options(upload::preflight))
            .route("/health", get(|| async { "ok\n" }))
            .layer(axum::middleware::from_fn_with_state(self.clone(), cors::layer))
            .with_state(self.clone())
    }
}

/// One element as a standalone document: stanzas with `xmlns='jabber:client'`,
/// features and stream errors with the `stream:` prefix declared, as
/// clients (Strophe.js among them) look for them by that name.
pub(crate) fn standalone(el: &Element) -> String {
    if el.ns != ns::STREAMS {
        return el.to_xml();
    }
    let mut out = format!("<stream:{} xmlns:stream='{}'", el.name, ns::STREAMS);
    for (k, v) in &el.attrs {
        out.push_str(&format!(" {k}='{}'", escape_attr(v)));
    }
    out.push('>');
    for child in el.elements() {
        child.write_to(&mut out, ns::STREAMS);
    }
    out.push_str(&format!("</stream:{}>", el.name));
    out
}

/// The client's stream header for the c2s stream, from the attributes of
/// a WebSocket `<open/>` or a BOSH session request (`to`, `version`,
/// `xml:lang`).
fn client_header(el: &Element) -> String {
    let mut header = format!("<stream:stream xmlns='{}' xmlns:stream='{}'", ns::CLIENT, ns::STREAMS);
    for key in ["to", "from", "version", "xml:lang"] {
        if let Some(v) = el.attr(key) {
            header.push_str(&format!(" {key}='{}'", escape_attr(v)));
        }
    }
    header.push('>');
    header
}

/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// What a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serves {
    Clients,
    Metrics,
}

/// Binds an HTTP (or, with `tls`, HTTPS) listener; returns the bound address.
pub async fn listen(
    ctx: Arc<Http>,
    addr: SocketAddr,
    tls: bool,
    serves: Serves,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await.with_context(|| format!("binding HTTP port {addr}"))?;
    let local = listener.local_addr()?;
    if let (Serves::Clients, Some(up)) = (serves, &ctx.uploads) {
        up.listening(local, tls);
    }
    let router = match serves {
        Serves::Clients => ctx.router(),
        Serves::Metrics => ctx.metrics_router(),
    };
    let task = stream::accept_loop(listener, move |tcp, peer| serve(ctx.clone(), router.clone(), tcp, peer, tls));
    Ok((local, task))
}

async fn serve(ctx: Arc<Http>, router: Router, tcp: TcpStream, peer: SocketAddr, tls: bool) {
    // Each request gets the connection's facts as an extension; layering
    // the router per connection instead would copy its routes for each
    // (5 KiB an idle BOSH session keeps).
    let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(Connection { peer, tls });
        let mut router = router.clone();
        async move { tower_service::Service::call(&mut router, req).await }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT);
    let served = if tls {
        let acceptor = tokio_rustls::TlsAcceptor::from(ctx.c2s.tls.https.clone());
        match timeout(HEADER_TIMEOUT, acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => http.serve_connection(TokioIo::new(tls), service).with_upgrades().await,
            _ => return tracing::debug!(%peer, "HTTPS handshake failed"),
        }
    } else {
        http.serve_connection(TokioIo::new(tcp), service).with_upgrades().await
    };
    if let Err(e) = served {
        tracing::debug!(%peer, "HTTP connection ended: {e}");
    }
}
