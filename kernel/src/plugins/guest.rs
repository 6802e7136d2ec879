//! A plugin's exports, whichever major of the contract it was built for:
//! the rest of the kernel calls them in 2.x terms, and a 1.x component's
//! arguments and results are converted here.

use wasmtime::Store;
use wasmtime::component::{Component, InstancePre};

use super::bindings::{self, types, v1};
use super::store::StoreData;

/// Linked and ready to instantiate.
pub(crate) enum GuestPre {
    V1(v1::PluginPre<StoreData>),
    V2(bindings::PluginPre<StoreData>),
}

/// A live instance's exports.
pub(crate) enum GuestInstance {
    V1(v1::Plugin),
    V2(bindings::Plugin),
}

/// What `describe()` said, in 2.x terms.
pub(crate) struct Described {
    pub description: types::Description,
    /// A 1.x plugin's stream features (2.x ones come from `init`).
    pub v1_stream_features: Option<Vec<types::StreamFeature>>,
}

/// The stanza handed to a plugin, with the `type` attribute as sent (1.x
/// plugins get it verbatim).
#[derive(Clone)]
pub(crate) struct StanzaArg {
    pub record: types::Stanza,
    pub raw_type: String,
}

impl GuestPre {
    pub fn new(major: u64, pre: InstancePre<StoreData>) -> anyhow::Result<GuestPre> {
        Ok(match major {
            1 => GuestPre::V1(v1::PluginPre::new(pre)?),
            _ => GuestPre::V2(bindings::PluginPre::new(pre)?),
        })
    }

    pub fn instantiate(&self, store: &mut Store<StoreData>) -> wasmtime::Result<GuestInstance> {
        Ok(match self {
            GuestPre::V1(p) => GuestInstance::V1(p.instantiate(store)?),
            GuestPre::V2(p) => GuestInstance::V2(p.instantiate(store)?),
        })
    }

    pub fn engine(&self) -> &wasmtime::Engine {
        match self {
            GuestPre::V1(p) => p.engine(),
            GuestPre::V2(p) => p.engine(),
        }
    }

    pub fn major(&self) -> u64 {
        match self {
            GuestPre::V1(_) => 1,
            GuestPre::V2(_) => 2,
        }
    }
}

/// Which major a compiled component was built for (its `guest` export's).
pub(crate) fn major_of(engine: &wasmtime::Engine, component: &Component) -> u64 {
    let ty = component.component_type();
    let v1 = ty.exports(engine).any(|(n, _)| n.starts_with("waxwing:plugin/guest@1."));
    if v1 { 1 } else { bindings::ABI_MAJOR }
}

impl GuestInstance {
    fn v1(g: &v1::Plugin) -> &v1::Guest {
        g.waxwing_plugin_guest()
    }

    fn v2(g: &bindings::Plugin) -> &bindings::Guest {
        g.waxwing_plugin_guest()
    }

    pub fn describe(&self, store: &mut Store<StoreData>) -> wasmtime::Result<Described> {
        Ok(match self {
            GuestInstance::V1(g) => {
                let (description, stream) = v1::description(Self::v1(g).call_describe(store)?);
                Described { description, v1_stream_features: Some(stream) }
            }
            GuestInstance::V2(g) => {
                Described { description: Self::v2(g).call_describe(store)?, v1_stream_features: None }
            }
        })
    }

    /// A 1.x plugin's `init` settles nothing beyond success: its stream
    /// features came with `describe`.
    pub fn init(&self, store: &mut Store<StoreData>, config: &str) -> wasmtime::Result<Result<types::Ready, String>> {
        Ok(match self {
            GuestInstance::V1(g) => {
                Self::v1(g).call_init(store, config)?.map(|()| types::Ready { stream_features: Vec::new() })
            }
            GuestInstance::V2(g) => Self::v2(g).call_init(store, config)?,
        })
    }

    pub fn handle_stanza(
        &self,
        store: &mut Store<StoreData>,
        plugin: &str,
        s: &StanzaArg,
    ) -> wasmtime::Result<Result<types::Outcome, types::StanzaError>> {
        Ok(match self {
            GuestInstance::V1(g) => Self::v1(g)
                .call_handle_stanza(store, &v1::stanza(&s.record, &s.raw_type))?
                .map(v1::outcome)
                .map_err(|e| v1::stanza_error(plugin, e)),
            GuestInstance::V2(g) => Self::v2(g).call_handle_stanza(store, &s.record)?,
        })
    }

    /// Events a 1.x plugin cannot receive (iq responses) are not delivered.
    pub fn handle_event(&self, store: &mut Store<StoreData>, e: &types::Event) -> wasmtime::Result<Result<(), String>> {
        match self {
            GuestInstance::V1(g) => match v1::event(e) {
                Some(ev) => Self::v1(g).call_handle_event(store, &ev),
                None => Ok(Ok(())),
            },
            GuestInstance::V2(g) => Self::v2(g).call_handle_event(store, e),
        }
    }

    pub fn filter(
        &self,
        store: &mut Store<StoreData>,
        plugin: &str,
        s: &StanzaArg,
    ) -> wasmtime::Result<types::Verdict> {
        Ok(match self {
            GuestInstance::V1(g) => {
                v1::verdict(plugin, Self::v1(g).call_filter(store, &v1::stanza(&s.record, &s.raw_type))?)
            }
            GuestInstance::V2(g) => Self::v2(g).call_filter(store, &s.record)?,
        })
    }

    pub fn migrate(&self, store: &mut Store<StoreData>, from: &str) -> wasmtime::Result<Result<(), String>> {
        match self {
            GuestInstance::V1(g) => Self::v1(g).call_migrate(store, from),
            GuestInstance::V2(g) => Self::v2(g).call_migrate(store, from),
        }
    }
}
