//! Cross-process race: the test binary re-invokes itself as 2 child processes; in each of 100
//! rounds, 16 tasks per process (32 in all) race `take` on one key at the same wall-clock
//! instant. Exactly one of the 32 may win each round. Needs `MCP_KV_REDIS_URL`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mcp_kv_core::{Bytes, KvStore};
use mcp_kv_redis::{RedisConfig, RedisStore};

const ROUNDS: usize = 100;
const TASKS: usize = 16;
const PROCESSES: usize = 2;
const ROUND_MS: u64 = 40;
const COLLECTION: &str = "race";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

async fn store(url: &str, prefix: &str) -> RedisStore {
    RedisStore::connect(
        RedisConfig::builder()
            .url(url)
            .prefix(prefix)
            .build()
            .unwrap(),
    )
    .await
    .unwrap()
}

/// The child side: does nothing unless started by `take_race_across_processes`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn race_child() {
    if std::env::var("MCP_KV_RACE_CHILD").as_deref() != Ok("1") {
        return;
    }
    let url = std::env::var("MCP_KV_REDIS_URL").unwrap();
    let prefix = std::env::var("MCP_KV_RACE_PREFIX").unwrap();
    let store = store(&url, &prefix).await;
    store.get(COLLECTION, "warm-up").await.unwrap();
    println!("RACE READY");
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    let start: u64 = line.trim().parse().unwrap();
    for round in 0..ROUNDS {
        let at = start + round as u64 * ROUND_MS;
        let wait = at.saturating_sub(now_ms());
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let key = format!("round-{round}");
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let store = store.clone();
                let key = key.clone();
                tokio::spawn(async move { store.take(COLLECTION, &key).await })
            })
            .collect();
        let mut wins = 0;
        for t in tasks {
            if t.await.unwrap().unwrap().is_some() {
                wins += 1;
            }
        }
        println!("RACE ROUND {round} {wins}");
    }
    println!("RACE DONE");
    std::io::stdout().flush().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn take_race_across_processes() {
    let Some(url) = common::env_or_skip("MCP_KV_REDIS_URL", "take_race_across_processes") else {
        return;
    };
    let prefix = common::unique_prefix("race");
    let store = store(&url, &prefix).await;
    let entries = (0..ROUNDS)
        .map(|r| (format!("round-{r}"), Bytes::from(format!("prize-{r}"))))
        .collect();
    store
        .put_many(COLLECTION, entries, Some(Duration::from_secs(120)))
        .await
        .unwrap();

    let exe = std::env::current_exe().unwrap();
    let (tx, rx) = mpsc::channel::<(usize, String)>();
    let mut children = Vec::new();
    for p in 0..PROCESSES {
        let mut child = Command::new(&exe)
            .args(["race_child", "--exact", "--nocapture", "--test-threads=1"])
            .env("MCP_KV_RACE_CHILD", "1")
            .env("MCP_KV_RACE_PREFIX", &prefix)
            .env("MCP_KV_REDIS_URL", &url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // libtest may print "test race_child ... " on the same line first.
                if let Some(at) = line.find("RACE ") {
                    let _ = tx.send((p, line[at + 5..].to_string()));
                }
            }
        });
        children.push(child);
    }
    drop(tx);
    let recv = |what: &str| {
        rx.recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no {what} from a child process"))
    };
    let mut ready = 0;
    while ready < PROCESSES {
        let (_, msg) = recv("READY");
        assert_eq!(msg, "READY");
        ready += 1;
    }
    // Both processes start round 0 at the same wall-clock instant.
    let start = now_ms() + 300;
    for child in &mut children {
        let stdin = child.stdin.as_mut().unwrap();
        writeln!(stdin, "{start}").unwrap();
        stdin.flush().unwrap();
    }
    let mut wins = vec![[0usize; PROCESSES]; ROUNDS];
    let mut done = 0;
    while done < PROCESSES {
        let (p, msg) = recv("result");
        if msg == "DONE" {
            done += 1;
            continue;
        }
        let mut parts = msg.split(' ').skip(1);
        let round: usize = parts.next().unwrap().parse().unwrap();
        let n: usize = parts.next().unwrap().parse().unwrap();
        wins[round][p] += n;
    }
    for mut child in children {
        assert!(child.wait().unwrap().success(), "a child process failed");
    }
    let mut per_process = [0usize; PROCESSES];
    for (round, w) in wins.iter().enumerate() {
        let total: usize = w.iter().sum();
        assert_eq!(total, 1, "round {round}: {total} winners ({w:?})");
        for p in 0..PROCESSES {
            per_process[p] += w[p];
        }
    }
    for r in 0..ROUNDS {
        assert_eq!(
            store.get(COLLECTION, &format!("round-{r}")).await.unwrap(),
            None
        );
    }
    eprintln!(
        "race: {ROUNDS} rounds x {PROCESSES} processes x {TASKS} tasks: exactly one winner each \
         round; rounds won per process: {per_process:?}"
    );
    store.clear(COLLECTION).await.unwrap();
}
