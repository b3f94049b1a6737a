//! The 90/10 get/put mix on 2 Tokio tasks shared by the benches (`#[path]`-included by each):
//! every backend's `mix` group drives its sides with this same loop, so the groups differ only
//! in the store under test.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One side of the mixed workload: a read and a write (with a TTL) of key number `n`.
pub trait Side: Send + Sync + 'static {
    fn read(&self, n: usize) -> impl Future<Output = ()> + Send + '_;
    fn write(&self, n: usize) -> impl Future<Output = ()> + Send + '_;
}

/// A 90/10 read/write mix on 2 Tokio tasks (random keys, xorshift); `iters` operations in all.
pub async fn mix<S: Side>(iters: u64, side: Arc<S>) -> Duration {
    let start = Instant::now();
    let tasks: Vec<_> = (0..2u64)
        .map(|t| {
            let side = side.clone();
            tokio::spawn(async move {
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (t + 1);
                for _ in 0..iters.div_ceil(2) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let n = (x >> 8) as usize;
                    if n % 10 == 0 {
                        side.write(n).await;
                    } else {
                        side.read(n).await;
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    start.elapsed()
}
