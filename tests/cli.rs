//! The `mcp-kv` command-line tool, run as a process on SQLite and sled files.
#![cfg(all(feature = "cli", feature = "sqlite", feature = "sled"))]

use std::path::Path;
use std::process::{Command, Output};

fn mcp_kv(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mcp-kv"))
        .current_dir(dir)
        .env_remove("MCP_KV_URL")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running mcp-kv: {e}"))
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "mcp-kv failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn put_get_ttl_keys_delete() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path();
    let url = "sqlite://s.db";
    ok(&mcp_kv(
        d,
        &["--url", url, "put", "c", "k1", "hello", "--ttl", "30s"],
    ));
    ok(&mcp_kv(d, &["--url", url, "put", "c", "k2", "world"]));
    assert_eq!(ok(&mcp_kv(d, &["--url", url, "get", "c", "k1"])), "hello");
    let ttl = ok(&mcp_kv(d, &["--url", url, "ttl", "c", "k1"]));
    assert!(
        ttl.trim().ends_with('s') && ttl.starts_with("29.") || ttl.starts_with("30.0"),
        "{ttl}"
    );
    assert_eq!(
        ok(&mcp_kv(d, &["--url", url, "ttl", "c", "k2"])).trim(),
        "no expiry"
    );
    assert_eq!(ok(&mcp_kv(d, &["--url", url, "keys", "c"])), "k1\nk2\n");
    assert_eq!(ok(&mcp_kv(d, &["--url", url, "collections"])), "c\n");
    assert_eq!(
        ok(&mcp_kv(d, &["--url", url, "delete", "c", "k2"])).trim(),
        "deleted"
    );
    let missing = mcp_kv(d, &["--url", url, "get", "c", "k2"]);
    assert!(!missing.status.success());
    let err = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
}

