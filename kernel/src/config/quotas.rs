//! Tenant quotas: `[quotas]` sets every vhost's, a `[vhost.quotas]` table
//! overrides some of them for one vhost. The kernel enforces them
//! (`tenants/`); 0 means no limit wherever a limit can be switched off.

use anyhow::bail;
use serde::{Deserialize, Serialize};

/// What one tenant (a vhost) may use.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Quotas {
    /// Open client connections; more get `<resource-constraint/>`.
    pub connections: usize,
    /// Accounts; creating one more fails with `<resource-constraint/>`
    /// (in-band registration) or an error naming the quota. 0: no limit.
    pub accounts: u64,
    /// Stanzas one session may send per second, and the burst it may send
    /// at once. 0: no limit.
    pub session_stanzas_per_sec: u32,
    pub session_stanza_burst: u32,
    /// Stanzas all of the tenant's sessions together may send per second,
    /// and their burst. 0: no limit.
    pub tenant_stanzas_per_sec: u32,
    pub tenant_stanza_burst: u32,
    /// A stanza over a rate is held back (the session's reading pauses) at
    /// most this long; past it, it is refused with `<resource-constraint/>`.
    pub stanza_max_delay_ms: u64,
    /// Bytes (keys and values) the tenant's plugins may keep in storage,
    /// their datasets included. A write past it fails in the plugin with a
    /// `quota` error (clients hear `<resource-constraint/>`). 0: no limit.
    pub stored_bytes: u64,
    /// Linear memory each of the tenant's plugin instances may grow to, in
    /// MiB; `plugin_limits.memory_mib` when 0.
    pub plugin_memory_mib: u64,
    /// CPU time the tenant's plugin calls may use per second, in
    /// milliseconds. Past it, calls into the tenant's plugins are refused
    /// (stanzas get `<resource-constraint/>`) until the budget refills;
    /// other tenants are not touched. 0: no limit.
    pub plugin_cpu_ms_per_sec: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            connections: 100_000,
            accounts: 0,
            session_stanzas_per_sec: 0,
            session_stanza_burst: 0,
            tenant_stanzas_per_sec: 0,
            tenant_stanza_burst: 0,
            stanza_max_delay_ms: 2_000,
            stored_bytes: 0,
            plugin_memory_mib: 0,
            plugin_cpu_ms_per_sec: 0,
        }
    }
}

/// A `[vhost.quotas]` table: only the keys it names replace `[quotas]`'s.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaOverrides {
    pub connections: Option<usize>,
    pub accounts: Option<u64>,
    pub session_stanzas_per_sec: Option<u32>,
    pub session_stanza_burst: Option<u32>,
    pub tenant_stanzas_per_sec: Option<u32>,
    pub tenant_stanza_burst: Option<u32>,
    pub stanza_max_delay_ms: Option<u64>,
    pub stored_bytes: Option<u64>,
    pub plugin_memory_mib: Option<u64>,
    pub plugin_cpu_ms_per_sec: Option<u64>,
}

impl QuotaOverrides {
    /// `base` with this table's keys laid over it.
    pub fn over(&self, base: &Quotas) -> Quotas {
        Quotas {
            connections: self.connections.unwrap_or(base.connections),
            accounts: self.accounts.unwrap_or(base.accounts),
            session_stanzas_per_sec: self.session_stanzas_per_sec.unwrap_or(base.session_stanzas_per_sec),
            session_stanza_burst: self.session_stanza_burst.unwrap_or(base.session_stanza_burst),
            tenant_stanzas_per_sec: self.tenant_stanzas_per_sec.unwrap_or(base.tenant_stanzas_per_sec),
            tenant_stanza_burst: self.tenant_stanza_burst.unwrap_or(base.tenant_stanza_burst),
            stanza_max_delay_ms: self.stanza_max_delay_ms.unwrap_or(base.stanza_max_delay_ms),
            stored_bytes: self.stored_bytes.unwrap_or(base.stored_bytes),
            plugin_memory_mib: self.plugin_memory_mib.unwrap_or(base.plugin_memory_mib),
            plugin_cpu_ms_per_sec: self.plugin_cpu_ms_per_sec.unwrap_or(base.plugin_cpu_ms_per_sec),
        }
    }
}

impl Quotas {
    /// Checks values; `at` names the table (`quotas` or `vhost "x" quotas`).
    pub fn validate(&self, at: &str) -> anyhow::Result<()> {
        if self.connections == 0 {
            bail!("{at}.connections = 0 would refuse every client: set at least 1");
        }
        for (key, rate, burst) in [
            ("session", self.session_stanzas_per_sec, self.session_stanza_burst),
            ("tenant", self.tenant_stanzas_per_sec, self.tenant_stanza_burst),
        ] {
            if rate == 0 && burst != 0 {
                bail!(
                    "{at}.{key}_stanza_burst = {burst} needs {at}.{key}_stanzas_per_sec: set a rate, or remove the burst"
                );
            }
        }
        if self.stanza_max_delay_ms > 60_000 {
            bail!(
                "{at}.stanza_max_delay_ms = {} is over a minute: a client held that long times out; use at most 60000",
                self.stanza_max_delay_ms
            );
        }
        if self.plugin_memory_mib > 4096 {
            bail!(
                "{at}.plugin_memory_mib = {} is over 4096 (a wasm32 memory holds at most 4 GiB)",
                self.plugin_memory_mib
            );
        }
        if self.plugin_cpu_ms_per_sec > 1_000 * 1_024 {
            bail!("{at}.plugin_cpu_ms_per_sec = {} is more CPU than any machine has", self.plugin_cpu_ms_per_sec);
        }
        Ok(())
    }

    /// The burst a rate allows when none is set: one second's worth.
    pub fn burst_or_rate(rate: u32, burst: u32) -> u32 {
        if burst == 0 { rate } else { burst }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_only_their_keys() {
        let base = Quotas { accounts: 10, tenant_stanzas_per_sec: 100, ..Quotas::default() };
        let o = QuotaOverrides { accounts: Some(3), ..Default::default() };
        let q = o.over(&base);
        assert_eq!(q.accounts, 3);
        assert_eq!(q.tenant_stanzas_per_sec, 100);
        assert_eq!(q.connections, 100_000);
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = Quotas { connections: 0, ..Quotas::default() }.validate("quotas").unwrap_err();
        assert!(e.to_string().contains("quotas.connections"), "{e}");
        let e = Quotas { session_stanza_burst: 5, ..Quotas::default() }.validate("vhost \"a\" quotas").unwrap_err();
        assert!(e.to_string().contains("session_stanzas_per_sec"), "{e}");
        let e = Quotas { stanza_max_delay_ms: 120_000, ..Quotas::default() }.validate("quotas").unwrap_err();
        assert!(e.to_string().contains("stanza_max_delay_ms"), "{e}");
        Quotas::default().validate("quotas").unwrap();
    }
}
