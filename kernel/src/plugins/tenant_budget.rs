//! What one tenant's plugins may use together: the memory of each instance
//! (`quotas.plugin_memory_mib` over `plugin_limits.memory_mib`) and CPU time
//! per second (`quotas.plugin_cpu_ms_per_sec`). A tenant whose plugins burn
//! their CPU budget has its plugin calls refused until the budget refills;
//! no other tenant's calls are touched, and the refusals do not count as the
//! plugin's failures (it is throttled, not broken).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::config::{PluginLimits, Quotas};

pub(crate) struct TenantBudget {
    /// The plugin limits this tenant's instances are created and called with.
    pub limits: Arc<ArcSwap<PluginLimits>>,
    cpu: Mutex<CpuBucket>,
    /// Calls refused while the CPU budget was spent.
    pub refused: AtomicU64,
    stored_quota: AtomicU64,
    /// Bytes the tenant's plugins keep, once counted (`None`: not yet).
    stored: Mutex<Option<i64>>,
}

/// CPU time as a token bucket in microseconds: refilled at the quota's rate
/// up to one second's worth; a call is charged what it used afterwards, so
/// the level may go below zero (one long call puts the tenant in debt).
struct CpuBucket {
    per_sec_us: u64,
    level_us: i64,
    last: Instant,
}

impl CpuBucket {
    fn refill(&mut self, now: Instant) {
        let cap = i64::try_from(self.per_sec_us).unwrap_or(i64::MAX);
        let earned = now.saturating_duration_since(self.last).as_micros().saturating_mul(u128::from(self.per_sec_us))
            / 1_000_000;
        self.level_us = self.level_us.saturating_add(i64::try_from(earned).unwrap_or(i64::MAX)).min(cap);
        self.last = now;
    }
}

fn tenant_limits(global: &PluginLimits, q: &Quotas) -> PluginLimits {
    let mut l = global.clone();
    if q.plugin_memory_mib != 0 {
        l.memory_mib = q.plugin_memory_mib;
    }
    l
}

impl TenantBudget {
    pub fn new(global: &PluginLimits, q: &Quotas) -> Arc<TenantBudget> {
        let per_sec_us = q.plugin_cpu_ms_per_sec.saturating_mul(1000);
        Arc::new(TenantBudget {
            limits: Arc::new(ArcSwap::from_pointee(tenant_limits(global, q))),
            cpu: Mutex::new(CpuBucket {
                per_sec_us,
                level_us: i64::try_from(per_sec_us).unwrap_or(i64::MAX),
                last: Instant::now(),
            }),
            refused: AtomicU64::new(0),
            stored_quota: AtomicU64::new(q.stored_bytes),
            stored: Mutex::new(None),
        })
    }

    /// The stored-bytes quota (0: none).
    pub fn stored_quota(&self) -> u64 {
        self.stored_quota.load(Ordering::Relaxed)
    }

    /// The bytes the tenant's plugins keep: `count` (a scan) the first time.
    pub fn stored(&self, count: impl FnOnce() -> anyhow::Result<i64>) -> anyhow::Result<i64> {
        let mut s = self.stored.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = *s {
            return Ok(n);
        }
        let n = count()?;
        *s = Some(n);
        Ok(n)
    }

    /// The stored bytes, when counted already (a quota was checked).
    pub fn stored_now(&self) -> Option<i64> {
        *self.stored.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A commit changed the stored bytes by `delta`.
    pub fn stored_changed(&self, delta: i64) {
        if delta == 0 {
            return;
        }
        if let Some(n) = self.stored.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            *n = n.saturating_add(delta).max(0);
        }
    }

    /// New global limits or quotas, for the next call and instance.
    pub fn update(&self, global: &PluginLimits, q: &Quotas) {
        self.limits.store(Arc::new(tenant_limits(global, q)));
        self.stored_quota.store(q.stored_bytes, Ordering::Relaxed);
        let mut b = self.bucket();
        let per_sec_us = q.plugin_cpu_ms_per_sec.saturating_mul(1000);
        if b.per_sec_us != per_sec_us {
            *b =
                CpuBucket { per_sec_us, level_us: i64::try_from(per_sec_us).unwrap_or(i64::MAX), last: Instant::now() };
        }
    }

