//! The one wasmtime engine of the process: its configuration, the linker
//! holding every host function, the epoch ticker behind call deadlines, a
//! compile cache, and the ABI version check.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::bindings::{ABI_MAJORS, ABI_VERSION, Plugin as PluginWorld, v1};
use super::idle::{IDLE_FOR, IdleRegistry, SWEEP_EVERY};
use super::store::StoreData;
use super::wasi_shim;

/// How often the epoch advances; deadlines are counted in these ticks.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Instance slots the pooling allocator reserves: the most plugin instances
/// alive at once, across every vhost. Idle instances are dropped after a
/// minute unused, and all of them when the pool is full (`idle.rs`), so this
/// bounds what is kept warm and running at once, not how many plugins and
/// vhosts load.
///
/// The cost is address space, not memory: each slot's linear memory reserves
/// `Config::memory_reservation` (4 GiB on 64-bit hosts, by default) plus a
/// 32 MiB guard, PROT_NONE until used, and each of its tables 20,000 entries
/// (160 KiB, mapped without reserve). 4,000 slots reserve ~16 TiB of the
/// 128 TiB a Linux x86-64 process has and ~2.5 GiB of tables, none of it
/// resident. What is resident is what live instances touched: ~54 KiB for an
/// idle instance of a default plugin (measured, `pool_tests::measure_*`), so
/// ~210 MiB with every slot idle; `plugin_limits.memory_mib` caps one
/// instance, and the pool's pages go back when an instance is dropped. A
/// live instance adds ~4 memory mappings: 16,000 at most, well under Linux's
/// default `vm.max_map_count` (65,530). With 1,000 slots 55 vhosts' default
/// plugins filled the pool; with 4,000 it fills only when ~220 vhosts' worth
/// of plugins were all called within the idle time.
const POOL_COMPONENT_INSTANCES: u32 = 4000;
/// A Rust or C component is a main module plus the small shim modules
/// wit-component adds, each a core instance with a table or two. Core
/// instances are a counter only, no reservation.
const POOL_CORE_PER_COMPONENT: u32 = 4;
const POOL_TABLES_PER_COMPONENT: u32 = 4;
/// Interpreted guests (componentize-py) carry large vmctx metadata.
const POOL_MAX_INSTANCE_SIZE: usize = 4 << 20;

pub(crate) struct Runtime {
    pub engine: Engine,
    pub linker: Linker<StoreData>,
    /// Whether the pooling allocator is in use (it falls back to on-demand
    /// allocation when the address space for the pool cannot be reserved).
    pub pooling: bool,
    /// Every version's idle instances: swept when unused, all dropped when
    /// the pool is full.
    pub idle: Arc<IdleRegistry>,
    /// Compiled components by SHA-256 of their bytes: the same builtin plugin
    /// on a hundred vhosts, or a reload of unchanged bytes, compiles once.
    cache: Mutex<HashMap<[u8; 32], Weak<Component>>>,
}

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// Where compiled components are kept between runs; set once at start.
static DISK_CACHE: OnceLock<std::path::PathBuf> = OnceLock::new();

/// Sets the on-disk cache of compiled plugins (first call wins), creating the
/// directory readable by this user only. Compiling a large guest (a Python
/// plugin) costs tens of seconds of CPU; loading it back, milliseconds.
pub(crate) fn set_disk_cache(dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating the plugin cache {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting the plugin cache {}", dir.display()))?;
    }
    let _ = DISK_CACHE.set(dir.to_path_buf());
    Ok(())
}

/// The process-wide runtime, created on first use.
pub(crate) fn runtime() -> anyhow::Result<&'static Runtime> {
    match RUNTIME.get_or_init(|| Runtime::new().map_err(|e| format!("{e:#}"))) {
        Ok(r) => Ok(r),
        Err(e) => Err(anyhow!("starting the WebAssembly engine: {e}")),
    }
}

/// Epoch ticks to allow a call that may run `timeout_ms`: rounded up, plus
/// one because the current tick is already partly spent.
pub(crate) fn deadline_ticks(timeout_ms: u64) -> u64 {
    timeout_ms.div_ceil(EPOCH_TICK.as_millis() as u64).max(1) + 1
}

