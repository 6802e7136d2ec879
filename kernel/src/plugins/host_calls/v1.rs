//! The previous major's host functions (`waxwing:plugin@1.1`), each the
//! current one with its arguments and errors converted: a 1.x plugin gets
//! the same checks, limits and storage as a 2.x one.

use super::super::bindings::v1::{self, accounts, filter_scope, host, kv, mem, route, sessions, timers, types};
use super::super::bindings::waxwing::plugin as v2;
use crate::plugins::bindings::types::HostError;
use crate::plugins::store::StoreData;

fn err(e: HostError) -> types::HostError {
    match e {
        HostError::NotGranted(c) => types::HostError::NotGranted(v1::capability_to_v1(c)),
        HostError::Invalid(s) => types::HostError::Invalid(s),
        HostError::Quota(s) => types::HostError::Quota(s),
        HostError::Internal(s) => types::HostError::Internal(s),
    }
}

type R<T> = Result<T, types::HostError>;

impl types::Host for StoreData {}

impl kv::Host for StoreData {
    fn get(&mut self, key: Vec<u8>) -> R<Option<Vec<u8>>> {
        v2::kv::Host::get(self, key).map_err(err)
    }

    fn put(&mut self, key: Vec<u8>, value: Vec<u8>) -> R<()> {
        v2::kv::Host::put(self, key, value).map_err(err)
    }

    fn delete(&mut self, key: Vec<u8>) -> R<()> {
        v2::kv::Host::delete(self, key).map_err(err)
    }

    fn scan(&mut self, prefix: Vec<u8>, start_after: Vec<u8>, limit: u32) -> R<Vec<(Vec<u8>, Vec<u8>)>> {
        v2::kv::Host::scan(self, prefix, start_after, limit).map_err(err)
    }

    fn batch(&mut self, ops: Vec<kv::Op>) -> R<()> {
        let ops = ops
            .into_iter()
            .map(|op| match op {
                kv::Op::Put(kv) => v2::kv::Op::Put(kv),
                kv::Op::Delete(k) => v2::kv::Op::Delete(k),
            })
            .collect();
        v2::kv::Host::batch(self, ops).map_err(err)
    }
}

impl mem::Host for StoreData {
    fn get(&mut self, key: String) -> R<Option<Vec<u8>>> {
        v2::mem::Host::get(self, key).map_err(err)
    }

    fn put(&mut self, key: String, value: Vec<u8>) -> R<()> {
        v2::mem::Host::put(self, key, value).map_err(err)
    }

    fn delete(&mut self, key: String) -> R<()> {
        v2::mem::Host::delete(self, key).map_err(err)
    }

    fn incr(&mut self, key: String, delta: i64) -> R<i64> {
        v2::mem::Host::incr(self, key, delta).map_err(err)
    }
}

impl route::Host for StoreData {
    fn send(&mut self, xml: String) -> R<()> {
        v2::route::Host::send(self, xml).map_err(err)
    }

    fn send_many(&mut self, xml: String, recipients: Vec<String>) -> R<()> {
        v2::route::Host::send_many(self, xml, recipients).map_err(err)
    }
}

impl sessions::Host for StoreData {
    fn of(&mut self, bare_jid: String) -> R<Vec<sessions::SessionInfo>> {
        let list = self.sessions_of(&bare_jid).map_err(err)?;
        Ok(list
            .into_iter()
            .map(|s| sessions::SessionInfo {
                jid: s.jid,
                priority: s.priority,
                available: s.available,
                presence: s.presence,
            })
            .collect())
    }

    /// 1.1 answered this without a grant: public, what disco tells anyone.
    fn host(&mut self) -> sessions::HostInfo {
        let h = self.host_info();
        sessions::HostInfo {
            domain: h.domain,
            features: h.features,
            identities: h
                .identities
                .into_iter()
                .map(|i| types::Identity { category: i.category, type_: i.type_, name: i.name, lang: i.lang })
                .collect(),
            items: h.items.into_iter().map(|i| types::DiscoItem { jid: i.jid, node: i.node, name: i.name }).collect(),
            extensions: h.extensions,
        }
    }
}

impl accounts::Host for StoreData {
    fn exists(&mut self, username: String) -> R<bool> {
        v2::accounts::Host::exists(self, username).map_err(err)
    }

    fn create(&mut self, username: String, password: String) -> R<()> {
        v2::accounts::Host::create(self, username, password).map_err(err)
    }

    fn set_password(&mut self, username: String, password: String) -> R<()> {
        v2::accounts::Host::set_password(self, username, password).map_err(err)
    }

    fn delete(&mut self, username: String) -> R<()> {
        v2::accounts::Host::delete(self, username).map_err(err)
    }
}

impl timers::Host for StoreData {
    fn set(&mut self, delay_ms: u64, data: String) -> R<u64> {
        v2::timers::Host::set(self, delay_ms, data).map_err(err)
    }

    fn cancel(&mut self, id: u64) -> R<()> {
        v2::timers::Host::cancel(self, id).map_err(err)
    }
}

impl host::Host for StoreData {
    fn log(&mut self, level: host::Level, message: String) {
        let level = match level {
            host::Level::Trace => v2::host::Level::Trace,
            host::Level::Debug => v2::host::Level::Debug,
            host::Level::Info => v2::host::Level::Info,
            host::Level::Warn => v2::host::Level::Warn,
            host::Level::Error => v2::host::Level::Error,
        };
        v2::host::Host::log(self, level, message)
    }

    fn now_ms(&mut self) -> u64 {
        v2::host::Host::now_ms(self)
    }

    fn random(&mut self, len: u32) -> Vec<u8> {
        v2::host::Host::random(self, len)
    }

    fn domain(&mut self) -> String {
        v2::host::Host::domain(self)
    }
}

impl filter_scope::Host for StoreData {
    /// 1.x narrowed its scope at run time; 2.x declares it.
    fn restrict(&mut self) {
        self.shared.filter_scope.restrict();
    }

    fn watch(&mut self, bare_jid: String, on: bool) -> R<()> {
        StoreData::watch(self, &bare_jid, on).map_err(err)
    }
}
