//! Crash durability: a child process writes with `Durability::Flush` and prints each
//! acknowledged key; the parent SIGKILLs it at a random moment, reopens the database and checks
//! that every acknowledged entry is there. Several runs.
//!
//! The child is this test binary re-invoked with `MCP_KV_SLED_CRASH_DIR` set, running only
//! `crash_writer_child` (which does nothing in a normal test run).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mcp_kv_core::{Bytes, KvStore};
use mcp_kv_sled::{Durability, SledStore};
use rand::Rng;

const DIR_VAR: &str = "MCP_KV_SLED_CRASH_DIR";
const C: &str = "crash";
const RUNS: usize = 6;

/// The value written under key `i`: rotates lengths, and some values exceed sled's inline size.
fn value_of(i: u64) -> Bytes {
    let len = [3usize, 40, 700, 5000][(i % 4) as usize];
    Bytes::from(format!("v{i}-").repeat(len / 4 + 1).into_bytes())
}

/// Child mode: writes forever (until killed); prints `ack <i>` after each write returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_writer_child() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    // `MCP_KV_SLED_CRASH_UNFLUSHED=1` (manual check that the test can fail): no flushing at all.
    let store = if std::env::var_os("MCP_KV_SLED_CRASH_UNFLUSHED").is_some() {
        SledStore::builder().path(&dir).flush_every_ms(None)
    } else {
        SledStore::builder()
            .path(&dir)
            .durability(Durability::Flush)
    }
    .open()
    .unwrap();
    let mut out = std::io::stdout().lock();
    let mut i = 0u64;
    loop {
        match i % 10 {
            // A batch of 5 keys, acknowledged together.
            0 => {
                let entries = (i..i + 5).map(|j| (format!("k{j}"), value_of(j))).collect();
                store.put_many(C, entries, None).await.unwrap();
                for j in i..i + 5 {
                    writeln!(out, "ack {j}").unwrap();
                }
                i += 5;
            }
            // An atomic write.
            7 => {
                assert!(store
                    .put_if_absent(C, &format!("k{i}"), value_of(i), None)
                    .await
                    .unwrap());
                writeln!(out, "ack {i}").unwrap();
                i += 1;
            }
            _ => {
                store
                    .put(
                        C,
                        &format!("k{i}"),
                        value_of(i),
                        Some(Duration::from_secs(3600)),
                    )
                    .await
                    .unwrap();
                writeln!(out, "ack {i}").unwrap();
                i += 1;
            }
        }
        out.flush().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::rng();
    for run in 0..RUNS {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_writer_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR_VAR, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<u64>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(i) = line.strip_prefix("ack ").and_then(|n| n.parse().ok()) {
                    if tx.send(i).is_err() {
                        break;
                    }
                }
            }
        });
        // Wait for the first acknowledgement, then kill at a random moment.
        let first = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the writer acknowledged nothing within 60 s");
        let delay = Duration::from_millis(rng.random_range(20..400));
        let started = Instant::now();
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        let mut acked: Vec<u64> = std::iter::once(first).chain(rx.try_iter()).collect();
        acked.sort_unstable();
        acked.dedup();

        let store = SledStore::open(&path).unwrap();
        let mut lost = Vec::new();
        for &i in &acked {
            match store.get(C, &format!("k{i}")).await.unwrap() {
                Some(v) if v == value_of(i) => {}
                other => lost.push((i, other.map(|v| v.len()))),
            }
        }
        let listed = store.keys(C, None, 1_000_000).await.unwrap().keys.len();
        eprintln!(
            "crash run {run}: killed after {:?}, {} acknowledged, {} listed after reopen, {} lost",
            started.elapsed(),
            acked.len(),
            listed,
            lost.len()
        );
        assert!(
            lost.is_empty(),
            "run {run}: acknowledged entries lost: {lost:?}"
        );
        assert!(listed >= acked.len());
        store.close().await.unwrap();
    }
}
