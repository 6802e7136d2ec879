//! Which changed settings a reload cannot apply to the running server.
//!
//! Every section struct is destructured with all of its fields named, so a
//! field added to the config does not compile here until someone decides
//! whether a running server can take it: a new setting can never be
//! ignored silently by a reload.

use super::{
    ComponentConfig, Config, HttpSection, ListenSection, S2sSection, SaslSection, ServerSection, TlsSection,
    UploadsSection,
};

/// The dotted keys (`listen.c2s`, `s2s.routes`, `component[0].secret`) of
/// every setting that differs between `old` (what the running server
/// started with) and `new` and that takes a restart to apply. Empty when
/// the reload can apply everything that changed. Values are never named:
/// some are secrets.
pub fn restart_needed(old: &Config, new: &Config) -> Vec<String> {
    let mut d = Diff::default();
    let Config {
        server,
        listen,
        // Quotas, plugin limits and vhosts (tenants, their certificates,
        // admins and plugins) are applied by the reload itself; limits too,
        // but for the one the registration throttle is built with.
        limits,
        quotas: _,
        plugin_limits: _,
        vhosts: _,
        tls,
        sasl,
        s2s,
        http,
        uploads,
        components,
    } = old;
    d.server(server, &new.server);
    // The in-band registration throttle is made once, with its rate.
    d.check(
        "limits.registrations_per_ip_per_hour",
        &limits.registrations_per_ip_per_hour,
        &new.limits.registrations_per_ip_per_hour,
    );
    d.listen(listen, &new.listen);
    d.tls(tls, &new.tls);
    d.sasl(sasl, &new.sasl);
    d.s2s(s2s, &new.s2s);
    d.http(http, &new.http);
    d.uploads(uploads, &new.uploads);
    d.components(components, &new.components);
    d.keys
}

#[derive(Default)]
struct Diff {
    keys: Vec<String>,
}

impl Diff {
    fn check<T: PartialEq + ?Sized>(&mut self, key: &str, old: &T, new: &T) {
        if old != new {
            self.keys.push(key.to_owned());
        }
    }

    fn server(&mut self, old: &ServerSection, new: &ServerSection) {
        // The database, generated certificates, uploads and the admin socket
        // are opened under `data_dir` once; the plugin compile cache is set
        // for the process when the engine starts.
        // `log_level` is applied by `cli::logging::set_log_level`, and
        // `operators` are read from the tenants' config, which a reload swaps.
        let ServerSection { data_dir, log_level: _, plugin_cache_dir, operators: _ } = old;
        self.check("server.data_dir", data_dir, &new.data_dir);
        self.check("server.plugin_cache_dir", plugin_cache_dir, &new.plugin_cache_dir);
    }

    fn listen(&mut self, old: &ListenSection, new: &ListenSection) {
        // Sockets are bound once at start; nothing rebinds them.
        let ListenSection { c2s, c2s_direct_tls, s2s, s2s_direct_tls, component, http, https, metrics, admin_socket } =
            old;
        self.check("listen.c2s", c2s, &new.c2s);
        self.check("listen.c2s_direct_tls", c2s_direct_tls, &new.c2s_direct_tls);
        self.check("listen.s2s", s2s, &new.s2s);
        self.check("listen.s2s_direct_tls", s2s_direct_tls, &new.s2s_direct_tls);
        self.check("listen.component", component, &new.component);
        self.check("listen.http", http, &new.http);
        self.check("listen.https", https, &new.https);
        self.check("listen.metrics", metrics, &new.metrics);
        self.check("listen.admin_socket", admin_socket, &new.admin_socket);
    }

    fn tls(&mut self, old: &TlsSection, _new: &TlsSection) {
        // Each client connection reads it from the config a reload swaps
        // (`C2s::config`).
        let TlsSection { require_starttls: _ } = old;
    }

    fn sasl(&mut self, old: &SaslSection, new: &SaslSection) {
        // The iteration count is fixed in `Accounts` and the failure
        // throttle is built once; PLAIN is offered by what each client
        // connection reads from the config a reload swaps.
        let SaslSection { scram_iterations, allow_plain: _, failures_before_delay, max_failure_delay_ms } = old;
        self.check("sasl.scram_iterations", scram_iterations, &new.scram_iterations);
        self.check("sasl.failures_before_delay", failures_before_delay, &new.failures_before_delay);
        self.check("sasl.max_failure_delay_ms", max_failure_delay_ms, &new.max_failure_delay_ms);
    }

