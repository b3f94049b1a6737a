//! The keys and values shared by the memory, SQLite and sled benches (`#[path]`-included by
//! each), so that their groups run on the same data.

use bytes::Bytes;

/// One bench's data: `key-00000…` keys, `miss-…` keys never written, `take-…` keys written only
/// by the `take` groups, four values (`value_bytes` bytes of 0s, 1s, 2s, 3s) and the keys in
/// batches of `batch` spread over the key space (batch `b` holds keys `b`, `b + n/batch`, …).
pub struct Workload {
    pub keys: Vec<String>,
    pub misses: Vec<String>,
    pub takes: Vec<String>,
    pub values: Vec<Bytes>,
    pub batches: Vec<Vec<String>>,
}

impl Workload {
    pub fn new(keys: usize, takes: usize, value_bytes: usize, batch: usize) -> Self {
        let names = |prefix: &str, n: usize| (0..n).map(|i| format!("{prefix}-{i:05}")).collect();
        let all: Vec<String> = names("key", keys);
        let batches = (0..keys / batch)
            .map(|b| {
                (0..batch)
                    .map(|j| all[(j * (keys / batch) + b) % keys].clone())
                    .collect()
            })
            .collect();
        Workload {
            misses: names("miss", keys),
            takes: names("take", takes),
            values: (0..4u8)
                .map(|n| Bytes::from(vec![n; value_bytes]))
                .collect(),
            batches,
            keys: all,
        }
    }
}
