//! The OAuth scenarios on the SQLite backend (a file in a temporary directory, manual clock
//! shared by backend and token store), plus a raw scan of the database files themselves.

mod common;

use std::sync::Arc;

use common::Env;
use mcp_kv_core::{DynStore, KvStore, ManualClock};
use mcp_kv_sqlite::SqliteStore;

async fn make(test: &str) -> Option<Env> {
    // Each test has its own file, in a directory removed when the env drops.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut env = make_in(test, dir.path());
    env.guard = Some(Box::new(dir));
    Some(env)
}

fn make_in(test: &str, dir: &std::path::Path) -> Env {
    let clock = ManualClock::new();
    let store = SqliteStore::builder()
        .path(dir.join("oauth.db"))
        .clock(clock.clone())
        .build()
        .expect("sqlite store");
    let raw: DynStore = Arc::new(store);
    Env::new("sqlite", test, raw, clock, true)
}

scenarios!(make);

/// After a full flow, neither the store's values and keys nor the bytes of the database,
/// WAL and shared-memory files hold any secret in plaintext.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_storage_holds_no_plaintext_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = make_in("raw_scan", dir.path());
    let secrets = common::raw_storage_holds_no_plaintext_secrets(&env).await;
    let secrets: Vec<(&str, &str)> = secrets
        .iter()
        .map(|(w, s)| (w.as_str(), s.as_str()))
        .collect();
    let mut scanned = 0;
    for pass in 0..2 {
        for file in std::fs::read_dir(dir.path()).unwrap() {
            let path = file.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            scanned += bytes.len();
            common::assert_absent(&bytes, &secrets, &format!("file {}", path.display()));
        }
        if pass == 0 {
            // Again after closing (checkpoint of the WAL into the main file).
            env.raw.close().await.unwrap();
        }
    }
    assert!(scanned > 4096, "the scan read only {scanned} bytes");
}
