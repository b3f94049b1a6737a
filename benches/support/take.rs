//! The `take` workload shared by the memory, sled and SQLite benches (`#[path]`-included by
//! each): every iteration takes a present key. Rounds of keys are put (untimed), then their
//! takes are timed; each side asserts that every take hit.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mcp_kv_core::KvStore;

/// The rounds of `iters` takes: sizes of at most `chunk`.
pub fn take_rounds(iters: u64, chunk: usize) -> impl Iterator<Item = usize> {
    let iters = iters as usize;
    (0..iters.div_ceil(chunk)).map(move |r| (iters - r * chunk).min(chunk))
}

/// Our side of a `take` group: `iters` takes from `store`, in rounds of at most `keys.len()`
/// keys, each round written first with one `put_many` (values `values[j % 4]`, `ttl`), untimed.
/// Returns the time spent in the takes.
pub async fn our_takes(
    store: &dyn KvStore,
    collection: &str,
    keys: &[String],
    values: &[Bytes],
    ttl: Duration,
    iters: u64,
) -> Duration {
    let mut timed = Duration::ZERO;
    for n in take_rounds(iters, keys.len()) {
        let round = &keys[..n];
        let entries = round
            .iter()
            .enumerate()
            .map(|(j, k)| (k.clone(), values[j % 4].clone()))
            .collect();
        store
            .put_many(collection, entries, Some(ttl))
            .await
            .unwrap();
        let mut hits = 0;
        let start = Instant::now();
        for key in round {
            hits += usize::from(black_box(store.take(collection, key).await.unwrap()).is_some());
        }
        timed += start.elapsed();
        assert_eq!(hits, n, "every take hits");
    }
    timed
}