    fn s2s(&mut self, old: &S2sSection, new: &S2sSection) {
        // `S2s` keeps the config it started with, and the peer trust roots
        // and pins are loaded into the TLS configs once.
        let S2sSection {
            require_tls,
            require_valid_certificate,
            dialback,
            ca_file,
            pinned,
            routes,
            dns_server,
            connect_timeout_secs,
            queue_max_stanzas,
            idle_timeout_secs,
        } = old;
        self.check("s2s.require_tls", require_tls, &new.require_tls);
        self.check("s2s.require_valid_certificate", require_valid_certificate, &new.require_valid_certificate);
        self.check("s2s.dialback", dialback, &new.dialback);
        self.check("s2s.ca_file", ca_file, &new.ca_file);
        self.check("s2s.pinned", pinned, &new.pinned);
        self.check("s2s.routes", routes, &new.routes);
        self.check("s2s.dns_server", dns_server, &new.dns_server);
        self.check("s2s.connect_timeout_secs", connect_timeout_secs, &new.connect_timeout_secs);
        self.check("s2s.queue_max_stanzas", queue_max_stanzas, &new.queue_max_stanzas);
        self.check("s2s.idle_timeout_secs", idle_timeout_secs, &new.idle_timeout_secs);
    }

    fn http(&mut self, old: &HttpSection, _new: &HttpSection) {
        // Each request reads them from the client config a reload swaps
        // (`C2s::config`).
        let HttpSection { cors_origins: _, websocket_origins: _, websocket_redirect: _ } = old;
    }

    fn uploads(&mut self, old: &UploadsSection, new: &UploadsSection) {
        // `Uploads::open` takes the folder, the size cap and the URL once.
        let UploadsSection { dir, max_file_size, url } = old;
        self.check("uploads.dir", dir, &new.dir);
        self.check("uploads.max_file_size", max_file_size, &new.max_file_size);
        self.check("uploads.url", url, &new.url);
    }

