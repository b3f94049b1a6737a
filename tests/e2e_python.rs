//! End to end with the official Python MCP SDK client (`mcp` from PyPI): the example server
//! runs as a process; `tests/e2e/python_client.py` drives it. The interpreter comes from
//! `MCP_KV_E2E_PYTHON`, set by `scripts/e2e-python.sh start` (a venv under `.services/`).
#![cfg(feature = "rmcp")]

#[path = "e2e/common.rs"]
mod common;

use common::{required_env, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_sdk_client_initializes_lists_calls_reads_and_gets() {
    let test = "python_sdk_client_initializes_lists_calls_reads_and_gets";
    let Some(python) = required_env(test, "MCP_KV_E2E_PYTHON", "run scripts/e2e-python.sh start")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let server = Server::start(
        dir.path(),
        "python",
        &["--sqlite".into(), db.display().to_string()],
    );
    let (alice, bob) = (server.token("alice").await, server.token("bob").await);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/python_client.py");
    let url = server.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .args([script, &url, &alice, &bob])
            .output()
            .expect("run the Python client")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python client failed:\n{stdout}\n{stderr}\nserver log:\n{}",
        server.log()
    );
    let seen: serde_json::Value = serde_json::from_str(stdout.trim().lines().last().unwrap_or(""))
        .unwrap_or_else(|_| panic!("no JSON from the client:\n{stdout}\n{stderr}"));
    assert_eq!(seen["first"], "12² = 144 (execution #1)");
    assert_eq!(
        seen["second"], seen["first"],
        "the second call is a cache hit"
    );
    assert_eq!(seen["executions"], serde_json::json!([0, 1]));
    assert_eq!(seen["whoami_alice"], "you are alice");
    assert_eq!(seen["whoami_bob"], "you are bob");
    assert_eq!(seen["no_token_status"], 401);
    let log = server.stop();
    assert!(log.contains("tools/call: hits=1"), "{log}");
}