#[test]
fn errors_are_one_line_and_never_echo_secrets() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(env!("CARGO_BIN_EXE_mcp-kv"))
        .current_dir(dir.path())
        .env("MCP_KV_URL", "postgres://admin:hunter2@db.internal/kv")
        .args(["get", "c", "k"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown URL scheme"), "{err}");
    assert!(!err.contains("hunter2") && !err.contains("admin"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn migrate_resumes_after_interruption_and_checks_counts() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path();
    let src = "sqlite://src.db";
    for c in ["alpha", "beta"] {
        for i in 0..25 {
            let k = format!("k{i:02}");
            let v = format!("{c}-{i}");
            let mut args = vec!["--url", src, "put", c, &k, &v];
            if i % 5 == 0 {
                args.extend(["--ttl", "1h"]);
            }
            ok(&mcp_kv(d, &args));
        }
    }
    let migrate = [
        "migrate",
        "--from",
        src,
        "--to",
        "sled://dst.sled",
        "--batch",
        "10",
        "--state",
        "m.json",
    ];
    // Interrupted twice: after 2 batches (mid-alpha), then after 2 more (end of alpha, first
    // batch of beta). Progress is kept each time.
    let mut interrupted = migrate.to_vec();
    interrupted.extend(["--stop-after-batches", "2"]);
    for _ in 0..2 {
        let out = mcp_kv(d, &interrupted);
        assert!(!out.status.success());
        assert!(d.join("m.json").exists());
    }
    // The destination loses two writes the progress file counts as copied (as sled does when
    // the process is killed before its periodic flush), and holds a stale value for a third.
    ok(&mcp_kv(
        d,
        &["--url", "sled://dst.sled", "delete", "alpha", "k03"],
    ));
    ok(&mcp_kv(
        d,
        &["--url", "sled://dst.sled", "delete", "alpha", "k05"],
    ));
    ok(&mcp_kv(
        d,
        &["--url", "sled://dst.sled", "put", "alpha", "k01", "stale"],
    ));
    // A progress file is never resumed against other stores.
    let mut elsewhere = migrate.to_vec();
    elsewhere[4] = "sled://other.sled";
    let refused = mcp_kv(d, &elsewhere);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("belongs to a migration from"), "{err}");
    assert!(!d.join("other.sled").exists());
    // Resumed: completes, verifies every entry (copying the lost and stale ones again),
    // removes the progress file.
    let report = ok(&mcp_kv(d, &migrate));
    assert!(report.contains("migration complete"), "{report}");
    let alpha = report
        .lines()
        .find(|l| l.starts_with("alpha"))
        .unwrap_or_else(|| panic!("{report}"));
    let cols: Vec<&str> = alpha.split_whitespace().collect();
    assert_eq!(cols, ["alpha", "25", "5", "0", "22", "3"], "{report}");
    assert!(!d.join("m.json").exists());
    for c in ["alpha", "beta"] {
        let keys = ok(&mcp_kv(d, &["--url", "sled://dst.sled", "keys", c]));
        assert_eq!(keys.lines().count(), 25, "{c}: {keys}");
        assert_eq!(
            ok(&mcp_kv(d, &["--url", "sled://dst.sled", "get", c, "k07"])),
            format!("{c}-7")
        );
        let ttl = ok(&mcp_kv(d, &["--url", "sled://dst.sled", "ttl", c, "k05"]));
        assert!(
            ttl.trim() != "no expiry",
            "the TTL was not carried over: {ttl}"
        );
    }
}

#[test]
fn migrate_of_an_empty_source_completes() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path();
    let report = ok(&mcp_kv(
        d,
        &[
            "migrate",
            "--from",
            "memory://",
            "--to",
            "sqlite://e.db",
            "--state",
            "e.json",
        ],
    ));
    assert!(report.contains("migration complete"), "{report}");
}

#[test]
fn read_commands_refuse_a_missing_database_and_usage_errors_are_one_line() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path();
    for url in ["sqlite://typo.db", "sled://typo.sled"] {
        for cmd in [&["get", "c", "k"][..], &["keys", "c"], &["collections"]] {
            let mut args = vec!["--url", url];
            args.extend(cmd);
            let out = mcp_kv(d, &args);
            assert!(!out.status.success(), "{args:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("does not create one"), "{err}");
            assert_eq!(err.lines().count(), 1, "{err}");
        }
    }
    assert!(!d.join("typo.db").exists() && !d.join("typo.sled").exists());
    let migrate_from_typo = mcp_kv(
        d,
        &[
            "migrate",
            "--from",
            "sqlite://typo.db",
            "--to",
            "memory://",
            "--state",
            "t.json",
        ],
    );
    assert!(!migrate_from_typo.status.success());
    assert!(!d.join("typo.db").exists());
    for bad in [
        &["--url", "memory://", "put", "c", "k", "v", "--ttl", "abc"][..],
        &[
            "--url",
            "memory://",
            "put",
            "c",
            "k",
            "v",
            "--ttl",
            "0.0001ms",
        ],
        &["migrate", "--from", "memory://"],
        &["no-such-command"],
    ] {
        let out = mcp_kv(d, bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{bad:?}: {err}");
        assert!(err.starts_with("error: "), "{err}");
    }
    assert!(ok(&mcp_kv(d, &["--help"])).contains("Usage"));
}

#[test]
fn bench_prints_a_table() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = ok(&mcp_kv(
        dir.path(),
        &["--url", "memory://", "bench", "--ops", "200"],
    ));
    // Every row the bench prints on a memory store (which has `take`), in order, with its
    // operation count: 200 single-key calls, or 200 / 100 = 2 batches of 100 keys.
    let expected = [
        ("put", "200"),
        ("put with ttl", "200"),
        ("get hit", "200"),
        ("get miss", "200"),
        ("get_many(100)", "2"),
        ("put_many(100)", "2"),
        ("take", "200"),
        ("mix 90/10, 2 tasks", "200"),
    ];
    let lines: Vec<&str> = out.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.starts_with("workload "))
        .unwrap_or_else(|| panic!("no header row in:\n{out}"));
    let rows = &lines[header + 1..];
    assert_eq!(rows.len(), expected.len(), "rows:\n{out}");
    for (line, (name, ops)) in rows.iter().zip(expected) {
        // The row starts with its exact name and whitespace, then the operation count: "put"
        // is not satisfied by "put with ttl", whose name is followed by "with", not a count.
        let rest = line
            .strip_prefix(name)
            .filter(|rest| rest.starts_with(char::is_whitespace))
            .unwrap_or_else(|| panic!("expected the {name:?} row, got {line:?} in:\n{out}"));
        let cols: Vec<&str> = rest.split_whitespace().collect();
        assert_eq!(cols.len(), 5, "{name}: {line:?}");
        assert_eq!(cols[0], ops, "{name}: operation count in {line:?}");
        for c in &cols[1..] {
            assert!(
                c.parse::<f64>().is_ok_and(f64::is_finite),
                "{name}: {c:?} is not a number in {line:?}"
            );
        }
    }
}

