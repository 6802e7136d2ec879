//! Scans that page by themselves: `kv.scan` and `datasets.scan` return at
//! most a page, possibly short of the limit when the entries are large, so
//! only an empty page says the scan is over.

use crate::error::HostError;

/// Entries asked for per host call: small enough that a caller who stops
/// after a few wastes little, large enough that a long scan makes few calls.
pub(crate) const PAGE: u32 = 256;

/// Yields every entry `fetch` pages through, in key order. `fetch` gets the
/// last key seen (the default, empty, at first); an error ends the scan
/// after it is yielded.
pub(crate) struct Paged<K, F> {
    fetch: F,
    after: K,
    page: std::vec::IntoIter<(K, Vec<u8>)>,
    done: bool,
}

impl<K: Default, F> Paged<K, F> {
    pub(crate) fn new(fetch: F) -> Self {
        Paged { fetch, after: K::default(), page: Vec::new().into_iter(), done: false }
    }
}

impl<K, F> Iterator for Paged<K, F>
where
    K: Clone,
    F: FnMut(&K) -> Result<Vec<(K, Vec<u8>)>, HostError>,
{
    type Item = Result<(K, Vec<u8>), HostError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(entry) = self.page.next() {
                return Some(Ok(entry));
            }
            if self.done {
                return None;
            }
            match (self.fetch)(&self.after) {
                Ok(page) => match page.last() {
                    Some((last, _)) => {
                        self.after = last.clone();
                        self.page = page.into_iter();
                    }
                    None => self.done = true,
                },
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// Every name a sorted listing (`accounts.list`, `sessions.online`) gives,
/// asked for 1000 at a time after the last one seen; those listings fill
/// every page but the last.
pub(crate) fn all_names(
    mut fetch: impl FnMut(&str, u32) -> Result<Vec<String>, HostError>,
) -> Result<Vec<String>, HostError> {
    const LIMIT: u32 = 1000;
    let mut all: Vec<String> = Vec::new();
    loop {
        let page = fetch(all.last().map_or("", String::as_str), LIMIT)?;
        let done = page.len() < LIMIT as usize;
        all.extend(page);
        if done {
            return Ok(all);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_on_from_the_last_key_until_an_empty_page() {
        let keys: Vec<u32> = (1..=7).collect();
        let mut calls = Vec::new();
        let paged = Paged::new(|after: &u32| {
            calls.push(*after);
            // Short pages (2 of a limit of 3) must not end the scan.
            Ok(keys.iter().filter(|k| *k > after).take(2).map(|k| (*k, vec![*k as u8])).collect())
        });
        let got: Result<Vec<_>, _> = paged.collect();
        assert_eq!(got.unwrap().iter().map(|(k, _)| *k).collect::<Vec<_>>(), keys);
        assert_eq!(calls, vec![0, 2, 4, 6, 7]);
    }

    #[test]
    fn an_error_is_yielded_once_and_ends_the_scan() {
        let mut n = 0;
        let mut paged = Paged::new(|_: &u32| {
            n += 1;
            if n == 1 { Ok(vec![(1, Vec::new())]) } else { Err(HostError::Internal("disk".into())) }
        });
        assert_eq!(paged.next(), Some(Ok((1, Vec::new()))));
        assert_eq!(paged.next(), Some(Err(HostError::Internal("disk".into()))));
        assert_eq!(paged.next(), None);
    }

    #[test]
    fn all_names_asks_after_the_last_one_until_a_short_page() {
        let names: Vec<String> = (0..2500).map(|i| format!("u{i:05}")).collect();
        let mut calls = 0;
        let all = all_names(|after, limit| {
            calls += 1;
            Ok(names.iter().filter(|n| after.is_empty() || n.as_str() > after).take(limit as usize).cloned().collect())
        })
        .unwrap();
        assert_eq!(all, names);
        assert_eq!(calls, 3);
        let failing = all_names(|_, _| Err(HostError::Internal("down".into())));
        assert_eq!(failing, Err(HostError::Internal("down".into())));
    }
}
