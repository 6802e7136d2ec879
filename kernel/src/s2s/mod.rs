//! Server-to-server (RFC 6120): streams to and from other XMPP servers.
//!
//! Outgoing, one connection per pair of local and remote domain
//! (`outbound.rs`): dialled when the first stanza needs it, stanzas queued
//! meanwhile, authenticated by SASL EXTERNAL (XEP-0178) where the peer
//! accepts our certificate and by dialback (XEP-0220) otherwise, closed
//! when idle. Incoming (`inbound.rs`): STARTTLS or direct TLS, then either
//! the peer's certificate proves its domain (EXTERNAL) or we verify its
//! dialback key with the peer's authoritative server (`verify.rs`); one
//! incoming stream may carry several pairs of domains.

mod dial;
mod dialback;
mod inbound;
mod outbound;
mod resolve;
mod verify;
mod wire;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use anyhow::Context as _;
use tokio::io::{ReadHalf, WriteHalf};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use waxwing_xml::{StanzaError, StanzaErrorCondition as Cond};

use crate::config::Config;
use crate::router::{RemoteServers, Router};
use crate::stream::{self, BoxIo, StreamWriter};
use crate::tls::{PeerTrust, TlsConfigs};
use crate::xml::{Stanza, StreamLimits, StreamReader};

type Reader = StreamReader<ReadHalf<BoxIo>>;
type Writer = StreamWriter<WriteHalf<BoxIo>>;

/// An outgoing connection's queue, and which one it is (a closed queue is
/// replaced; the id tells the old task not to remove its successor).
struct Link {
    id: u64,
    tx: mpsc::Sender<Stanza>,
}

pub struct S2s {
    me: Weak<S2s>,
    config: Arc<Config>,
    tls: TlsConfigs,
    trust: PeerTrust,
    router: Weak<Router>,
    secret: dialback::Secret,
    resolver: resolve::Resolver,
    links: Mutex<HashMap<(String, String), Link>>,
    next_link: AtomicU64,
    dial_configs: Mutex<HashMap<(String, bool), Arc<rustls::ClientConfig>>>,
    runtime: tokio::runtime::Handle,
    shutdown: tokio::sync::watch::Sender<bool>,
    /// Incoming streams open now.
    incoming: std::sync::atomic::AtomicUsize,
}

/// What `/metrics` shows of server-to-server.
pub struct S2sStats {
    pub outgoing: usize,
    pub incoming: usize,
    /// Stanzas waiting in the outgoing queues.
    pub queued: usize,
}

impl S2s {
    /// Must be called inside the runtime; attaches itself to the router as
    /// the way to other servers.
    pub fn start(config: Arc<Config>, tls: TlsConfigs, router: &Arc<Router>) -> anyhow::Result<Arc<Self>> {
        let trust = PeerTrust::load(&config.s2s, &crate::tls::provider()).context("s2s trust roots")?;
        let resolver = resolve::Resolver::new(&config.s2s);
        let (shutdown, _) = tokio::sync::watch::channel(false);
        let s2s = Arc::new_cyclic(|me| S2s {
            me: me.clone(),
            config,
            tls,
            trust,
            router: Arc::downgrade(router),
            secret: dialback::Secret::random(),
            resolver,
            links: Mutex::new(HashMap::new()),
            next_link: AtomicU64::new(1),
            dial_configs: Mutex::new(HashMap::new()),
            runtime: tokio::runtime::Handle::current(),
            shutdown,
            incoming: std::sync::atomic::AtomicUsize::new(0),
        });
        router.set_remote(s2s.clone());
        Ok(s2s)
    }

    pub fn stats(&self) -> S2sStats {
        let (outgoing, queued) = match self.links.lock() {
            Ok(links) => (links.len(), links.values().map(|l| l.tx.max_capacity() - l.tx.capacity()).sum()),
            Err(_) => (0, 0),
        };
        S2sStats { outgoing, incoming: self.incoming.load(Ordering::Relaxed), queued }
    }

