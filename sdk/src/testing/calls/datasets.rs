//! `datasets`: this plugin's own (named by `FakeHost::set_plugin_name`) and
//! those a test seeded for other plugins. Reading another plugin's needs the
//! `datasets` grant. Once a description is declared (`FakeHost::declare`,
//! `testing::init`), the plugin is held to its `publishes` and `reads` as
//! the kernel holds it; before, any dataset goes.

use super::check_len;
use crate::Capability;
use crate::bindings::waxwing::plugin::types::HostError;
use crate::host::datasets::Entry;
use crate::host::kv::{MAX_KEY_BYTES, MAX_SCAN_LIMIT, MAX_VALUE_BYTES};
use crate::testing::state::{State, with};

type Name = (String, String);

fn own(s: &State, dataset: &str) -> Result<Name, HostError> {
    if s.declared.as_ref().is_some_and(|d| !d.publishes.iter().any(|p| p == dataset)) {
        return Err(HostError::Invalid(format!(
            "{dataset:?} is not among the datasets this plugin publishes (describe().publishes)"
        )));
    }
    Ok((s.plugin.clone(), dataset.to_string()))
}

fn readable(s: &State, plugin: &str, dataset: &str) -> Result<Name, HostError> {
    if plugin == s.plugin {
        return own(s, dataset);
    }
    s.need(Capability::Datasets)?;
    if s.declared.as_ref().is_some_and(|d| !d.reads.iter().any(|(p, n)| p == plugin && n == dataset)) {
        return Err(HostError::Invalid(format!(
            "{plugin}/{dataset} is not among the datasets this plugin reads (describe().reads)"
        )));
    }
    Ok((plugin.to_string(), dataset.to_string()))
}

pub(crate) fn put(dataset: &str, key: &str, value: &[u8]) -> Result<(), HostError> {
    check_len("key", key.len(), MAX_KEY_BYTES)?;
    check_len("value", value.len(), MAX_VALUE_BYTES)?;
    with(|s| {
        let name = own(s, dataset)?;
        s.datasets.entry(name).or_default().insert(key.to_string(), value.to_vec());
        Ok(())
    })
}

pub(crate) fn delete(dataset: &str, key: &str) -> Result<(), HostError> {
    check_len("key", key.len(), MAX_KEY_BYTES)?;
    with(|s| {
        let name = own(s, dataset)?;
        if let Some(d) = s.datasets.get_mut(&name) {
            d.remove(key);
        }
        Ok(())
    })
}

pub(crate) fn get(plugin: &str, dataset: &str, key: &str) -> Result<Option<Vec<u8>>, HostError> {
    check_len("key", key.len(), MAX_KEY_BYTES)?;
    with(|s| {
        let name = readable(s, plugin, dataset)?;
        Ok(s.datasets.get(&name).and_then(|d| d.get(key)).cloned())
    })
}

pub(crate) fn scan(
    plugin: &str,
    dataset: &str,
    prefix: &str,
    start_after: &str,
    limit: u32,
) -> Result<Vec<Entry>, HostError> {
    check_len("prefix", prefix.len(), MAX_KEY_BYTES)?;
    check_len("start-after", start_after.len(), MAX_KEY_BYTES)?;
    if limit > MAX_SCAN_LIMIT {
        return Err(HostError::Invalid(format!("scan limit {limit} is above the maximum {MAX_SCAN_LIMIT}")));
    }
    with(|s| {
        let name = readable(s, plugin, dataset)?;
        let Some(d) = s.datasets.get(&name) else { return Ok(Vec::new()) };
        Ok(d.range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter(|(k, _)| start_after.is_empty() || k.as_str() > start_after)
            .take(limit as usize)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    })
}
