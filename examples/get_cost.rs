//! Runs `rounds` rounds of one operation against one store so that its cost can be counted
//! with callgrind, which counts instructions rather than seconds: the counts repeat on any
//! x86-64 machine, however loaded. The figures in `wrappers/src/lib.rs` ("Cost"),
//! `backends/sled/src/lib.rs` and `BENCHMARKS.md` came from it:
//!
//! ```text
//! cargo build --release --example get_cost --features memory,sled,wrappers
//! for r in 3 8; do
//!   valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file=/tmp/cg.$r \
//!     target/release/examples/get_cost namespace+statistics $r
//! done
//! # instructions per operation = (total at 8 rounds − total at 3 rounds) / (5 × operations per round)
//! ```
//!
//! With `--separate-threads=yes` callgrind writes one file per thread (`/tmp/cg.$r-01` is the
//! main thread, which runs every operation); sled's own background threads (its periodic
//! flusher and I/O pool, which write the log out) are in the others. Those wake on wall time,
//! which valgrind stretches, so count the main thread when comparing two sides.
//!
//! Stores: `memory`, `namespace`, `statistics`, `namespace+statistics` (over memory, 128-byte
//! values), `sled` (our sled store through `Arc<dyn KvStore>`, 1 KiB values, preloaded with a
//! 1 h TTL), `raw-sled` (sled's `Tree` on the same keys, plain keys and values), and
//! `raw-sled-layout` (sled's `Tree` on our encoded keys and, for writes, our stored bytes:
//! the 2-byte header then the value). Every sled database is opened with the same
//! `sled::Config` (temporary, sled's defaults: 1 GiB cache, 500 ms flush interval).
//!
//! Operations (the optional third argument, default `get`), per round:
//!
//! - `get`: 10 000 reads of present keys; `get-miss`: 10 000 reads of keys never written;
//! - `get-many`: 100 batches of 100 present keys (raw: a loop of `Tree::get`);
//! - `put`: 10 000 writes without TTL, each of bytes other than the key's current ones (sled
//!   skips an insert of an equal value); `put-ttl`: the same with a 30 min TTL (raw: a 10-byte
//!   header built per write, as the bench's raw twin does);
//! - `put-many`: 100 batches of 100 keys (raw: one sled `Batch` each).
//!
//! It also prints the wall time per operation, which is only meaningful on a quiet machine.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mcp_kv::encoding::encode_pair;
use mcp_kv::sled::encoding::encode_value;
use mcp_kv::wrappers::StoreBuilder;
use mcp_kv::{Bytes, KvStore};

const COLL: &str = "bench";
const KEYS: usize = 10_000;
const BATCH: usize = 100;
const SLED_VALUE: usize = 1024;
const READ_TTL: Duration = Duration::from_secs(3600);
const WRITE_TTL: Duration = Duration::from_secs(1800);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Get,
    GetMiss,
    GetMany,
    Put,
    PutTtl,
    PutMany,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "get" => Op::Get,
            "get-miss" => Op::GetMiss,
            "get-many" => Op::GetMany,
            "put" => Op::Put,
            "put-ttl" => Op::PutTtl,
            "put-many" => Op::PutMany,
            _ => return None,
        })
    }

    /// Operations per round (a batch counts as one).
    fn per_round(self) -> usize {
        match self {
            Op::GetMany | Op::PutMany => KEYS / BATCH,
            _ => KEYS,
        }
    }

    fn ttl(self) -> Option<Duration> {
        (self == Op::PutTtl).then_some(WRITE_TTL)
    }
}

