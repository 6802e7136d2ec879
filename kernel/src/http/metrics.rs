//! `/metrics` in the Prometheus text format, read off the live server at
//! each scrape: sessions by transport, stanzas by source and kind, plugin
//! calls, failures and latency, server-to-server connections and queues.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::Http;

type Labels = Vec<(&'static str, String)>;

fn gauge_family<F>(registry: &mut Registry, name: &str, help: &str, fill: F)
where
    F: FnOnce(&Family<Labels, Gauge>),
{
    let family = Family::<Labels, Gauge>::default();
    fill(&family);
    registry.register(name, help, family);
}

fn counter_family<F>(registry: &mut Registry, name: &str, help: &str, fill: F)
where
    F: FnOnce(&Family<Labels, Counter>),
{
    let family = Family::<Labels, Counter>::default();
    fill(&family);
    registry.register(name, help, family);
}

pub fn render(http: &Http) -> String {
    let mut registry = Registry::with_prefix("waxwing");
    let c2s = &http.c2s;
    gauge_family(&mut registry, "sessions", "Bound client sessions", |f| {
        for (transport, n) in c2s.sessions_by_transport() {
            f.get_or_create(&vec![("transport", transport.as_str().to_string())]).set(n as i64);
        }
    });
    counter_family(&mut registry, "stanzas", "Stanzas routed, by where they entered", |f| {
        for (source, kind, n) in c2s.router.stanza_counts() {
            let labels = vec![("source", source.as_str().to_string()), ("kind", kind.as_str().to_string())];
            f.get_or_create(&labels).inc_by(n);
        }
    });
    tenant_metrics(&mut registry, c2s.router.tenants());
    let plugins = c2s.router.plugins();
    let stored = plugins.stored_bytes();
    gauge_family(
        &mut registry,
        "tenant_stored_bytes",
        "Bytes a tenant's plugins store, for tenants with a quota",
        |f| {
            for (tenant, n, _) in &stored {
                f.get_or_create(&vec![("tenant", tenant.clone())]).set(*n);
            }
        },
    );
    gauge_family(&mut registry, "tenant_stored_bytes_quota", "The most bytes a tenant's plugins may store", |f| {
        for (tenant, _, quota) in &stored {
            f.get_or_create(&vec![("tenant", tenant.clone())]).set(i64::try_from(*quota).unwrap_or(i64::MAX));
        }
    });
    let accounts: Vec<(String, u64, u64)> = c2s
        .router
        .domains()
        .into_iter()
        .filter_map(|d| c2s.router.accounts().count_and_quota(&d).map(|(n, q)| (d, n, q)))
        .collect();
    gauge_family(&mut registry, "tenant_accounts", "Accounts of each tenant with an account quota", |f| {
        for (tenant, n, _) in &accounts {
            f.get_or_create(&vec![("tenant", tenant.clone())]).set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
    });
    gauge_family(&mut registry, "tenant_accounts_quota", "The most accounts each tenant may hold", |f| {
        for (tenant, _, q) in &accounts {
            f.get_or_create(&vec![("tenant", tenant.clone())]).set(i64::try_from(*q).unwrap_or(i64::MAX));
        }
    });
    counter_family(
        &mut registry,
        "tenant_plugin_calls_refused",
        "Plugin calls refused because the tenant's plugins used their CPU budget",
        |f| {
            for (tenant, n) in plugins.budget_refusals() {
                f.get_or_create(&vec![("tenant", tenant)]).inc_by(n);
            }
        },
    );
    counter_family(&mut registry, "plugin_calls", "Calls into each plugin", |f| {
        for p in plugins.list() {
            f.get_or_create(&vec![("vhost", p.vhost.clone()), ("plugin", p.name.clone())]).inc_by(p.calls);
        }
    });
    counter_family(&mut registry, "plugin_failures", "Failed plugin calls and errors plugins reported", |f| {
        for p in plugins.list() {
            f.get_or_create(&vec![("vhost", p.vhost.clone()), ("plugin", p.name.clone())]).inc_by(p.failures);
        }
    });
    for (vhost, plugin, latency) in plugins.latencies() {
        registry
            .sub_registry_with_labels(
                vec![("vhost".into(), vhost.into()), ("plugin".into(), plugin.into())].into_iter(),
            )
            .register("plugin_call_seconds", "Wall time of a plugin call, with its commit", latency.0);
    }
    if let Some(s2s) = &http.s2s {
        let stats = s2s.stats();
        gauge_family(&mut registry, "s2s_connections", "Server-to-server streams", |f| {
            f.get_or_create(&vec![("direction", "outgoing".to_string())]).set(stats.outgoing as i64);
            f.get_or_create(&vec![("direction", "incoming".to_string())]).set(stats.incoming as i64);
        });
        let queued = Gauge::<i64>::default();
        queued.set(stats.queued as i64);
        registry.register("s2s_queued_stanzas", "Stanzas waiting for an outgoing server-to-server stream", queued);
    }
    let mut out = String::new();
    if let Err(e) = encode(&mut out, &registry) {
        tracing::warn!("encoding /metrics: {e}");
    }
    out
}

/// Reads one of a tenant's quota counters.
type ReadCount = fn(&crate::tenants::QuotaCounts) -> u64;

/// Each tenant's use and what its quotas held back, labelled `tenant`.
fn tenant_metrics(registry: &mut Registry, tenants: &crate::tenants::Tenants) {
    use std::sync::atomic::Ordering::Relaxed;
    let all = tenants.all();
    let label = |t: &crate::tenants::Tenant| vec![("tenant", t.domain.clone())];
    gauge_family(registry, "tenant_sessions", "Bound client sessions of each tenant", |f| {
        for t in &all {
            f.get_or_create(&label(t)).set(t.sessions.len() as i64);
        }
    });
    gauge_family(registry, "tenant_connections", "Open client connections of each tenant", |f| {
        for t in &all {
            f.get_or_create(&label(t)).set(t.connections() as i64);
        }
    });
    gauge_family(registry, "tenant_connections_quota", "The most client connections each tenant may open", |f| {
        for t in &all {
            f.get_or_create(&label(t)).set(i64::try_from(t.quotas().connections).unwrap_or(i64::MAX));
        }
    });
    let counters: [(&str, &str, ReadCount); 3] = [
        ("tenant_connections_refused", "Client connections refused by the tenant's quota", |c| {
            c.connections_refused.load(Relaxed)
        }),
        ("tenant_stanzas_delayed", "Stanzas held back by the tenant's stanza rates, then routed", |c| {
            c.stanzas_delayed.load(Relaxed)
        }),
        ("tenant_stanzas_refused", "Stanzas refused with <resource-constraint/> by the tenant's stanza rates", |c| {
            c.stanzas_refused.load(Relaxed)
        }),
    ];
    for (name, help, read) in counters {
        counter_family(registry, name, help, |f| {
            for t in &all {
                f.get_or_create(&label(t)).inc_by(read(&t.counts));
            }
        });
    }
}

pub async fn serve(State(http): State<Arc<Http>>) -> Response {
    // Reading the plugin table and counters is quick; encoding a few
    // hundred lines too.
    let body = render(&http);
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body).into_response()
}
