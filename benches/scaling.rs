//! How the embedded backends scale with the number of entries, and what an entry costs in
//! memory.
//!
//! 1. **Footprint** (printed before the criterion groups, and written to
//!    `<criterion dir>/scaling-footprint.json`): the resident memory (`VmRSS` from
//!    `/proc/self/status`, Linux only) that 1 M entries of a 16-byte key and a 100-byte value
//!    add, divided by the entry count — for our `MemoryStore`, for `moka::future::Cache` 0.12,
//!    for openkeyv 0.4's memory store, and for a bare `std::collections::HashMap<String, Bytes>`
//!    (the floor: key, value and one table slot, nothing else). No TTLs. Each store is measured
//!    in a fresh child process (this binary re-run with `MCP_KV_SCALING_FOOTPRINT=<store>`), so
//!    memory freed by one measurement never hides the growth of the next. Every value is its
//!    own allocation, as it would be when values arrive from the network.
//! 2. **Get latency** at 1 k, 100 k and 1 M entries (`scaling/memory get-hit`,
//!    `scaling/sqlite get-hit`; one function per store, the entry count as the parameter):
//!    random keys (xorshift) over the whole key space, entries written with a 1 h TTL so expiry
//!    is checked on every read. Memory runs next to moka at the same sizes. SQLite is a file in a
//!    temporary directory (WAL, `synchronous = NORMAL`), grown from 1 k to 1 M entries through
//!    `put_many` batches of 50 k entries, one transaction each.
//!
//! Run: `cargo bench --bench scaling -- --warm-up-time 1 --measurement-time 3`
//! (defaults: 1 s warm-up, 2 s measurement, 30 samples, to keep the 1 M loads affordable).

use std::hint::black_box;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion};
use mcp_kv_core::KvStore;
use mcp_kv_memory::MemoryStore;
use mcp_kv_sqlite::{Durability, SqliteStore};
use tokio::runtime::Runtime;

const SIZES: [(usize, &str); 3] = [(1_000, "1k"), (100_000, "100k"), (1_000_000, "1M")];
const FOOTPRINT_ENTRIES: usize = 1_000_000;
const KEY_BYTES: usize = 16;
const VALUE_BYTES: usize = 100;
const COLL: &str = "bench";
const READ_TTL: Duration = Duration::from_secs(3600);
const CHILD_VAR: &str = "MCP_KV_SCALING_FOOTPRINT";
/// The stores whose footprint is measured, in the order printed.
const FOOTPRINT_STORES: [&str; 4] = ["mcp-kv", "moka", "openkeyv", "std HashMap"];

/// Key number `i`: exactly [`KEY_BYTES`] bytes.
fn key(i: usize) -> String {
    format!("key-{i:012}")
}

/// A value of [`VALUE_BYTES`] bytes in an allocation of its own.
fn value(i: usize) -> Bytes {
    Bytes::from(vec![(i % 251) as u8; VALUE_BYTES])
}

// ---------------------------------------------------------------------------------------------
// Footprint
// ---------------------------------------------------------------------------------------------