    /// Closes every stream to and from other servers.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    fn router(&self) -> Option<Arc<Router>> {
        self.router.upgrade()
    }

    fn limits(&self) -> StreamLimits {
        let l = &self.config.limits;
        StreamLimits { max_stanza_bytes: l.max_stanza_bytes, max_depth: l.max_depth, max_attributes: l.max_attributes }
    }

    fn is_local(&self, domain: &str) -> bool {
        self.router().is_some_and(|r| r.is_local_domain(domain))
    }

    fn dial_config(&self, local: &str, direct_tls: bool) -> anyhow::Result<Arc<rustls::ClientConfig>> {
        let key = (local.to_string(), direct_tls);
        if let Some(c) = self.dial_configs.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(c);
        }
        let config = dial::client_config(self, local, direct_tls)?;
        if let Ok(mut m) = self.dial_configs.lock() {
            m.insert(key, config.clone());
        }
        Ok(config)
    }

    /// Answers a stanza that could not be delivered with `condition`.
    fn bounce(&self, stanza: &Stanza, condition: Cond, why: &str) {
        if let Some(router) = self.router() {
            router.reply_error(stanza, StanzaError::new(condition).with_text(why.to_string()));
        }
    }

    /// Forgets a link that ended, unless a newer one took its place.
    fn forget_link(&self, local: &str, remote: &str, id: u64) {
        if let Ok(mut links) = self.links.lock() {
            let key = (local.to_string(), remote.to_string());
            if links.get(&key).is_some_and(|l| l.id == id) {
                links.remove(&key);
            }
        }
    }

    fn enqueue(&self, local: &str, remote: &str, stanza: Stanza) -> Result<(), StanzaError> {
        let Some(me) = self.me.upgrade() else {
            return Err(StanzaError::new(Cond::RemoteServerNotFound).with_text("the server is stopping"));
        };
        let mut links = self.links.lock().map_err(|_| StanzaError::new(Cond::InternalServerError))?;
        let key = (local.to_string(), remote.to_string());
        let mut stanza = stanza;
        // A queue whose task ended is replaced once.
        for _ in 0..2 {
            let link = links.entry(key.clone()).or_insert_with(|| {
                let id = self.next_link.fetch_add(1, Ordering::Relaxed);
                let (tx, rx) = mpsc::channel(self.config.s2s.queue_max_stanzas);
                let task = outbound::run(me.clone(), local.to_string(), remote.to_string(), id, rx);
                self.runtime.spawn(task);
                Link { id, tx }
            });
            match link.tx.try_send(stanza) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::TrySendError::Full(_)) => {
                    return Err(StanzaError::new(Cond::ResourceConstraint)
                        .with_text(format!("too many stanzas are waiting for '{remote}'")));
                }
                Err(mpsc::error::TrySendError::Closed(back)) => {
                    links.remove(&key);
                    stanza = back;
                }
            }
        }
        Err(StanzaError::new(Cond::InternalServerError)
            .with_text(format!("no connection to '{remote}' could be queued")))
    }
}

impl RemoteServers for S2s {
    fn send(&self, stanza: &Stanza) -> Result<(), StanzaError> {
        let (Some(from), Some(to)) = (&stanza.from, &stanza.to) else {
            return Err(
                StanzaError::new(Cond::BadRequest).with_text("a stanza to another server needs 'from' and 'to'")
            );
        };
        let local = from.domain().as_str();
        if !self.is_local(local) {
            // Only what comes from our own domains leaves for other servers.
            return Err(StanzaError::new(Cond::NotAllowed).with_text(format!("'{local}' is not served here")));
        }
        self.enqueue(local, to.domain().as_str(), stanza.clone())
    }
}

/// Resolves once shutdown has begun (the watch's guard is not kept).
async fn stopping(rx: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|stopping| *stopping).await.map(|_| ());
}

/// Binds a server-to-server listener; returns the bound address.
pub async fn listen(
    ctx: Arc<S2s>,
    addr: SocketAddr,
    direct_tls: bool,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await.with_context(|| format!("binding server-to-server port {addr}"))?;
    let local = listener.local_addr()?;
    let task = stream::accept_loop(listener, move |tcp, peer| inbound::serve(ctx.clone(), tcp, peer, direct_tls));
    Ok((local, task))
}