    fn components(&mut self, old: &[ComponentConfig], new: &[ComponentConfig]) {
        // The router learns component domains, and the handshake their
        // secrets, at start. Tables are named by position, as they are
        // written in the file (from 0).
        for i in 0..old.len().max(new.len()) {
            match (old.get(i), new.get(i)) {
                (Some(ComponentConfig { domain, secret }), Some(n)) => {
                    self.check(&format!("component[{i}].domain"), domain, &n.domain);
                    self.check(&format!("component[{i}].secret"), secret, &n.secret);
                }
                // One added or taken away.
                _ => self.keys.push(format!("component[{i}]")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::SocketAddr;
    use std::path::PathBuf;

    use super::*;
    use crate::config::uploads::ByteSize;

    fn changed(edit: impl FnOnce(&mut Config)) -> Vec<String> {
        let old = Config::default();
        let mut new = old.clone();
        edit(&mut new);
        restart_needed(&old, &new)
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn identical_configs_need_nothing() {
        assert_eq!(restart_needed(&Config::default(), &Config::default()), Vec::<String>::new());
    }

    #[test]
    fn each_start_only_setting_is_named() {
        type Edit = fn(&mut Config);
        let cases: &[(&str, Edit)] = &[
            ("server.data_dir", |c| c.server.data_dir = PathBuf::from("/elsewhere")),
            ("server.plugin_cache_dir", |c| c.server.plugin_cache_dir = Some(PathBuf::from("/cache"))),
            ("listen.c2s", |c| c.listen.c2s = vec![addr("0.0.0.0:5222")]),
            ("listen.c2s_direct_tls", |c| c.listen.c2s_direct_tls.clear()),
            ("listen.s2s", |c| c.listen.s2s = vec![addr("0.0.0.0:5269")]),
            ("listen.s2s_direct_tls", |c| c.listen.s2s_direct_tls = vec![addr("0.0.0.0:5270")]),
            ("listen.component", |c| c.listen.component = vec![addr("127.0.0.1:5347")]),
            ("listen.http", |c| c.listen.http = vec![addr("127.0.0.1:5290")]),
            ("listen.https", |c| c.listen.https.clear()),
            ("listen.metrics", |c| c.listen.metrics = vec![addr("[::1]:5282")]),
            ("listen.admin_socket", |c| c.listen.admin_socket = Some(PathBuf::from("/run/waxwing.sock"))),
            ("sasl.scram_iterations", |c| c.sasl.scram_iterations += 1),
            ("sasl.failures_before_delay", |c| c.sasl.failures_before_delay += 1),
            ("sasl.max_failure_delay_ms", |c| c.sasl.max_failure_delay_ms += 1),
            ("s2s.require_tls", |c| c.s2s.require_tls = !c.s2s.require_tls),
            ("s2s.require_valid_certificate", |c| c.s2s.require_valid_certificate = !c.s2s.require_valid_certificate),
            ("s2s.dialback", |c| c.s2s.dialback = !c.s2s.dialback),
            ("s2s.ca_file", |c| c.s2s.ca_file = Some(PathBuf::from("/roots.pem"))),
            ("s2s.pinned", |c| c.s2s.pinned = BTreeMap::from([("b.example".into(), PathBuf::from("/b.pem"))])),
            ("s2s.routes", |c| c.s2s.routes = BTreeMap::from([("b.example".into(), "127.0.0.1:5269".into())])),
            ("s2s.dns_server", |c| c.s2s.dns_server = Some(addr("127.0.0.1:53"))),
            ("s2s.connect_timeout_secs", |c| c.s2s.connect_timeout_secs += 1),
            ("s2s.queue_max_stanzas", |c| c.s2s.queue_max_stanzas += 1),
            ("s2s.idle_timeout_secs", |c| c.s2s.idle_timeout_secs += 1),
            ("uploads.dir", |c| c.uploads.dir = Some(PathBuf::from("/files"))),
            ("uploads.max_file_size", |c| c.uploads.max_file_size = ByteSize(1)),
            ("uploads.url", |c| c.uploads.url = Some("https://files.example".into())),
        ];
        for (key, edit) in cases {
            assert_eq!(changed(edit), vec![key.to_string()], "changing {key}");
        }
    }

    #[test]
    fn components_are_named_by_position() {
        let one = |domain: &str, secret: &str| ComponentConfig { domain: domain.into(), secret: secret.into() };
        let old = Config {
            components: vec![one("a.example", "secret-a1"), one("b.example", "secret-b1")],
            ..Config::default()
        };
        let mut new = old.clone();
        assert!(restart_needed(&old, &new).is_empty());
        new.components[1].secret = "secret-b2".into();
        assert_eq!(restart_needed(&old, &new), ["component[1].secret"]);
        new.components[0].domain = "c.example".into();
        assert_eq!(restart_needed(&old, &new), ["component[0].domain", "component[1].secret"]);
        new.components.push(one("d.example", "secret-d1"));
        assert_eq!(restart_needed(&old, &new).last().map(String::as_str), Some("component[2]"));
        assert_eq!(restart_needed(&new, &old).last().map(String::as_str), Some("component[2]"), "one removed");
        let several = changed(|c| {
            c.listen.c2s.clear();
            c.server.data_dir = PathBuf::from("/x");
        });
        assert_eq!(several, ["server.data_dir", "listen.c2s"], "every change, in the file's order");
    }

    #[test]
    fn what_a_reload_applies_is_not_named() {
        let runtime = changed(|c| {
            c.server.log_level = "debug".into();
            c.server.operators.push("op@localhost".into());
            c.tls.require_starttls = !c.tls.require_starttls;
            c.sasl.allow_plain = !c.sasl.allow_plain;
            c.http.cors_origins = vec!["https://a.example".into()];
            c.http.websocket_origins.clear();
            c.http.websocket_redirect = Some("wss://b.example/ws".into());
            c.limits.max_stanza_bytes += 1;
            c.limits.keepalive_secs += 1;
            c.quotas.accounts += 1;
            c.plugin_limits.call_timeout_ms += 1;
            c.plugin_limits.pool_size += 1;
            c.vhosts[0].admins.push("admin@localhost".into());
            c.vhosts[0].cert = Some(PathBuf::from("/new.crt"));
            c.vhosts[0].plugins.pop();
            let mut other = c.vhosts[0].clone();
            other.domain = "b.example".into();
            c.vhosts.push(other);
        });
        assert_eq!(runtime, Vec::<String>::new());
    }
}
