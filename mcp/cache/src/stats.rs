//! Statistics per method, on relaxed atomics: [`MethodStats`] snapshots in [`CacheStats`].

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::Method;

#[derive(Debug, Default)]
pub(crate) struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    coalesced: AtomicU64,
    stores: AtomicU64,
    skips: AtomicU64,
    errors: AtomicU64,
    store_errors: AtomicU64,
    bypassed: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Counter {
    Hit,
    Miss,
    Coalesced,
    Store,
    Skip,
    Error,
    StoreError,
    Bypass,
}

impl Counters {
    pub(crate) fn bump(&self, c: Counter) {
        let a = match c {
            Counter::Hit => &self.hits,
            Counter::Miss => &self.misses,
            Counter::Coalesced => &self.coalesced,
            Counter::Store => &self.stores,
            Counter::Skip => &self.skips,
            Counter::Error => &self.errors,
            Counter::StoreError => &self.store_errors,
            Counter::Bypass => &self.bypassed,
        };
        a.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> MethodStats {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        MethodStats {
            hits: l(&self.hits),
            misses: l(&self.misses),
            coalesced: l(&self.coalesced),
            stores: l(&self.stores),
            skips: l(&self.skips),
            errors: l(&self.errors),
            store_errors: l(&self.store_errors),
            bypassed: l(&self.bypassed),
        }
    }

    fn reset(&self) {
        for a in [
            &self.hits,
            &self.misses,
            &self.coalesced,
            &self.stores,
            &self.skips,
            &self.errors,
            &self.store_errors,
            &self.bypassed,
        ] {
            a.store(0, Ordering::Relaxed);
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct StatsTable([Counters; 6]);

impl StatsTable {
    pub(crate) fn bump(&self, m: Method, c: Counter) {
        self.0[m.index()].bump(c);
    }

    pub(crate) fn snapshot(&self) -> CacheStats {
        CacheStats {
            methods: Method::ALL.map(|m| (m, self.0[m.index()].snapshot())),
        }
    }

    pub(crate) fn reset(&self) {
        self.0.iter().for_each(Counters::reset);
    }
}

/// The counters of one method at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MethodStats {
    /// Requests answered from the store.
    pub hits: u64,
    /// Requests that ran the handler (one per single-flight group).
    pub misses: u64,
    /// Requests that waited for an identical in-flight miss and shared its result.
    pub coalesced: u64,
    /// Results written to the store.
    pub stores: u64,
    /// Successful results not cached: above the size limit, a zero TTL hint, a private
    /// result asked in the public partition, incomplete, or invalidated while computed.
    pub skips: u64,
    /// Handler errors and error results (`isError`), never cached.
    pub errors: u64,
    /// Store failures and undecodable stored entries; the request is served from the handler.
    pub store_errors: u64,
    /// Requests not cached by configuration (method disabled, item excluded or not included).
    pub bypassed: u64,
}

impl MethodStats {
    /// `hits / (hits + misses + coalesced)`, or 0 when nothing was looked up.
    pub fn hit_ratio(&self) -> f64 {
        // In f64: the sum of three counters may exceed `u64::MAX` (a panic in debug builds).
        let total = self.hits as f64 + self.misses as f64 + self.coalesced as f64;
        if total == 0.0 {
            0.0
        } else {
            self.hits as f64 / total
        }
    }
}

/// A snapshot of every method's counters ([`ResponseCache::stats`](crate::ResponseCache::stats)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheStats {
    methods: [(Method, MethodStats); 6],
}

impl CacheStats {
    /// The counters of `method`.
    pub fn method(&self, method: Method) -> MethodStats {
        self.methods[method.index()].1
    }

    /// The counters of every method.
    pub fn iter(&self) -> impl Iterator<Item = (Method, MethodStats)> + '_ {
        self.methods.iter().copied()
    }

    /// Counters summed over all methods (saturating at `u64::MAX`).
    pub fn total(&self) -> MethodStats {
        self.methods
            .iter()
            .fold(MethodStats::default(), |a, (_, s)| MethodStats {
                hits: a.hits.saturating_add(s.hits),
                misses: a.misses.saturating_add(s.misses),
                coalesced: a.coalesced.saturating_add(s.coalesced),
                stores: a.stores.saturating_add(s.stores),
                skips: a.skips.saturating_add(s.skips),
                errors: a.errors.saturating_add(s.errors),
                store_errors: a.store_errors.saturating_add(s.store_errors),
                bypassed: a.bypassed.saturating_add(s.bypassed),
            })
    }

    /// The snapshot as JSON: `{"tools/call": {"hits": …, …}, …}`.
    pub fn to_json(&self) -> serde_json::Value {
        let map = self
            .methods
            .iter()
            .map(|(m, s)| {
                (
                    m.as_str().to_string(),
                    serde_json::to_value(s).unwrap_or_default(),
                )
            })
            .collect();
        serde_json::Value::Object(map)
    }
}

impl fmt::Display for CacheStats {
    /// One line per method that saw traffic: `tools/call: hits=1 misses=1 …`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (m, s) in self.iter() {
            if s == MethodStats::default() {
                continue;
            }
            writeln!(
                f,
                "{m}: hits={} misses={} coalesced={} stores={} skips={} errors={} store_errors={} bypassed={}",
                s.hits, s.misses, s.coalesced, s.stores, s.skips, s.errors, s.store_errors, s.bypassed
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_near_u64_max_do_not_overflow() {
        let table = StatsTable::default();
        for m in [Method::ToolsList, Method::ToolsCall] {
            let c = &table.0[m.index()];
            c.hits.store(u64::MAX - 1, Ordering::Relaxed);
            c.misses.store(u64::MAX - 1, Ordering::Relaxed);
        }
        let stats = table.snapshot();
        assert_eq!(stats.total().hits, u64::MAX);
        let ratio = stats.method(Method::ToolsCall).hit_ratio();
        assert!((ratio - 0.5).abs() < 1e-9, "{ratio}");
    }
}