/// The value written by round `round` (0 is the preload): never the bytes a key already holds.
fn fill(round: u32) -> u8 {
    1 + (round % 3) as u8
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A temporary sled database with sled's default settings: both sides open theirs here.
fn sled_db() -> sled::Db {
    sled::Config::new()
        .temporary(true)
        .open()
        .expect("a temporary sled database")
}

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: get_cost <memory|namespace|statistics|namespace+statistics|sled|raw-sled|raw-sled-layout> <rounds> [get|get-miss|get-many|put|put-ttl|put-many]";
    let (Some(store), Some(rounds)) = (args.next(), args.next()) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let Ok(rounds) = rounds.parse::<u32>() else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let Some(op) = Op::parse(args.next().as_deref().unwrap_or("get")) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let keys: Vec<String> = (0..KEYS).map(|i| format!("key-{i:05}")).collect();
    let misses: Vec<String> = (0..KEYS).map(|i| format!("miss-{i:05}")).collect();
    // Batch `b` holds keys `b`, `b + 100`, … (spread over the key space, as in the benches).
    let batches: Vec<Vec<&str>> = (0..KEYS / BATCH)
        .map(|b| {
            (0..BATCH)
                .map(|j| keys[j * (KEYS / BATCH) + b].as_str())
                .collect()
        })
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let elapsed = rt.block_on(async {
        match store.as_str() {
            "raw-sled" | "raw-sled-layout" => {
                let layout = store == "raw-sled-layout";
                let db = sled_db();
                let name = |k: &str| -> Vec<u8> {
                    if layout {
                        encode_pair(COLL, k)
                    } else {
                        k.as_bytes().to_vec()
                    }
                };
                let names: Vec<Vec<u8>> = keys.iter().map(|k| name(k)).collect();
                let miss_names: Vec<Vec<u8>> = misses.iter().map(|k| name(k)).collect();
                let batch_names: Vec<Vec<Vec<u8>>> = batches
                    .iter()
                    .map(|b| b.iter().map(|k| name(k)).collect())
                    .collect();
                // What each side stores: plain values, or our header then the value.
                let stored = |fill: u8| -> Vec<u8> {
                    let value = vec![fill; SLED_VALUE];
                    if layout {
                        encode_value(&value, None)
                    } else {
                        value
                    }
                };
                let preload = stored(0);
                for name in &names {
                    db.insert(name, &preload[..]).expect("insert");
                }
                let written: Vec<Vec<u8>> = (0..3).map(|r| stored(fill(r))).collect();
                let plain: Vec<Vec<u8>> = (0..3).map(|r| vec![fill(r); SLED_VALUE]).collect();
                let start = Instant::now();
                for round in 0..rounds {
                    let value = &written[(round % 3) as usize];
                    match op {
                        Op::Get => names.iter().for_each(|n| {
                            black_box(db.get(n).expect("get"));
                        }),
                        Op::GetMiss => miss_names.iter().for_each(|n| {
                            black_box(db.get(n).expect("get"));
                        }),
                        Op::GetMany => batch_names.iter().for_each(|b| {
                            let out: Vec<_> = b.iter().map(|n| db.get(n).expect("get")).collect();
                            black_box(out);
                        }),
                        Op::Put => names.iter().for_each(|n| {
                            db.insert(n, &value[..]).expect("insert");
                        }),
                        Op::PutTtl => {
                            // The bench's raw twin: a header built per write, then the value.
                            let value = &plain[(round % 3) as usize];
                            names.iter().for_each(|n| {
                                let at = now_ms() + WRITE_TTL.as_millis() as u64;
                                let mut out = Vec::with_capacity(10 + value.len());
                                out.extend_from_slice(&[1, 1]);
                                out.extend_from_slice(&at.to_be_bytes());
                                out.extend_from_slice(value);
                                db.insert(n, out).expect("insert");
                            })
                        }
                        Op::PutMany => batch_names.iter().for_each(|b| {
                            let mut batch = sled::Batch::default();
                            for n in b {
                                batch.insert(&n[..], &value[..]);
                            }
                            db.apply_batch(batch).expect("apply_batch");
                        }),
                    }
                }
                start.elapsed()
            }
            other => {
                let (store, value, ttl): (Arc<dyn KvStore>, usize, Option<Duration>) = match other {
                    "sled" => (
                        Arc::new(
                            mcp_kv::sled::SledStore::builder()
                                .build_with_db(sled_db())
                                .expect("a sled store"),
                        ),
                        SLED_VALUE,
                        Some(READ_TTL),
                    ),
                    _ => {
                        let b = StoreBuilder::new(mcp_kv::memory::MemoryStore::new());
                        let store = match other {
                            "memory" => b.build(),
                            "namespace" => b.namespace("tenant").build(),
                            "statistics" => b.statistics().build(),
                            "namespace+statistics" => b.namespace("tenant").statistics().build(),
                            _ => {
                                eprintln!("{usage}");
                                std::process::exit(2);
                            }
                        };
                        (store.expect("the stack"), 128, None)
                    }
                };
                for k in &keys {
                    store
                        .put(COLL, k, Bytes::from(vec![0u8; value]), ttl)
                        .await
                        .expect("put");
                }
                let values: Vec<Bytes> =
                    (0..3).map(|r| Bytes::from(vec![fill(r); value])).collect();
                let start = Instant::now();
                for round in 0..rounds {
                    let value = &values[(round % 3) as usize];
                    match op {
                        Op::Get | Op::GetMiss => {
                            for k in if op == Op::Get { &keys } else { &misses } {
                                black_box(store.get(COLL, k).await.expect("get"));
                            }
                        }
                        Op::GetMany => {
                            for b in &batches {
                                black_box(store.get_many(COLL, b).await.expect("get_many"));
                            }
                        }
                        Op::Put | Op::PutTtl => {
                            for k in &keys {
                                let v = value.clone();
                                store.put(COLL, k, v, op.ttl()).await.expect("put");
                            }
                        }
                        Op::PutMany => {
                            for b in &batches {
                                // Built per batch, as the bench does in its measured closure.
                                let entries =
                                    b.iter().map(|k| (k.to_string(), value.clone())).collect();
                                store.put_many(COLL, entries, None).await.expect("put_many");
                            }
                        }
                    }
                }
                start.elapsed()
            }
        }
    });
    let ops = u64::from(rounds) * op.per_round() as u64;
    if ops > 0 {
        println!("{store}: {:?} per operation", elapsed / ops as u32);
    }
}
