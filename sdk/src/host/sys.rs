//! Where host calls go: the kernel's imports in wasm, the thread-local fake
//! host everywhere else. Both sides have the generated signatures, so the
//! wrappers cannot tell them apart.

#[cfg(target_arch = "wasm32")]
pub(crate) use crate::bindings::waxwing::plugin::{
    accounts, commands, datasets, disco, filter_scope, host, jid, kv, mem, route, server, sessions, timers, uploads,
};

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use crate::testing::calls::{
    accounts, commands, datasets, disco, filter_scope, host, jid, kv, mem, route, server, sessions, timers, uploads,
};
