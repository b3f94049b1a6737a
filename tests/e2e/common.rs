//! Shared by the end-to-end tests: start the example server as a process on a loopback port,
//! get tokens from it, stop it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The example server binary: `$MCP_KV_EXAMPLE_SERVER`, or `target/<profile>/examples/mcp_server`
/// next to this test binary (a plain `cargo test --features full` builds it).
pub fn server_binary() -> PathBuf {
    if let Ok(path) = std::env::var("MCP_KV_EXAMPLE_SERVER") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let bin = profile_dir.join("examples").join("mcp_server");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build --features full --example mcp_server` \
         (a plain `cargo test --features full` builds it too)",
        bin.display()
    );
    bin
}

/// Whether a required service variable is set: with `CI=true` a missing one fails the test,
/// otherwise the test prints a loud SKIPPED line and returns.
pub fn required_env(test: &str, var: &str, hint: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test}: {var} is not set (CI=true); {hint}")
        }
        _ => {
            mcp_kv_core::testkit::announce_skip(test, &format!("{var} not set ({hint})"));
            None
        }
    }
}

/// A running example server.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT/mcp`
    pub url: String,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// Where its stderr goes.
    pub log: PathBuf,
}

impl Server {
    /// Starts the server with `args` (plus `--bind` if not given), logging to `dir/<name>.log`,
    /// and waits (≤ 60 s) for its `listening on` line.
    pub fn start(dir: &Path, name: &str, args: &[String]) -> Server {
        let log = dir.join(format!("{name}.log"));
        let mut cmd = Command::new(server_binary());
        if !args.iter().any(|a| a == "--bind") {
            cmd.args(["--bind", "127.0.0.1:0"]);
        }
        cmd.args(args)
            .args(["--stats-every", "1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"));
        let mut child = cmd.spawn().expect("start the example server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = tx.send(url.to_string());
                }
            }
        });
        let url = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "the server did not start; its log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        let base = url.trim_end_matches("/mcp").to_string();
        Server {
            child,
            url,
            base,
            log,
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port")
    }

    /// A bearer token for `subject` from the demo token endpoint.
    pub async fn token(&self, subject: &str) -> String {
        let response = reqwest::Client::new()
            .post(format!("{}/demo/token", self.base))
            .json(&serde_json::json!({ "subject": subject }))
            .send()
            .await
            .expect("token request");
        assert!(response.status().is_success(), "{}", response.status());
        let body: serde_json::Value = response.json().await.expect("token json");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops it with SIGTERM (graceful: final statistics are logged) and waits ≤ 10 s, then
    /// SIGKILL.
    pub fn stop(mut self) -> String {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return self.log();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.log()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
