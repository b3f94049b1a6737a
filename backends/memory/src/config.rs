//! The builder of [`MemoryStore`].

use std::sync::Arc;
use std::time::Duration;

use mcp_kv_core::{system_clock, Capabilities, Clock, SharedClock};

use crate::MemoryStore;

/// How often the background sweeper removes expired entries, by default.
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(30);

/// Builds a [`MemoryStore`]: clock, per-collection bound, sweeper interval, shard count.
///
/// ```
/// use std::time::Duration;
/// use mcp_kv_core::{KvStore, ManualClock};
/// use mcp_kv_memory::MemoryStore;
///
/// let clock = ManualClock::new();
/// let store = MemoryStore::builder()
///     .clock(clock.clone())
///     .max_entries_per_collection(10_000)
///     .sweep_interval(Duration::from_secs(60))
///     .build();
/// assert_eq!(store.capabilities().max_entries_per_collection, Some(10_000));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
#[must_use = "call .build() to get a store"]
pub struct MemoryStoreBuilder {
    pub(crate) clock: SharedClock,
    pub(crate) max_entries_per_collection: Option<usize>,
    pub(crate) sweep_interval: Option<Duration>,
    pub(crate) shards: usize,
    pub(crate) max_value_bytes: usize,
}

impl Default for MemoryStoreBuilder {
    fn default() -> Self {
        MemoryStoreBuilder {
            clock: system_clock(),
            max_entries_per_collection: None,
            sweep_interval: Some(DEFAULT_SWEEP_INTERVAL),
            shards: default_shards(),
            max_value_bytes: Capabilities::default().max_value_bytes,
        }
    }
}

impl MemoryStoreBuilder {
    /// A builder with the defaults: system clock, unbounded, sweeper every 30 s, 16 shards per
    /// CPU (a power of two between 16 and 1024), 16 MiB values.
    pub fn new() -> Self {
        Self::default()
    }

    /// The clock that decides expiry (tests inject a [`ManualClock`](mcp_kv_core::ManualClock)).
    pub fn clock(self, clock: impl Clock) -> Self {
        self.shared_clock(Arc::new(clock))
    }

    /// The clock, already shared.
    pub fn shared_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Bounds every collection to `max` entries (at least 1). Writing a new key into a full
    /// collection first removes the collection's expired entries; only if it is still full is
    /// its least recently used (live) entry evicted. Expired entries hold a slot until then
    /// (or until a read, the sweeper or `cull` removes them).
    pub fn max_entries_per_collection(mut self, max: usize) -> Self {
        self.max_entries_per_collection = Some(max.max(1));
        self
    }

    /// How often the background sweeper removes expired entries (default 30 s);
    /// `Duration::ZERO` disables it (expired entries are then removed on read in bounded
    /// stores, and by [`cull`](mcp_kv_core::KvStore::cull)).
    pub fn sweep_interval(mut self, interval: Duration) -> Self {
        self.sweep_interval = (!interval.is_zero()).then_some(interval);
        self
    }

    /// Number of shards, rounded up to a power of two (1..=65536).
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = shards.clamp(1, 1 << 16).next_power_of_two();
        self
    }

    /// Largest value accepted, in bytes (default 16 MiB).
    pub fn max_value_bytes(mut self, max: usize) -> Self {
        self.max_value_bytes = max;
        self
    }

    /// Builds the store. When called inside a Tokio runtime (with its timer enabled), a
    /// background sweeper task starts; it ends when the store is closed or dropped.
    pub fn build(self) -> MemoryStore {
        MemoryStore::from_builder(self)
    }
}

fn default_shards() -> usize {
    let cpus = std::thread::available_parallelism().map_or(4, |n| n.get());
    (cpus * 16).clamp(16, 1024).next_power_of_two()
}