#[test]
fn read_commands_find_databases_named_as_open_reads_urls() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path();
    // open() percent-decodes the path and takes the scheme in any case; the check that refuses
    // a missing database must read the URL the same way.
    for url in ["sqlite://my%20state.db", "sled://my%20state.sled"] {
        ok(&mcp_kv(d, &["--url", url, "put", "c", "k", "v"]));
        assert_eq!(ok(&mcp_kv(d, &["--url", url, "get", "c", "k"])), "v");
        assert_eq!(ok(&mcp_kv(d, &["--url", url, "keys", "c"])), "k\n");
    }
    assert!(d.join("my state.db").exists() && d.join("my state.sled").exists());
    for url in ["SQLITE://typo.db", "Sled://typo.sled"] {
        let out = mcp_kv(d, &["--url", url, "get", "c", "k"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("does not create one"), "{url}: {err}");
    }
    assert!(!d.join("typo.db").exists() && !d.join("typo.sled").exists());
}

#[test]
fn migrate_refuses_the_same_store_however_spelled() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path();
    ok(&mcp_kv(
        d,
        &["--url", "sqlite://a.db", "put", "c", "k", "v"],
    ));
    ok(&mcp_kv(
        d,
        &["--url", "sled://b.sled", "put", "c", "k", "v"],
    ));
    let abs = format!("sqlite://{}", d.join("a.db").display());
    for (from, to) in [
        ("sqlite://a.db", "sqlite://a.db"),
        ("sqlite://a.db", "sqlite://./a.db"),
        ("sqlite://a.db", abs.as_str()),
        (
            "sqlite://a.db?table=mcp_kv",
            "sqlite://%61.db?durability=full&table=mcp%5Fkv",
        ),
        ("sled://b.sled", "sled://b.sled/"),
    ] {
        let out = mcp_kv(
            d,
            &["migrate", "--from", from, "--to", to, "--state", "m.json"],
        );
        assert_eq!(out.status.code(), Some(1), "{from} -> {to}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("name the same store"), "{from} -> {to}: {err}");
        assert!(!d.join("m.json").exists());
    }
    // Another table of the same file is another store.
    let report = ok(&mcp_kv(
        d,
        &[
            "migrate",
            "--from",
            "sqlite://a.db",
            "--to",
            "sqlite://a.db?table=copy",
            "--state",
            "m.json",
        ],
    ));
    assert!(report.contains("migration complete"), "{report}");
    assert_eq!(
        ok(&mcp_kv(d, &["--url", "sqlite://a.db", "get", "c", "k"])),
        "v"
    );
}