/// Resident set size of this process in bytes (`VmRSS`), `None` off Linux.
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The child side: loads [`FOOTPRINT_ENTRIES`] into one store and prints
/// `footprint <store> <entries> <rss before> <rss after> <load seconds>`.
fn footprint_child(which: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    const CHUNK: usize = 1_000;
    let chunk = |c: usize| (c * CHUNK..(c + 1) * CHUNK).map(|i| (key(i), value(i)));
    let chunks = FOOTPRINT_ENTRIES / CHUNK;
    let before = rss_bytes().unwrap_or(0);
    let started = Instant::now();
    // Each arm keeps its store alive until the measurement below.
    let after = rt.block_on(async {
        match which {
            "mcp-kv" => {
                let store = MemoryStore::new();
                for c in 0..chunks {
                    store
                        .put_many(COLL, chunk(c).collect(), None)
                        .await
                        .expect("put_many");
                }
                assert_eq!(store.stored_entries(), FOOTPRINT_ENTRIES);
                let after = rss_bytes();
                black_box(&store);
                after
            }
            "moka" => {
                let cache: moka::future::Cache<String, Bytes> =
                    moka::future::Cache::builder().build();
                for c in 0..chunks {
                    for (k, v) in chunk(c) {
                        cache.insert(k, v).await;
                    }
                }
                cache.run_pending_tasks().await;
                assert_eq!(cache.entry_count(), FOOTPRINT_ENTRIES as u64);
                let after = rss_bytes();
                black_box(&cache);
                after
            }
            "openkeyv" => {
                use openkeyv::protocol::AsyncKeyValue;
                let store = openkeyv::store::memory::MemoryStore::new();
                for c in 0..chunks {
                    let (keys, values): (Vec<String>, Vec<openkeyv::Value>) = chunk(c)
                        .map(|(k, v)| (k, openkeyv::Value::binary(v)))
                        .unzip();
                    store
                        .put_many(&keys, &values, Some(COLL), None)
                        .await
                        .expect("openkeyv put_many");
                }
                let after = rss_bytes();
                black_box(&store);
                after
            }
            "std HashMap" => {
                let mut map = std::collections::HashMap::<String, Bytes>::new();
                for c in 0..chunks {
                    map.extend(chunk(c));
                }
                assert_eq!(map.len(), FOOTPRINT_ENTRIES);
                let after = rss_bytes();
                black_box(&map);
                after
            }
            other => panic!("unknown footprint store {other:?}"),
        }
    });
    println!(
        "footprint\t{which}\t{FOOTPRINT_ENTRIES}\t{before}\t{}\t{:.3}",
        after.unwrap_or(0),
        started.elapsed().as_secs_f64()
    );
}

/// One measured store.
struct Footprint {
    store: &'static str,
    bytes_per_entry: f64,
    load_secs: f64,
}

/// Runs one child per store and prints the table.
fn footprint() -> Vec<Footprint> {
    if rss_bytes().is_none() {
        eprintln!("SKIPPED scaling footprint: /proc/self/status has no VmRSS (not Linux)");
        return Vec::new();
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("SKIPPED scaling footprint: cannot find this executable ({e})");
            return Vec::new();
        }
    };
    let mut rows = Vec::new();
    for store in FOOTPRINT_STORES {
        let out = Command::new(&exe).env(CHILD_VAR, store).output();
        let line = match &out {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
                .lines()
                .find(|l| l.starts_with("footprint\t"))
                .map(str::to_owned),
            _ => None,
        };
        let Some(line) = line else {
            eprintln!("scaling footprint: the {store} child failed: {out:?}");
            continue;
        };
        let f: Vec<&str> = line.split('\t').collect();
        let num = |i: usize| f.get(i).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
        let (entries, before, after, secs) = (num(2), num(3), num(4), num(5));
        rows.push(Footprint {
            store,
            bytes_per_entry: (after - before) / entries,
            load_secs: secs,
        });
    }
    let payload = (KEY_BYTES + VALUE_BYTES) as f64;
    println!();
    println!(
        "memory footprint: {FOOTPRINT_ENTRIES} entries, {KEY_BYTES}-byte keys, \
         {VALUE_BYTES}-byte values (payload {payload} B/entry), RSS growth"
    );
    println!(
        "{:<14} {:>12} {:>14} {:>12}",
        "store", "bytes/entry", "overhead B/e", "load s"
    );
    for r in &rows {
        println!(
            "{:<14} {:>12.1} {:>14.1} {:>12.2}",
            r.store,
            r.bytes_per_entry,
            r.bytes_per_entry - payload,
            r.load_secs
        );
    }
    println!();
    write_footprint_json(&rows);
    rows
}

/// Criterion's output directory, as criterion itself finds it.
fn criterion_dir() -> std::path::PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into());
    std::path::PathBuf::from(target).join("criterion")
}

/// Writes the footprint table for `scripts/bench_chart.py` (hand-made JSON: no serde needed).
fn write_footprint_json(rows: &[Footprint]) {
    let items: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{{\"store\":\"{}\",\"entries\":{FOOTPRINT_ENTRIES},\"key_bytes\":{KEY_BYTES},\
                 \"value_bytes\":{VALUE_BYTES},\"bytes_per_entry\":{:.1},\"load_secs\":{:.3}}}",
                r.store, r.bytes_per_entry, r.load_secs
            )
        })
        .collect();
    let dir = criterion_dir();
    let path = dir.join("scaling-footprint.json");
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&path, format!("[{}]\n", items.join(","))));
    if let Err(e) = written {
        eprintln!("scaling footprint: could not write {}: {e}", path.display());
    }
}

