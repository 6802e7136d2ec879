//! Read-only data plugins share by declaration. A plugin writes the datasets
//! it lists with [`crate::Describe::publishes`] (no grant needed); another
//! reads those it lists with [`crate::Describe::reads`] (capability
//! `datasets`). Entries commit with the publisher's call, like its `kv`
//! writes, and are kept per host.

use super::paging::{PAGE, Paged};
use super::{lift, sys};
use crate::error::HostError;

/// A key and its value, as [`scan`] returns them.
pub type Entry = (String, Vec<u8>);

/// Sets an entry of one of this plugin's own datasets.
pub fn put(dataset: &str, key: &str, value: impl AsRef<[u8]>) -> Result<(), HostError> {
    lift(sys::datasets::put(dataset, key, value.as_ref()))
}

/// Removes an entry of one of this plugin's own datasets.
pub fn delete(dataset: &str, key: &str) -> Result<(), HostError> {
    lift(sys::datasets::delete(dataset, key))
}

/// An entry of `plugin`'s dataset: this plugin's own, or one it reads.
pub fn get(plugin: &str, dataset: &str, key: &str) -> Result<Option<Vec<u8>>, HostError> {
    lift(sys::datasets::get(plugin, dataset, key))
}

/// One page of `plugin`'s dataset, like [`crate::kv::scan`]: up to `limit`
/// entries under `prefix` in key order, after `start_after` unless it is
/// empty; only an empty page ends a scan.
pub fn scan(plugin: &str, dataset: &str, prefix: &str, start_after: &str, limit: u32) -> Result<Vec<Entry>, HostError> {
    lift(sys::datasets::scan(plugin, dataset, prefix, start_after, limit))
}

/// Every entry under `prefix` of `plugin`'s dataset in key order, fetched a
/// page at a time as the iterator is consumed. A host error is the last item.
pub fn scan_iter(plugin: &str, dataset: &str, prefix: &str) -> impl Iterator<Item = Result<Entry, HostError>> {
    let (plugin, dataset, prefix) = (plugin.to_string(), dataset.to_string(), prefix.to_string());
    Paged::new(move |after: &String| scan(&plugin, &dataset, &prefix, after, PAGE))
}

/// Every entry under `prefix` of `plugin`'s dataset, in one vector.
pub fn scan_all(plugin: &str, dataset: &str, prefix: &str) -> Result<Vec<Entry>, HostError> {
    scan_iter(plugin, dataset, prefix).collect()
}