/// Against the DynamoDB endpoint of `scripts/test.sh` (MCP_KV_DYNAMODB_ENDPOINT): its 400 KB
/// item limit is smaller than SQLite's.
#[cfg(feature = "dynamodb")]
#[test]
fn migrate_names_a_refused_entry_and_keeps_credentials_out_of_progress() {
    let test = "migrate_names_a_refused_entry_and_keeps_credentials_out_of_progress";
    let endpoint = match std::env::var("MCP_KV_DYNAMODB_ENDPOINT") {
        Ok(v) if !v.is_empty() => v,
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{test}: MCP_KV_DYNAMODB_ENDPOINT is not set (CI=true); run scripts/test.sh")
        }
        _ => {
            return mcp_kv_core::testkit::announce_skip(
                test,
                "MCP_KV_DYNAMODB_ENDPOINT not set (run scripts/test.sh)",
            )
        }
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    let to = format!(
        "dynamodb://cli-migrate-{}-{nanos}?region=us-east-1&endpoint={endpoint}\
         &access_key_id=AKIDEXAMPLE&secret_access_key=hunter2%2Bsecret&auto_create=true",
        std::process::id()
    );
    let src = "sqlite://src.db";
    for k in ["k1", "k2", "k4"] {
        ok(&mcp_kv(d, &["--url", src, "put", "c", k, "small"]));
    }
    let big = d.join("big.bin");
    std::fs::write(&big, vec![7u8; 500_000]).unwrap_or_else(|e| panic!("{e}"));
    let put_big = Command::new(env!("CARGO_BIN_EXE_mcp-kv"))
        .current_dir(d)
        .args(["--url", src, "put", "c", "k3", "-"])
        .stdin(std::fs::File::open(&big).unwrap_or_else(|e| panic!("{e}")))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    ok(&put_big);
    let migrate = [
        "migrate", "--from", src, "--to", &to, "--batch", "2", "--state", "m.json",
    ];
    // The second batch holds the 500 KB value: refused by name, the first batch kept.
    let out = mcp_kv(d, &migrate);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("collection \"c\", key \"k3\"") && err.contains("too large"),
        "{err}"
    );
    let progress = std::fs::read_to_string(d.join("m.json")).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !progress.contains("hunter2") && !progress.contains("AKIDEXAMPLE"),
        "{progress}"
    );
    // Nor is it echoed when the progress file is refused for another migration.
    let mut other = migrate.to_vec();
    other[2] = "sqlite://other.db";
    ok(&mcp_kv(
        d,
        &["--url", "sqlite://other.db", "put", "c", "k", "v"],
    ));
    let refused = mcp_kv(d, &other);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("belongs to a migration from"), "{err}");
    assert!(
        !err.contains("hunter2") && !err.contains("AKIDEXAMPLE"),
        "{err}"
    );
    // Once the entry is dealt with at the source, the same command resumes and completes.
    ok(&mcp_kv(d, &["--url", src, "delete", "c", "k3"]));
    let report = ok(&mcp_kv(d, &migrate));
    assert!(report.contains("migration complete"), "{report}");
    assert_eq!(ok(&mcp_kv(d, &["--url", &to, "keys", "c"])), "k1\nk2\nk4\n");
}

/// Ctrl-C during `bench` stops it and still removes what it wrote (it used to leave its
/// collection behind, entries without expiry).
#[test]
fn an_interrupted_bench_removes_its_entries() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path();
    let url = "sqlite://b.db";
    let child = Command::new(env!("CARGO_BIN_EXE_mcp-kv"))
        .current_dir(d)
        .env_remove("MCP_KV_URL")
        .args(["--url", url, "bench", "--ops", "10000000"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running mcp-kv: {e}"));
    // Interrupted once it has written something.
    let started = std::time::Instant::now();
    loop {
        std::thread::sleep(std::time::Duration::from_millis(200));
        let out = mcp_kv(d, &["--url", url, "collections"]);
        if out.status.success() && !out.stdout.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the bench wrote nothing in 60 s"
        );
    }
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap_or_else(|e| panic!("kill: {e}"));
    assert!(sent.success());
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for mcp-kv: {e}"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("interrupted"), "{err}");
    assert_eq!(ok(&mcp_kv(d, &["--url", url, "collections"])), "");
}