// ---------------------------------------------------------------------------------------------
// Get latency by size
// ---------------------------------------------------------------------------------------------

/// Random indexes below `n` (xorshift64), so reads spread over the whole key space.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Grows `store` from `from` to `to` entries in `put_many` batches of `batch`.
async fn grow(store: &dyn KvStore, keys: &[String], from: usize, to: usize, batch: usize) {
    let mut i = from;
    while i < to {
        let end = (i + batch).min(to);
        let entries = (i..end).map(|j| (keys[j].clone(), value(j))).collect();
        store
            .put_many(COLL, entries, Some(READ_TTL))
            .await
            .expect("put_many");
        i = end;
    }
}

fn memory_get(c: &mut Criterion, rt: &Runtime, keys: &[String]) {
    let (ours, moka): (Arc<dyn KvStore>, moka::future::Cache<String, Bytes>) = rt.block_on(async {
        (
            Arc::new(MemoryStore::new()) as Arc<dyn KvStore>,
            moka::future::Cache::builder()
                .time_to_live(READ_TTL)
                .build(),
        )
    });
    let mut g = c.benchmark_group("scaling/memory get-hit");
    g.throughput(criterion::Throughput::Elements(1));
    let mut loaded = 0;
    for (n, label) in SIZES {
        let started = Instant::now();
        rt.block_on(async {
            grow(ours.as_ref(), keys, loaded, n, 10_000).await;
            for (i, k) in keys.iter().enumerate().take(n).skip(loaded) {
                moka.insert(k.clone(), value(i)).await;
            }
            moka.run_pending_tasks().await;
        });
        eprintln!(
            "scaling: memory stores grown to {label} entries in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        loaded = n;
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        g.bench_with_input(BenchmarkId::new("mcp-kv", label), &n, |b, &n| {
            b.to_async(rt).iter(|| {
                let k = &keys[rng.below(n)];
                let s = &ours;
                async move { black_box(s.get(COLL, k).await.expect("get").expect("hit")) }
            })
        });
        g.bench_with_input(BenchmarkId::new("moka", label), &n, |b, &n| {
            b.to_async(rt).iter(|| {
                let k = keys[rng.below(n)].as_str();
                let m = &moka;
                async move { black_box(m.get(k).await.expect("hit")) }
            })
        });
    }
    g.finish();
}

fn sqlite_get(c: &mut Criterion, rt: &Runtime, keys: &[String]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ours: Arc<dyn KvStore> = Arc::new(
        SqliteStore::builder()
            .path(dir.path().join("scaling.db"))
            .durability(Durability::Normal)
            .build()
            .expect("sqlite store"),
    );
    let mut g = c.benchmark_group("scaling/sqlite get-hit");
    g.throughput(criterion::Throughput::Elements(1));
    let mut loaded = 0;
    for (n, label) in SIZES {
        let started = Instant::now();
        rt.block_on(grow(ours.as_ref(), keys, loaded, n, 50_000));
        eprintln!(
            "scaling: sqlite grown to {label} entries in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        loaded = n;
        let mut rng = Rng(0x2545_F491_4F6C_DD1D);
        g.bench_with_input(BenchmarkId::new("mcp-kv", label), &n, |b, &n| {
            b.to_async(rt).iter(|| {
                let k = &keys[rng.below(n)];
                let s = &ours;
                async move { black_box(s.get(COLL, k).await.expect("get").expect("hit")) }
            })
        });
    }
    g.finish();
    rt.block_on(ours.close()).expect("close");
}

fn main() {
    if let Ok(which) = std::env::var(CHILD_VAR) {
        footprint_child(&which);
        return;
    }
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args();
    // `cargo bench -- <filter>` still runs the footprint: it is cheap next to the loads.
    footprint();
    let rt = runtime();
    let max = SIZES[SIZES.len() - 1].0;
    let keys: Vec<String> = (0..max).map(key).collect();
    memory_get(&mut c, &rt, &keys);
    sqlite_get(&mut c, &rt, &keys);
    c.final_summary();
}