/// The engine's settings; `pool_slots` is the pooling allocator's component
/// instance count, or `None` for allocation on demand.
fn engine_config(pool_slots: Option<u32>) -> wasmtime::Config {
    let mut c = wasmtime::Config::new();
    c.wasm_component_model(true);
    c.epoch_interruption(true);
    // Plugins are called synchronously; without the concurrency machinery a
    // call costs about half as much (measured: ~1.5 µs -> ~0.7 µs).
    c.concurrency_support(false);
    if let Some(slots) = pool_slots {
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(slots)
            .total_core_instances(POOL_CORE_PER_COMPONENT.saturating_mul(slots))
            .total_tables(POOL_TABLES_PER_COMPONENT.saturating_mul(slots))
            .total_memories(slots)
            .max_component_instance_size(POOL_MAX_INSTANCE_SIZE)
            .max_core_instance_size(POOL_MAX_INSTANCE_SIZE);
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    c
}

impl Runtime {
    fn new() -> anyhow::Result<Runtime> {
        Runtime::with(POOL_COMPONENT_INSTANCES, IDLE_FOR, SWEEP_EVERY)
    }

    /// A runtime with `pool_slots` instance slots whose idle instances are
    /// dropped after `idle_for`, looked for every `sweep_every`. Tests use a
    /// small pool and their own times.
    pub(crate) fn with(pool_slots: u32, idle_for: Duration, sweep_every: Duration) -> anyhow::Result<Runtime> {
        let (engine, pooling) = match Engine::new(&engine_config(Some(pool_slots))) {
            Ok(e) => (e, true),
            Err(e) => {
                tracing::warn!("pooling allocator unavailable ({e:#}); plugin instances are allocated on demand");
                (Engine::new(&engine_config(None)).map_err(|e| anyhow!("{e:#}"))?, false)
            }
        };
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| anyhow!("linking WASI: {e:#}"))?;
        wasi_shim::add_to_linker(&mut linker).map_err(|e| anyhow!("linking the WASI shims: {e:#}"))?;
        PluginWorld::add_to_linker::<StoreData, HasSelf<StoreData>>(&mut linker, |s| s)
            .map_err(|e| anyhow!("linking the plugin host functions: {e:#}"))?;
        // The previous major's names carry its own version, so both link side by side.
        v1::Plugin::add_to_linker::<StoreData, HasSelf<StoreData>>(&mut linker, |s| s)
            .map_err(|e| anyhow!("linking the 1.x plugin host functions: {e:#}"))?;
        let ticker = engine.clone();
        std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(EPOCH_TICK);
                    ticker.increment_epoch();
                }
            })
            .context("starting the epoch ticker thread")?;
        let idle = IdleRegistry::new(idle_for);
        idle.start_sweeper(sweep_every).context("starting the idle instance sweep thread")?;
        Ok(Runtime { engine, linker, pooling, idle, cache: Mutex::new(HashMap::new()) })
    }

    /// Compiles (or finds in the cache) a plugin's component and checks it was
    /// built for this kernel's ABI. Returns the component and its digest.
    pub fn compile(&self, name: &str, bytes: &[u8]) -> anyhow::Result<(Arc<Component>, [u8; 32])> {
        let digest = sha256(bytes);
        if let Some(c) = self.lock_cache().get(&digest).and_then(Weak::upgrade) {
            return Ok((c, digest));
        }
        // Compiled outside the lock: it takes tens of milliseconds and other
        // loads should not queue behind it. Two racing compiles of the same
        // bytes are harmless.
        let component = match self.disk_cached(&digest) {
            Some(c) => c,
            None => {
                let c = Component::new(&self.engine, bytes)
                    .map_err(|e| anyhow!("plugin {name} is not a loadable component: {e:#}"))?;
                self.save_to_disk(&digest, &c);
                c
            }
        };
        check_abi(name, &self.engine, &component)?;
        let component = Arc::new(component);
        let mut cache = self.lock_cache();
        cache.retain(|_, w| w.strong_count() > 0);
        cache.insert(digest, Arc::downgrade(&component));
        Ok((component, digest))
    }

    /// Where this engine's compiled form of `digest` is kept on disk. The
    /// engine's compatibility hash is in the name, so a new wasmtime or other
    /// settings never load code compiled for the old ones.
    fn disk_path(&self, digest: &[u8; 32]) -> Option<std::path::PathBuf> {
        use std::hash::{Hash, Hasher};
        let dir = DISK_CACHE.get()?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.engine.precompile_compatibility_hash().hash(&mut h);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        Some(dir.join(format!("{hex}-{:016x}.cwasm", h.finish())))
    }

    fn disk_cached(&self, digest: &[u8; 32]) -> Option<Component> {
        let path = self.disk_path(digest)?;
        if !path.is_file() {
            return None;
        }
        // SAFETY: deserialising trusts the file to be wasmtime's own output.
        // Only this server writes the cache directory (created 0700 in its
        // data dir, or where the operator pointed `plugin_cache_dir`), and
        // the file name binds it to these exact component bytes and engine.
        match unsafe { Component::deserialize_file(&self.engine, &path) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(path = %path.display(), "discarding an unusable compiled plugin: {e:#}");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Best effort: a cache that cannot be written only costs the next start a compile.
    fn save_to_disk(&self, digest: &[u8; 32], component: &Component) {
        let Some(path) = self.disk_path(digest) else { return };
        let result = component.serialize().map_err(|e| anyhow!("{e:#}")).and_then(|bytes| {
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(&tmp, &path)?;
            Ok(())
        });
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), "could not cache a compiled plugin: {e:#}");
        }
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Weak<Component>>> {
        // The cache holds no invariant a panicking holder could break.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Refuses a component that names a major version of `waxwing:plugin` this
/// kernel does not load, mixes majors, or exports no `guest` at all. Done
/// before linking so the operator reads a version mismatch, not a missing
/// import.
fn check_abi(name: &str, engine: &Engine, component: &Component) -> anyhow::Result<()> {
    let ty = component.component_type();
    let imports = ty.imports(engine).map(|(n, _)| n.to_string());
    let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
    check_abi_names(name, imports.chain(exports.iter().cloned()))?;
    if !exports.iter().any(|e| e.starts_with("waxwing:plugin/guest")) {
        bail!(
            "plugin {name} does not export waxwing:plugin/guest@{ABI_VERSION}: it is not a Waxwing plugin \
             (exports: {})",
            if exports.is_empty() { "none".to_string() } else { exports.join(", ") }
        );
    }
    Ok(())
}

fn loaded_majors() -> String {
    ABI_MAJORS.iter().map(|m| format!("{m}.x")).collect::<Vec<_>>().join(" and ")
}

pub(crate) fn check_abi_names(name: &str, names: impl Iterator<Item = String>) -> anyhow::Result<()> {
    let mut seen: Option<(u64, String)> = None;
    for n in names {
        let Some(rest) = n.strip_prefix("waxwing:plugin/") else { continue };
        let Some((_, version)) = rest.split_once('@') else {
            bail!("plugin {name} names {n} without a version; this kernel provides waxwing:plugin {ABI_VERSION}");
        };
        let major = version.split('.').next().and_then(|m| m.parse::<u64>().ok());
        let Some(major) = major.filter(|m| ABI_MAJORS.contains(m)) else {
            bail!(
                "plugin {name} was built for waxwing:plugin {version}, but this kernel loads {} \
                 (it provides {ABI_VERSION}): rebuild the plugin against plugin-abi/wit/plugin.wit \
                 (Rust: the matching waxwing-sdk) or use a release of Waxwing that loads {version}",
                loaded_majors()
            );
        };
        match &seen {
            Some((m, other)) if *m != major => {
                bail!("plugin {name} mixes waxwing:plugin majors ({other} and {n}): rebuild it against one")
            }
            Some(_) => {}
            None => seen = Some((major, n.clone())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> impl Iterator<Item = String> {
        v.iter().map(|s| s.to_string()).collect::<Vec<_>>().into_iter()
    }

    #[test]
    fn abi_major_must_be_one_this_kernel_loads() {
        assert!(check_abi_names("p", names(&["wasi:cli/stdout@0.2.3", "waxwing:plugin/kv@1.0.0"])).is_ok());
        assert!(check_abi_names("p", names(&["waxwing:plugin/guest@1.3.0"])).is_ok());
        assert!(check_abi_names("p", names(&["waxwing:plugin/kv@2.0.0", "waxwing:plugin/guest@2.4.0"])).is_ok());
        let err = check_abi_names("p", names(&["waxwing:plugin/kv@3.0.0"])).unwrap_err().to_string();
        assert!(
            err.starts_with("plugin p was built for waxwing:plugin 3.0.0, but this kernel loads 1.x and 2.x"),
            "{err}"
        );
        assert!(err.contains("rebuild the plugin against plugin-abi/wit/plugin.wit"), "{err}");
        let mixed = check_abi_names("p", names(&["waxwing:plugin/kv@1.0.0", "waxwing:plugin/guest@2.0.0"]));
        assert!(mixed.unwrap_err().to_string().contains("mixes waxwing:plugin majors"));
        assert!(check_abi_names("p", names(&["waxwing:plugin/guest"])).is_err());
        assert!(check_abi_names("p", names(&["waxwing:plugin/guest@x.1"])).is_err());
    }

    #[test]
    fn compiled_plugins_are_cached_on_disk_and_bad_entries_discarded() {
        set_disk_cache(&crate::plugins::testkit::shared_plugin_cache()).unwrap();
        let rt = runtime().unwrap();
        let wasm =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/plugins/wasm32-wasip2/release/ping.wasm");
        let bytes = std::fs::read(&wasm).unwrap();
        let (component, digest) = rt.compile("ping", &bytes).unwrap();
        // Another test of this process may have compiled ping before any of
        // them set the disk cache: the memory cache then answered, and
        // nothing was written. Write it the way a compile does.
        rt.save_to_disk(&digest, &component);
        let path = rt.disk_path(&digest).unwrap();
        assert!(path.is_file(), "{} was written", path.display());
        assert!(rt.disk_cached(&digest).is_some(), "and loads back");

        let bogus = [0xABu8; 32];
        let bad = rt.disk_path(&bogus).unwrap();
        std::fs::write(&bad, b"not compiled code").unwrap();
        assert!(rt.disk_cached(&bogus).is_none());
        assert!(!bad.exists(), "an unusable entry is removed");
    }

    #[test]
    fn deadline_covers_the_timeout() {
        assert_eq!(deadline_ticks(200), 41);
        assert_eq!(deadline_ticks(1), 2);
        assert!(deadline_ticks(0) >= 2);
    }
}
