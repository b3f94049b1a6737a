//! Interleaved rounds: the ratio check shared by the benches (`#[path]`-included by each).
//!
//! Criterion measures one participant of a group after the other, so on a shared machine a
//! change of load between two measurements moves their ratio (on the 2-core VMs of this
//! project, by up to ±15 % between back-to-back runs). Here the participants take turns, round
//! by round, on the same fixture: a disturbance lands on every side alike. Each side's fastest
//! round (the least disturbed) and its median round are kept, and every side is compared with
//! the first one (our store) as `other / first`, the direction of the report's ratios (above 1:
//! ours is faster). Printed as `interleaved …` lines before the criterion groups.

use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, Instant};

use mcp_kv_core::KvStore;
use tokio::runtime::Runtime;

/// One side: a name and a closure that runs one timed round and returns the time it took
/// (setup it does before starting its clock is not counted).
pub type Contender<'a> = (&'static str, Box<dyn FnMut() -> Duration + 'a>);

/// Runs `rounds` rounds of every side in turn (the order rotating each round, so no side always
/// follows the same one), prints one line per side after the first —
/// `interleaved {label}: {first} … , {side} … → {side}/{first} = best-ratio (median ratio)`,
/// times per operation (`ops` operations per round).
pub fn interleave(label: &str, ops: usize, rounds: usize, sides: &mut [Contender<'_>]) {
    assert!(ops > 0 && rounds > 0 && !sides.is_empty());
    let mut times: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); sides.len()];
    for round in 0..rounds {
        for k in 0..sides.len() {
            let n = (round + k) % sides.len();
            times[n].push((sides[n].1)());
        }
    }
    let per_op = |d: Duration| d / ops as u32;
    // Each side's (best, median) round, per operation.
    let summaries: Vec<(Duration, Duration)> = times
        .iter_mut()
        .map(|t| {
            t.sort();
            (per_op(t[0]), per_op(t[t.len() / 2]))
        })
        .collect();
    let (first, (best, median)) = (sides[0].0, summaries[0]);
    for (side, (b, m)) in sides.iter().zip(&summaries).skip(1) {
        println!(
            "interleaved {label}: {first} {best:?} (median {median:?}), {} {b:?} (median {m:?}) → {}/{first} = {:.2} (median {:.2}), {rounds} rounds of {ops}",
            side.0,
            side.0,
            b.as_secs_f64() / best.as_secs_f64(),
            m.as_secs_f64() / median.as_secs_f64(),
        );
    }
}

/// Runs `work` to completion on `rt` and returns how long it took.
pub fn timed(rt: &Runtime, work: impl Future<Output = ()>) -> Duration {
    let started = Instant::now();
    rt.block_on(work);
    started.elapsed()
}

/// Our store's side of a round of point reads (the redis bench, whose sides share one
/// operation function, does not use it): `ops` `get`s per round, in one `block_on`, of
/// `keys[i]` with `i` stepping by `stride` (wrapping) from where the last round stopped.
#[allow(dead_code)]
pub fn our_gets<'a>(
    name: &'static str,
    rt: &'a Runtime,
    store: &'a dyn KvStore,
    collection: &'a str,
    keys: &'a [String],
    stride: usize,
    ops: usize,
) -> Contender<'a> {
    let mut i = 0;
    let round = move || {
        timed(rt, async {
            for _ in 0..ops {
                i = (i + stride) % keys.len();
                black_box(store.get(collection, &keys[i]).await.unwrap());
            }
        })
    };
    (name, Box::new(round))
}