    fn bucket(&self) -> std::sync::MutexGuard<'_, CpuBucket> {
        self.cpu.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a call may start now; a refusal is counted.
    pub fn allows_call(&self) -> bool {
        let mut b = self.bucket();
        if b.per_sec_us == 0 {
            return true;
        }
        b.refill(Instant::now());
        if b.level_us > 0 {
            return true;
        }
        drop(b);
        self.refused.fetch_add(1, Ordering::Relaxed);
        false
    }

    /// Charges a finished call's CPU time.
    pub fn charge(&self, cpu: Duration) {
        let mut b = self.bucket();
        if b.per_sec_us == 0 {
            return;
        }
        b.refill(Instant::now());
        b.level_us = b.level_us.saturating_sub(i64::try_from(cpu.as_micros()).unwrap_or(i64::MAX));
    }

    /// The CPU quota in ms per second (0: none), for messages.
    pub fn cpu_ms_per_sec(&self) -> u64 {
        self.bucket().per_sec_us / 1000
    }
}

/// Every tenant's budget, by domain: plugins find theirs when they load.
#[derive(Default)]
pub(crate) struct Budgets(Mutex<HashMap<String, Arc<TenantBudget>>>);

impl Budgets {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<TenantBudget>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The domain's budget with these limits and quotas (made on first use).
    pub fn set(&self, domain: &str, global: &PluginLimits, q: &Quotas) -> Arc<TenantBudget> {
        let mut m = self.map();
        match m.get(domain) {
            Some(b) => {
                b.update(global, q);
                b.clone()
            }
            None => {
                let b = TenantBudget::new(global, q);
                m.insert(domain.to_owned(), b.clone());
                b
            }
        }
    }

    pub fn get(&self, domain: &str) -> Option<Arc<TenantBudget>> {
        self.map().get(domain).cloned()
    }

    pub fn remove(&self, domain: &str) {
        self.map().remove(domain);
    }

    pub fn all(&self) -> Vec<(String, Arc<TenantBudget>)> {
        self.map().iter().map(|(d, b)| (d.clone(), b.clone())).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spent_budget_refuses_calls_until_it_refills() {
        let q = Quotas { plugin_cpu_ms_per_sec: 10, ..Quotas::default() };
        let b = TenantBudget::new(&PluginLimits::default(), &q);
        assert!(b.allows_call());
        b.charge(Duration::from_millis(50));
        assert!(!b.allows_call(), "50 ms spent of 10 ms a second");
        assert_eq!(b.refused.load(Ordering::Relaxed), 1);
        // Pretend five seconds passed: 50 ms earned back, capped at 10 ms.
        b.bucket().last -= Duration::from_secs(5);
        assert!(b.allows_call());
        let off = TenantBudget::new(&PluginLimits::default(), &Quotas::default());
        off.charge(Duration::from_secs(100));
        assert!(off.allows_call(), "no quota, no limit");
    }

    #[test]
    fn stored_bytes_are_counted_once_then_kept_by_commits() {
        let b = TenantBudget::new(&PluginLimits::default(), &Quotas { stored_bytes: 100, ..Quotas::default() });
        assert_eq!(b.stored_quota(), 100);
        b.stored_changed(5);
        assert_eq!(b.stored(|| Ok(40)).unwrap(), 40, "changes before the count are in the count");
        assert_eq!(b.stored(|| panic!("counted twice")).unwrap(), 40);
        b.stored_changed(-50);
        assert_eq!(b.stored(|| panic!("counted twice")).unwrap(), 0, "never below zero");
    }

    #[test]
    fn a_tenant_memory_quota_overrides_the_global_limit_and_follows_changes() {
        let global = PluginLimits { memory_mib: 64, ..PluginLimits::default() };
        let budgets = Budgets::default();
        let b = budgets.set("a.example", &global, &Quotas { plugin_memory_mib: 8, ..Quotas::default() });
        assert_eq!(b.limits.load().memory_mib, 8);
        let other = budgets.set("b.example", &global, &Quotas::default());
        assert_eq!(other.limits.load().memory_mib, 64);
        budgets.set("a.example", &global, &Quotas::default());
        assert_eq!(b.limits.load().memory_mib, 64, "the same budget, updated in place");
        budgets.remove("a.example");
        assert!(budgets.get("a.example").is_none());
    }
}
