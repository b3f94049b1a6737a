//! Helpers shared by the Redis integration tests.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The value of `var`, or `None` after printing a SKIPPED line; panics when `CI=true`.
pub fn env_or_skip(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Some(v),
        _ => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{test}: {var} is not set and CI=true (run scripts/test.sh, which starts Redis with scripts/redis.sh)");
            }
            mcp_kv_core::testkit::announce_skip(
                test,
                &format!("{var} not set (run scripts/test.sh)"),
            );
            None
        }
    }
}

/// Whether this is a CI run (`CI` is `true` or `1`): a missing service or feature fails there.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// `true` when the cargo feature `feature` is `enabled`. Otherwise panics under CI (a CI run
/// that lacks the feature must not pass quietly) and elsewhere prints a SKIPPED line and
/// returns `false`.
pub fn feature_or_skip(enabled: bool, feature: &str, test: &str) -> bool {
    if enabled {
        return true;
    }
    let why = format!(
        "mcp-kv-redis built without the `{feature}` feature \
         (cargo test -p mcp-kv-redis --features {feature})"
    );
    if in_ci() {
        panic!("{test}: {why} and CI is set");
    }
    mcp_kv_core::testkit::announce_skip(test, &why);
    false
}

/// A key prefix unique to this run and `tag`.
pub fn unique_prefix(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("t-{tag}-{}-{nanos:x}:", std::process::id())
}

/// The redis-server binary: `MCP_KV_REDIS_SERVER_BIN`, else `redis-server` on PATH.
pub fn server_bin(test: &str) -> Option<PathBuf> {
    if let Ok(bin) = std::env::var("MCP_KV_REDIS_SERVER_BIN") {
        if !bin.is_empty() {
            return Some(PathBuf::from(bin));
        }
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("redis-server"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{test}: no redis-server (set MCP_KV_REDIS_SERVER_BIN or run scripts/test.sh) and CI=true");
        }
        mcp_kv_core::testkit::announce_skip(
            test,
            "MCP_KV_REDIS_SERVER_BIN not set and no redis-server on PATH (run scripts/test.sh)",
        );
    }
    found
}

/// A throwaway redis-server of one test, on a port of its own; killed on drop.
pub struct Server {
    bin: PathBuf,
    pub port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Server {
    /// Starts a server on a free loopback port and waits until it answers PING.
    pub fn start(bin: PathBuf) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let dir = std::env::temp_dir().join(format!("mcp-kv-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("server dir");
        let mut s = Server {
            bin,
            port,
            dir,
            child: None,
        };
        s.restart();
        s
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends `signal` (e.g. `STOP`, `CONT`) to the server with kill(1).
    pub fn signal(&self, signal: &str) {
        if let Some(pid) = self.pid() {
            let status = Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(pid.to_string())
                .status()
                .expect("kill(1)");
            assert!(status.success(), "kill -{signal} {pid} failed");
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server with SIGKILL (no shutdown, no goodbye to clients).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL on Unix
            let _ = c.wait();
        }
    }

    /// (Re)starts the server on the same port and waits until it answers PING.
    pub fn restart(&mut self) {
        self.kill9();
        let child = Command::new(&self.bin)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if ping(self.port) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server did not answer on port {}", self.port);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether a Redis answers PING on 127.0.0.1:port.
pub fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}
