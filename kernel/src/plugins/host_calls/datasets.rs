//! `datasets`: read-only data plugins share by declaration. A publisher's
//! entries live under `share/<vhost>/<plugin>/<dataset>/`, written with its
//! call's other writes; a reader names the dataset in `describe().reads`.

use super::super::bindings::waxwing::plugin::datasets;
use super::{MAX_KEY_BYTES, MAX_SCAN_LIMIT, MAX_VALUE_BYTES, check_len};
use crate::plugins::bindings::types::{Capability, HostError};
use crate::plugins::store::StoreData;

/// The database prefix of one plugin's dataset on a vhost.
pub(crate) fn dataset_prefix(domain: &str, plugin: &str, dataset: &str) -> Vec<u8> {
    format!("share/{domain}/{plugin}/{dataset}/").into_bytes()
}

impl StoreData {
    fn own_dataset(&self, dataset: &str) -> Result<Vec<u8>, HostError> {
        if !self.declared.publishes.iter().any(|d| d == dataset) {
            return Err(HostError::Invalid(format!(
                "{dataset:?} is not among the datasets this plugin publishes (describe().publishes)"
            )));
        }
        Ok(dataset_prefix(&self.shared.domain, &self.shared.name, dataset))
    }

    /// A dataset this plugin may read: its own, or one it declared with the grant.
    fn readable_dataset(&self, plugin: &str, dataset: &str) -> Result<Vec<u8>, HostError> {
        if plugin == self.shared.name {
            return self.own_dataset(dataset);
        }
        self.need(Capability::Datasets)?;
        if !self.declared.reads.iter().any(|(p, d)| p == plugin && d == dataset) {
            return Err(HostError::Invalid(format!(
                "{plugin}/{dataset} is not among the datasets this plugin reads (describe().reads)"
            )));
        }
        Ok(dataset_prefix(&self.shared.domain, plugin, dataset))
    }
}

impl datasets::Host for StoreData {
    fn put(&mut self, dataset: String, key: String, value: Vec<u8>) -> Result<(), HostError> {
        check_len("key", key.len(), MAX_KEY_BYTES)?;
        check_len("value", value.len(), MAX_VALUE_BYTES)?;
        let mut full = self.own_dataset(&dataset)?;
        full.extend_from_slice(key.as_bytes());
        self.write(vec![(full, Some(value))])
    }

    fn delete(&mut self, dataset: String, key: String) -> Result<(), HostError> {
        check_len("key", key.len(), MAX_KEY_BYTES)?;
        let mut full = self.own_dataset(&dataset)?;
        full.extend_from_slice(key.as_bytes());
        self.write(vec![(full, None)])
    }

    fn get(&mut self, plugin: String, dataset: String, key: String) -> Result<Option<Vec<u8>>, HostError> {
        check_len("key", key.len(), MAX_KEY_BYTES)?;
        let mut full = self.readable_dataset(&plugin, &dataset)?;
        full.extend_from_slice(key.as_bytes());
        self.read_through(&full)
    }

    fn scan(
        &mut self,
        plugin: String,
        dataset: String,
        prefix: String,
        start_after: String,
        limit: u32,
    ) -> Result<Vec<(String, Vec<u8>)>, HostError> {
        check_len("prefix", prefix.len(), MAX_KEY_BYTES)?;
        check_len("start-after", start_after.len(), MAX_KEY_BYTES)?;
        if limit > MAX_SCAN_LIMIT {
            return Err(HostError::Invalid(format!("scan limit {limit} is above the maximum {MAX_SCAN_LIMIT}")));
        }
        let base = self.readable_dataset(&plugin, &dataset)?;
        let full_prefix = [base.as_slice(), prefix.as_bytes()].concat();
        let after =
            if start_after.is_empty() { Vec::new() } else { [base.as_slice(), start_after.as_bytes()].concat() };
        let rows = self.scan_merged(&full_prefix, after, limit as usize, base.len())?;
        // Keys were written from strings, so they read back as strings.
        Ok(rows.into_iter().map(|(k, v)| (String::from_utf8_lossy(&k).into_owned(), v)).collect())
    }
}