/// Two `migrate`s on one progress file: the second fails at once, in one line, writing
/// nothing; the lock is the operating system's, so a killed first run does not leave it held.
#[test]
fn a_second_migrate_on_the_same_progress_file_is_refused() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path();
    let src = "sqlite://src.db";
    for i in 0..6 {
        ok(&mcp_kv(
            d,
            &["--url", src, "put", "c", &format!("k{i}"), "v"],
        ));
    }
    let migrate = [
        "migrate",
        "--from",
        src,
        "--to",
        "sqlite://dst.db",
        "--batch",
        "2",
        "--state",
        "m.json",
    ];
    // The first one holds after its first batch (progress saved) until its stdin closes.
    let mut first = Command::new(env!("CARGO_BIN_EXE_mcp-kv"))
        .current_dir(d)
        .env_remove("MCP_KV_URL")
        .args(migrate)
        .args(["--hold-after-batches", "1"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running mcp-kv: {e}"));
    let stderr = first.stderr.take().unwrap_or_else(|| panic!("no stderr"));
    let mut said = String::new();
    for line in std::io::BufReader::new(stderr).lines() {
        let line = line.unwrap_or_else(|e| panic!("{e}"));
        said.push_str(&line);
        if line.contains("holding after 1 batches") {
            break;
        }
    }
    assert!(
        said.contains("holding"),
        "the first migrate did not start: {said}"
    );
    let progress = std::fs::read(d.join("m.json")).unwrap_or_else(|e| panic!("{e}"));

    let second = mcp_kv(d, &migrate);
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(
        err.contains("another migrate is running on m.json"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        std::fs::read(d.join("m.json")).unwrap_or_else(|e| panic!("{e}")),
        progress,
        "the second migrate wrote the progress file"
    );

    // Killed (no chance to clean up): its lock goes with it.
    first.kill().unwrap_or_else(|e| panic!("{e}"));
    first.wait().unwrap_or_else(|e| panic!("{e}"));
    let out = mcp_kv(d, &migrate);
    let report = ok(&out);
    assert!(report.contains("migration complete"), "{report}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("resuming from m.json"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!d.join("m.json").exists() && !d.join("m.json.lock").exists());
    assert_eq!(
        ok(&mcp_kv(d, &["--url", "sqlite://dst.db", "keys", "c"]))
            .lines()
            .count(),
        6
    );
}

/// The same Redis server or DynamoDB table under two spellings is refused before anything is
/// opened (no server needed: the refusal comes first).
#[test]
fn migrate_refuses_the_same_network_store_however_spelled() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path();
    for (from, to) in [
        ("redis://localhost:6379", "redis://127.0.0.1:6379"),
        ("redis://127.0.0.1", "redis://127.0.0.1:6379/0"),
        ("redis://[::1]:6379/", "redis://LOCALHOST:6379/0"),
        ("redis://u:pw@localhost/3", "redis://127.0.0.1:6379/3/"),
        (
            "dynamodb://tbl?endpoint=http://localhost:8000",
            "dynamodb://tbl?endpoint=http://127.0.0.1:8000",
        ),
        (
            "dynamodb://tbl?region=eu-west-1&endpoint=http://localhost:8000",
            "dynamodb://tbl/?endpoint=http%3A%2F%2F127.0.0.1%3A8000%2F&region=eu-west-1",
        ),
    ] {
        let out = mcp_kv(
            d,
            &["migrate", "--from", from, "--to", to, "--state", "m.json"],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{from} -> {to}: {err}");
        assert!(err.contains("name the same store"), "{from} -> {to}: {err}");
        assert!(!d.join("m.json").exists());
    }
}

/// Whether this process runs as root (which file permissions do not stop): the owner of a
/// file it creates.
#[cfg(unix)]
fn running_as_root(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let probe = dir.join("uid-probe");
    std::fs::write(&probe, b"").unwrap_or_else(|e| panic!("{e}"));
    let uid = std::fs::metadata(&probe).map_or(1, |m| m.uid());
    std::fs::remove_file(&probe).unwrap_or_else(|e| panic!("{e}"));
    uid == 0
}

/// A SQLite file its user may not write: read commands open it read-only and work, also in a
/// read-only directory (where SQLite cannot create its `-wal`/`-shm` files: the store reads the
/// file as immutable) and leave nothing there; writes fail in one line. As root, whom
/// permissions do not stop, the tool runs as `nobody` through `setpriv`.
#[cfg(unix)]
#[test]
fn read_commands_work_on_a_read_only_sqlite_file() {
    use std::os::unix::fs::PermissionsExt;
    let test = "read_commands_work_on_a_read_only_sqlite_file";
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = dir.path().join("ro");
    std::fs::create_dir(&d).unwrap_or_else(|e| panic!("{e}"));
    let root = running_as_root(dir.path());
    // The tool itself, not just `setpriv`: a checkout under a directory `nobody` may not enter
    // (say /root) leaves its binary out of that user's reach.
    let setpriv_works = || {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_mcp-kv"))
            .arg("--help")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if root && !setpriv_works() {
        return mcp_kv_core::testkit::announce_skip(
            test,
            "running as root, and setpriv cannot run the tool as nobody (no setpriv, or the \
             binary is in a directory nobody may not enter)",
        );
    }
    let unprivileged = |args: &[&str]| -> Output {
        let mut cmd = if root {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(env!("CARGO_BIN_EXE_mcp-kv"));
            c
        } else {
            Command::new(env!("CARGO_BIN_EXE_mcp-kv"))
        };
        cmd.current_dir(&d)
            .env_remove("MCP_KV_URL")
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("running mcp-kv: {e}"))
    };
    let chmod = |p: &Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()))
    };
    let url = "sqlite://s.db";
    ok(&mcp_kv(
        &d,
        &["--url", url, "put", "c", "k", "v", "--ttl", "1h"],
    ));
    ok(&mcp_kv(&d, &["--url", url, "put", "c", "k2", "w"]));
    chmod(dir.path(), 0o755);
    chmod(&d.join("s.db"), 0o444);
    for mode in [0o777, 0o555] {
        // Those a reader left behind would let the next one read even from a read-only
        // directory.
        for companion in ["s.db-wal", "s.db-shm"] {
            let _ = std::fs::remove_file(d.join(companion));
        }
        chmod(&d, mode);
        let read_only_dir = mode == 0o555;
        // Twice: the first run leaves `-wal`/`-shm` files (owned by that user) that the
        // second finds.
        for _ in 0..2 {
            for cmd in [
                &["get", "c", "k"][..],
                &["keys", "c"],
                &["collections"],
                &["ttl", "c", "k"],
                &["stats"],
            ] {
                let mut args = vec!["--url", url];
                args.extend(cmd);
                let out = unprivileged(&args);
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(out.status.success(), "{args:?} (dir {mode:o}): {err}");
            }
        }
        let get = |k: &str| {
            String::from_utf8_lossy(&unprivileged(&["--url", url, "get", "c", k]).stdout)
                .into_owned()
        };
        assert_eq!(get("k"), "v");
        assert_eq!(get("k2"), "w");
        let ttl = String::from_utf8_lossy(&unprivileged(&["--url", url, "ttl", "c", "k"]).stdout)
            .into_owned();
        assert!(ttl.trim_end().ends_with('s'), "{ttl}");
        let stats =
            String::from_utf8_lossy(&unprivileged(&["--url", url, "stats"]).stdout).into_owned();
        assert!(
            stats.starts_with("opened") && stats.contains("read-only"),
            "{stats}"
        );
        assert_eq!(
            String::from_utf8_lossy(&unprivileged(&["--url", url, "keys", "c"]).stdout),
            "k\nk2\n"
        );
        if read_only_dir {
            let mut names: Vec<_> = std::fs::read_dir(&d)
                .unwrap_or_else(|e| panic!("{e}"))
                .map(|e| e.map(|e| e.file_name()).unwrap_or_else(|e| panic!("{e}")))
                .collect();
            names.sort();
            assert_eq!(
                names,
                ["s.db"],
                "the readers left files in the read-only directory"
            );
        }
        for cmd in [&["put", "c", "k", "x"][..], &["delete", "c", "k"]] {
            let mut args = vec!["--url", url];
            args.extend(cmd);
            let out = unprivileged(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
            assert!(err.contains("read-only"), "{args:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        }
    }
    chmod(&d, 0o755);
    chmod(&d.join("s.db"), 0o644);
    assert_eq!(ok(&mcp_kv(&d, &["--url", url, "get", "c", "k"])), "v");
}
