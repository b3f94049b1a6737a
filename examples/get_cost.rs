//! Runs `rounds` × 10 000 `get`s against one store so that their cost can be counted with
//! callgrind, which counts instructions rather than seconds: the counts repeat on any x86-64
//! machine, however loaded. The figures in `wrappers/src/lib.rs` ("Cost") and `BENCHMARKS.md`
//! came from it:
//!
//! ```text
//! cargo build --release --example get_cost --features memory,sled,wrappers
//! for r in 3 8; do
//!   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$r target/release/examples/get_cost namespace+statistics $r
//! done
//! # instructions per get = (total at 8 rounds − total at 3 rounds) / 50 000
//! ```
//!
//! Stores: `memory`, `namespace`, `statistics`, `namespace+statistics` (over memory, 128-byte
//! values), `sled` (our sled store, 1 KiB values with a 1 h TTL), `raw-sled` (sled's `Tree::get`
//! on the same keys, plain), `raw-sled-layout` (sled's `Tree::get` on our encoded keys).
//! It also prints the wall time per get, which is only meaningful on a quiet machine.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_kv::encoding::encode_pair;
use mcp_kv::wrappers::StoreBuilder;
use mcp_kv::{Bytes, KvStore};

const COLL: &str = "bench";

fn main() {
    let mut args = std::env::args().skip(1);
    let usage = "usage: get_cost <memory|namespace|statistics|namespace+statistics|sled|raw-sled|raw-sled-layout> <rounds>";
    let (Some(store), Some(rounds)) = (args.next(), args.next()) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let Ok(rounds) = rounds.parse::<u32>() else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let keys: Vec<String> = (0..10_000).map(|i| format!("key-{i:05}")).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    let elapsed = rt.block_on(async {
        match store.as_str() {
            "raw-sled" | "raw-sled-layout" => {
                let db = sled::Config::new()
                    .temporary(true)
                    .open()
                    .expect("a temporary sled database");
                let names: Vec<Vec<u8>> = keys
                    .iter()
                    .map(|k| match store.as_str() {
                        "raw-sled" => k.as_bytes().to_vec(),
                        _ => encode_pair(COLL, k),
                    })
                    .collect();
                for name in &names {
                    db.insert(name, vec![7u8; 1024]).expect("insert");
                }
                let start = Instant::now();
                for _ in 0..rounds {
                    for name in &names {
                        black_box(db.get(name).expect("get"));
                    }
                }
                start.elapsed()
            }
            other => {
                let (store, value, ttl): (Arc<dyn KvStore>, usize, Option<Duration>) = match other {
                    "sled" => (
                        Arc::new(mcp_kv::sled::SledStore::temporary().expect("a sled store")),
                        1024,
                        Some(Duration::from_secs(3600)),
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
                        .put(COLL, k, Bytes::from(vec![7u8; value]), ttl)
                        .await
                        .expect("put");
                }
                let start = Instant::now();
                for _ in 0..rounds {
                    for k in &keys {
                        black_box(store.get(COLL, k).await.expect("get"));
                    }
                }
                start.elapsed()
            }
        }
    });
    let gets = u64::from(rounds) * keys.len() as u64;
    if gets > 0 {
        println!("{store}: {:?} per get", elapsed / gets as u32);
    }
}
