//! `disco` answering what a test declared, else an empty host.

use crate::Capability;
use crate::bindings::waxwing::plugin::disco::HostInfo;
use crate::bindings::waxwing::plugin::types::HostError;
use crate::testing::state::with;

pub(crate) fn host() -> Result<HostInfo, HostError> {
    with(|s| {
        s.need(Capability::Disco)?;
        Ok(s.host_info.clone().unwrap_or_else(|| HostInfo {
            domain: s.domain.clone(),
            features: Vec::new(),
            identities: Vec::new(),
            items: Vec::new(),
            extensions: Vec::new(),
        }))
    })
}
