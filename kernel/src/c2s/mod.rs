//! Client-to-server connections (RFC 6120): the listeners, stream
//! negotiation up to a bound resource, and the bound session's loop.

mod features;
mod negotiate;
mod registration;
mod sasl_exchange;
mod session;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context as _;
use tokio::net::{TcpListener, TcpStream};

use arc_swap::ArcSwap;

use crate::accounts::Accounts;
use crate::config::Config;
use crate::router::Router;
use crate::sasl::FailureThrottle;
use crate::stream;
use crate::tls::TlsConfigs;

/// Everything a client connection needs, shared by all of them.
pub struct C2s {
    /// The running config: a reload swaps it, and what a connection reads
    /// of it (limits, SASL, TLS policy) applies from its next read.
    config: ArcSwap<Config>,
    pub tls: TlsConfigs,
    pub accounts: Accounts,
    pub router: Arc<Router>,
    pub throttle: FailureThrottle,
    pub registrations: registration::RegistrationLimiter,
    /// Bound sessions by transport, for `/metrics`.
    sessions: [AtomicUsize; 3],
    /// Flipped once at shutdown, so connections still negotiating are told
    /// `<system-shutdown/>` too (bound sessions hear it from the router).
    shutdown: tokio::sync::watch::Sender<bool>,
}

impl C2s {
    pub fn new(config: Arc<Config>, tls: TlsConfigs, accounts: Accounts, router: Arc<Router>) -> Arc<Self> {
        let throttle = FailureThrottle::new(
            config.sasl.failures_before_delay,
            std::time::Duration::from_millis(config.sasl.max_failure_delay_ms),
        );
        let (shutdown, _) = tokio::sync::watch::channel(false);
        let registrations = registration::RegistrationLimiter::new(config.limits.registrations_per_ip_per_hour);
        let sessions = Default::default();
        let config = ArcSwap::new(config);
        Arc::new(C2s { config, tls, accounts, router, throttle, registrations, sessions, shutdown })
    }

    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// The config as it stands now.
    pub fn config(&self) -> arc_swap::Guard<Arc<Config>> {
        self.config.load()
    }

    /// A reloaded config, for connections from now on.
    pub fn set_config(&self, config: Arc<Config>) {
        self.config.store(config);
    }

    /// Client connections past the stream header, bound or still negotiating.
    pub fn open_connections(&self) -> usize {
        self.router.tenants().all().iter().map(|t| t.connections()).sum()
    }

    /// Bound sessions now, by transport.
    pub fn sessions_by_transport(&self) -> Vec<(Transport, usize)> {
        Transport::ALL.iter().map(|t| (*t, self.sessions[*t as usize].load(Ordering::Relaxed))).collect()
    }
}

/// What carries a client's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp = 0,
    WebSocket = 1,
    Bosh = 2,
}

impl Transport {
    pub const ALL: [Transport; 3] = [Transport::Tcp, Transport::WebSocket, Transport::Bosh];

    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::WebSocket => "websocket",
            Transport::Bosh => "bosh",
        }
    }
}

/// Counts a bound session under its transport while it lives.
struct SessionCount<'a>(&'a AtomicUsize);

impl<'a> SessionCount<'a> {
    fn new(ctx: &'a C2s, transport: Transport) -> Self {
        let c = &ctx.sessions[transport as usize];
        c.fetch_add(1, Ordering::Relaxed);
        SessionCount(c)
    }
}

impl Drop for SessionCount<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Binds a client listener; returns the bound address and the accept loop.
pub async fn listen(
    ctx: Arc<C2s>,
    addr: SocketAddr,
    direct_tls: bool,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await.with_context(|| format!("binding client port {addr}"))?;
    let local = listener.local_addr()?;
    let task = stream::accept_loop(listener, move |tcp, peer| serve(ctx.clone(), tcp, peer, direct_tls));
    Ok((local, task))
}

/// A client stream carried by another transport (a WebSocket), already
/// secure: negotiated and served like a TCP one.
pub async fn serve_secure(ctx: Arc<C2s>, io: stream::BoxIo, peer: SocketAddr, transport: Transport) {
    let deadline =
        tokio::time::Instant::now() + std::time::Duration::from_secs(ctx.config().limits.negotiation_timeout_secs);
    // Boxed: the negotiation's state (twice the session loop's) is let go
    // of once bound, instead of sizing the task for as long as it lives
    // (and the match on its outcome would keep a `Bound` beside the loop).
    let Some(bound) = Box::pin(negotiate::negotiate_io(&ctx, io, peer, true, None, deadline)).await else {
        return tracing::debug!(%peer, "connection ended before a resource was bound");
    };
    let _count = SessionCount::new(&ctx, transport);
    session::run(&ctx, bound).await
}

async fn serve(ctx: Arc<C2s>, tcp: TcpStream, peer: SocketAddr, direct_tls: bool) {
    let _ = tcp.set_nodelay(true);
    // Boxed, as in `serve_secure`.
    let Some(bound) = Box::pin(negotiate::negotiate(&ctx, tcp, peer, direct_tls)).await else {
        return tracing::debug!(%peer, "connection ended before a resource was bound");
    };
    let _count = SessionCount::new(&ctx, Transport::Tcp);
    session::run(&ctx, bound).await
}
