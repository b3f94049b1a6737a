//! `mcp-kv bench`: the standard workload against any store, printed as a table.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use mcp_kv::{Bytes, DynStore, Error, KvStore};

use crate::{open_url, store_err, CliResult};

/// Arguments of `bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Operations per single-key workload (at least 100); the batch workloads run one
    /// hundredth as many batches of 100 keys.
    #[arg(long, default_value_t = 5000)]
    ops: usize,
    /// Value size in bytes.
    #[arg(long, default_value_t = 1024)]
    value_size: usize,
}

struct Row {
    name: &'static str,
    ops: usize,
    keys_per_op: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Row {
    fn print(&self) {
        let mut l = self.latencies.clone();
        l.sort_unstable();
        let pct = |p: f64| -> Duration {
            l.get(((l.len() as f64 - 1.0) * p).round() as usize)
                .copied()
                .unwrap_or_default()
        };
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        outln!(
            "{:<18} {:>9} {:>12.0} {:>12.0} {:>10.1} {:>10.1}",
            self.name,
            self.ops,
            self.ops as f64 / secs,
            (self.ops * self.keys_per_op) as f64 / secs,
            pct(0.5).as_secs_f64() * 1e6,
            pct(0.99).as_secs_f64() * 1e6,
        );
    }
}

/// How many calls of a workload pass between two progress-bar updates.
const BAR_STEP: usize = 64;

/// Runs `n` sequential calls of `op(i)`, timing each.
async fn measure<F, Fut>(
    name: &'static str,
    n: usize,
    keys_per_op: usize,
    bar: &ProgressBar,
    op: F,
) -> Result<Row, Error>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<(), Error>>,
{
    bar.set_message(name);
    let mut latencies = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        op(i).await?;
        latencies.push(t.elapsed());
        // The bar moves every `BAR_STEP` calls: `inc` reads the clock to rate-limit its
        // drawing, a cost the timed loop should not carry on every call.
        if (i + 1) % BAR_STEP == 0 {
            bar.inc(BAR_STEP as u64);
        }
    }
    bar.inc((n % BAR_STEP) as u64);
    Ok(Row {
        name,
        ops: n,
        keys_per_op,
        elapsed: started.elapsed(),
        latencies,
    })
}

pub async fn run(url: Option<&str>, args: Args) -> CliResult {
    let store = open_url(url, "store").await?;
    let n = args.ops.max(100);
    // Unique per run, also across containers that all run as pid 1.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let coll = format!("mcp-kv-bench-{}-{nanos:08x}", std::process::id());
    let values: Vec<Bytes> = (0..4u8)
        .map(|i| Bytes::from(vec![i; args.value_size]))
        .collect();
    let batch_ops = (n / 100).max(1);
    let bar = ProgressBar::new((n * 6 + batch_ops * 2) as u64);
    // Ctrl-C stops the workload (its tasks too) and still removes what it wrote.
    let result = tokio::select! {
        r = workload(&store, &coll, n, batch_ops, &values, &bar) => Some(r),
        _ = tokio::signal::ctrl_c() => None,
    };
    bar.finish_and_clear();
    // Clean up whatever happened.
    if store.capabilities().enumerate {
        let _ = store.clear(&coll).await;
    }
    let rows = result
        .ok_or_else(|| "interrupted; the benchmark's entries were removed".to_string())?
        .map_err(store_err)?;
    let scheme = url
        .and_then(|u| u.split_once("://"))
        .map_or("?", |(s, _)| s);
    outln!(
        "{scheme}:// store, {} B values, {n} single-key operations per workload, one task{}",
        args.value_size,
        if cfg!(debug_assertions) {
            " (a debug build: build with --release for real figures)"
        } else {
            ""
        }
    );
    outln!(
        "{:<18} {:>9} {:>12} {:>12} {:>10} {:>10}",
        "workload",
        "ops",
        "ops/s",
        "keys/s",
        "p50 µs",
        "p99 µs"
    );
    for r in &rows {
        r.print();
    }
    store.close().await.map_err(store_err)
}

async fn workload(
    store: &DynStore,
    coll: &str,
    n: usize,
    batch_ops: usize,
    values: &[Bytes],
    bar: &ProgressBar,
) -> Result<Vec<Row>, Error> {
    let s = store.as_ref();
    let key = |i: usize| format!("k{}", i % n);
    let ttl = Some(Duration::from_secs(600));
    let mut rows = Vec::new();
    rows.push(
        measure("put", n, 1, bar, |i| async move {
            s.put(coll, &key(i), values[i % 4].clone(), None).await
        })
        .await?,
    );
    rows.push(
        measure("put with ttl", n, 1, bar, |i| async move {
            s.put(coll, &key(i), values[i % 4].clone(), ttl).await
        })
        .await?,
    );
    rows.push(
        measure("get hit", n, 1, bar, |i| async move {
            s.get(coll, &key(i)).await.map(|_| ())
        })
        .await?,
    );
    rows.push(
        measure("get miss", n, 1, bar, |i| async move {
            s.get(coll, &format!("missing-{i}")).await.map(|_| ())
        })
        .await?,
    );
    let keys: Vec<String> = (0..n).map(key).collect();
    rows.push(
        measure("get_many(100)", batch_ops, 100, bar, |i| {
            let refs: Vec<&str> = keys[(i * 100) % (n - 99)..][..100]
                .iter()
                .map(String::as_str)
                .collect();
            async move { s.get_many(coll, &refs).await.map(|_| ()) }
        })
        .await?,
    );
    rows.push(
        measure("put_many(100)", batch_ops, 100, bar, |i| {
            let entries = (0..100)
                .map(|j| (key(i * 100 + j), values[j % 4].clone()))
                .collect();
            s.put_many(coll, entries, ttl)
        })
        .await?,
    );
    if store.capabilities().take {
        rows.push(
            measure("take", n, 1, bar, |i| async move {
                s.take(coll, &key(i)).await.map(|_| ())
            })
            .await?,
        );
    }
    // 90/10 read/write on 2 tasks.
    let entries = (0..n).map(|i| (key(i), values[i % 4].clone())).collect();
    s.put_many(coll, entries, None).await?;
    let started = Instant::now();
    // A JoinSet: dropped (Ctrl-C), it aborts its tasks before the collection is cleared.
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..2usize {
        let store = Arc::clone(store);
        let coll = coll.to_string();
        let values = values.to_vec();
        tasks.spawn(async move {
            let mut lat = Vec::with_capacity(n / 2);
            for i in 0..n / 2 {
                let k = format!("k{}", (i * 7 + t * 13) % n);
                let at = Instant::now();
                if i % 10 == 0 {
                    store.put(&coll, &k, values[i % 4].clone(), None).await?;
                } else {
                    store.get(&coll, &k).await?;
                }
                lat.push(at.elapsed());
            }
            Ok::<_, Error>(lat)
        });
    }
    let mut latencies = Vec::new();
    while let Some(t) = tasks.join_next().await {
        let lat = t.map_err(|e| {
            Error::new(
                mcp_kv::ErrorKind::Backend,
                format!("bench task failed: {e}"),
            )
        })??;
        latencies.extend(lat);
        bar.inc((n / 2) as u64);
    }
    rows.push(Row {
        name: "mix 90/10, 2 tasks",
        ops: n / 2 * 2,
        keys_per_op: 1,
        elapsed: started.elapsed(),
        latencies,
    });
    Ok(rows)
}
