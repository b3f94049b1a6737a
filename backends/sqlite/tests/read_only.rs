//! `SqliteStoreBuilder::read_only`: a database written by the normal store, closed, then read
//! through the read-only store — with the flags alone on a writable file (which must not change),
//! from a 0444 file, and from a 0555 directory where SQLite cannot create `-wal`/`-shm` (the
//! store then reads the file as immutable). Root ignores permissions: as root the permission
//! cases run in this test binary re-invoked as `nobody` through `setpriv`.
#![cfg(unix)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use mcp_kv_core::{ErrorKind, KvStore};
use mcp_kv_sqlite::SqliteStore;

const CHILD_ENV: &str = "MCP_KV_SQLITE_RO_CHILD";
const PATH_ENV: &str = "MCP_KV_SQLITE_RO_PATH";

/// 25 keys in `c` (paged by 10), one with a TTL, one in `other`.
async fn fill(path: &Path) {
    let store = SqliteStore::open(path).unwrap();
    for i in 0..25 {
        store
            .put("c", &format!("k{i:02}"), Bytes::from(format!("v{i}")), None)
            .await
            .unwrap();
    }
    store
        .put(
            "c",
            "ttl",
            Bytes::from_static(b"t"),
            Some(Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    store
        .put("other", "x", Bytes::from_static(b"y"), None)
        .await
        .unwrap();
    store.close().await.unwrap();
}

fn read_only(path: &Path) -> mcp_kv_core::Result<SqliteStore> {
    SqliteStore::builder().path(path).read_only(true).build()
}

/// Everything `fill` wrote reads back; every write is refused with `ReadOnly` at once.
async fn check_reads_and_refusals(store: &SqliteStore) {
    let mut keys = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = store.keys("c", cursor, 10).await.unwrap();
        pages += 1;
        keys.extend(page.keys);
        match page.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut want: Vec<String> = (0..25).map(|i| format!("k{i:02}")).collect();
    want.push("ttl".into());
    assert_eq!(keys, want);
    for i in 0..25 {
        let v = store.get("c", &format!("k{i:02}")).await.unwrap();
        assert_eq!(v, Some(Bytes::from(format!("v{i}"))));
    }
    let many = store.get_many("c", &["k00", "nope", "k24"]).await.unwrap();
    assert_eq!(many[0], Some(Bytes::from_static(b"v0")));
    assert_eq!(many[1], None);
    let entry = store.get_entry("c", "ttl").await.unwrap().unwrap();
    let ttl = entry.ttl.unwrap();
    assert!(
        ttl <= Duration::from_secs(3600) && ttl > Duration::from_secs(3000),
        "{ttl:?}"
    );
    assert_eq!(
        store.get_entry("c", "k00").await.unwrap().unwrap().ttl,
        None
    );
    assert_eq!(store.collections().await.unwrap(), vec!["c", "other"]);

    let caps = store.capabilities();
    assert!(caps.enumerate && caps.persistent);
    assert!(!caps.put_if_absent && !caps.take && !caps.compare_and_swap && !caps.touch);

    let v = || Bytes::from_static(b"w");
    let refused = [
        store.put("c", "k00", v(), None).await.err(),
        store.delete("c", "k00").await.err(),
        store
            .put_many("c", vec![("n".into(), v())], None)
            .await
            .err(),
        store.put_many("c", Vec::new(), None).await.err(),
        store.delete_many("c", &["k00"]).await.err(),
        store.put_if_absent("c", "new", v(), None).await.err(),
        store.take("c", "k00").await.err(),
        store
            .compare_and_swap("c", "k00", Some(b"v0"), Some(v()), None)
            .await
            .err(),
        store
            .touch("c", "k00", Some(Duration::from_secs(5)))
            .await
            .err(),
        store.clear("c").await.err(),
        store.cull().await.err(),
    ];
    for (i, err) in refused.into_iter().enumerate() {
        let err = err.unwrap_or_else(|| panic!("write #{i} was not refused"));
        assert_eq!(err.kind(), ErrorKind::ReadOnly, "#{i}: {err}");
        assert!(!err.is_temporary(), "#{i}: {err}");
    }
    // Nothing changed.
    assert_eq!(
        store.get("c", "k00").await.unwrap(),
        Some(Bytes::from_static(b"v0"))
    );
}

/// What the re-invoked child (or, when not root, this process) expects of the file at `path`.
async fn child_checks(path: &Path, expect: &str) {
    match expect {
        "immutable" | "wal" | "wal-commit" => {
            let store = read_only(path).unwrap_or_else(|e| panic!("{expect}: {e}"));
            assert_eq!(store.is_immutable(), expect == "immutable");
            check_reads_and_refusals(&store).await;
            if expect == "wal-commit" {
                // The commit still in the -wal is seen.
                assert_eq!(
                    store.get("other", "in-wal").await.unwrap(),
                    Some(Bytes::from_static(b"w"))
                );
            }
            store.close().await.unwrap();
        }
        "pending-wal" => {
            let err = read_only(path).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{err}");
            assert!(err.to_string().contains("-wal"), "{err}");
        }
        "unreadable" => {
            let err = read_only(path).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{err}");
            assert!(err.to_string().contains("cannot read"), "{err}");
        }
        other => panic!("unknown expectation {other}"),
    }
}

/// The child: runs `child_checks` when re-invoked by `run_unprivileged`.
#[tokio::test]
async fn read_only_child() {
    let Ok(expect) = std::env::var(CHILD_ENV) else {
        return;
    };
    child_checks(Path::new(&std::env::var(PATH_ENV).unwrap()), &expect).await;
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", p.display()));
}

/// Runs `child_checks(path, expect)` as a user whom permissions stop: this process when not
/// root, else this binary re-invoked as `nobody` (uid 65534) through `setpriv`. `false` when
/// that is impossible (announced by the caller).
async fn run_unprivileged(path: &Path, expect: &str) -> bool {
    if !is_root() {
        child_checks(path, expect).await;
        return true;
    }
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&exe)
        .args([
            "read_only_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, expect)
        .env(PATH_ENV, path)
        .output();
    let Ok(out) = out else {
        return false;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && stderr.contains("Permission denied") && !stdout.contains("test ") {
        return false; // the binary is out of nobody's reach
    }
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child ({expect}) failed:\n{stdout}\n{stderr}"
    );
    true
}

/// A directory `nobody` may enter, holding `sub/` for the database.
fn world_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    chmod(dir.path(), 0o755);
    let sub = dir.path().join("db");
    std::fs::create_dir(&sub).unwrap();
    (dir, sub)
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The flags alone (a file and directory this process may write): reads work, writes are
/// refused, and the database file is not written — same bytes, same mtime. SQLite's read-only
/// open of a WAL file in a writable directory may create the `-wal`/`-shm` files it reads
/// through; the `-wal` stays empty.
#[tokio::test]
async fn read_only_flags_never_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    fill(&path).await;
    assert_eq!(listing(dir.path()), vec!["s.db"]);
    let before = std::fs::read(&path).unwrap();
    let mtime = std::fs::metadata(&path).unwrap().mtime_nsec();
    let mtime_s = std::fs::metadata(&path).unwrap().mtime();
    std::thread::sleep(Duration::from_millis(20));

    let store = SqliteStore::builder()
        .path(&path)
        .read_only(true)
        .readers(2)
        .build()
        .unwrap();
    assert!(!store.is_immutable());
    check_reads_and_refusals(&store).await;
    store.close().await.unwrap();
    // Twice: the second open finds what the first left.
    let store = read_only(&path).unwrap();
    check_reads_and_refusals(&store).await;
    store.close().await.unwrap();

    assert_eq!(std::fs::read(&path).unwrap(), before, "the file changed");
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!((meta.mtime(), meta.mtime_nsec()), (mtime_s, mtime));
    for name in listing(dir.path()) {
        assert!(
            ["s.db", "s.db-wal", "s.db-shm"].contains(&name.as_str()),
            "{name}"
        );
    }
    let wal = dir.path().join("s.db-wal");
    if wal.exists() {
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0, "the -wal grew");
    }
    // The normal store still opens and writes it.
    let store = SqliteStore::open(&path).unwrap();
    store
        .put("c", "after", Bytes::from_static(b"1"), None)
        .await
        .unwrap();
    store.close().await.unwrap();
}

/// A 0444 file in a writable directory, then in a 0555 directory (no `-wal`/`-shm` can be
/// created: read as immutable), read by a user whom the permissions stop.
#[tokio::test]
async fn read_only_file_and_directory() {
    let test = "read_only_file_and_directory";
    let (_dir, d) = world_dir();
    let path = d.join("s.db");
    fill(&path).await;
    chmod(&path, 0o444);

    chmod(&d, 0o777);
    if !run_unprivileged(&path, "wal").await {
        return mcp_kv_core::testkit::announce_skip(
            test,
            "running as root and setpriv cannot run this test binary as nobody",
        );
    }
    // What that reader left (`-wal`/`-shm` owned by it) would let the next one read in WAL
    // mode even from a read-only directory: remove them.
    for companion in ["s.db-wal", "s.db-shm"] {
        let _ = std::fs::remove_file(d.join(companion));
    }
    chmod(&d, 0o555);
    assert!(run_unprivileged(&path, "immutable").await);
    chmod(&d, 0o755);
    assert_eq!(listing(&d), vec!["s.db"], "the immutable reader left files");
    // A file the user may not read at all.
    chmod(&path, 0o000);
    assert!(run_unprivileged(&path, "unreadable").await);
    chmod(&path, 0o644);
}

/// A read-only directory holding the file and a `-wal` with commits not in it (a writer that
/// did not close): with the `-shm` beside them SQLite reads both (the commit in the WAL is
/// seen); without it the store refuses rather than show the older state.
#[tokio::test]
async fn pending_wal_in_a_read_only_directory() {
    let test = "pending_wal_in_a_read_only_directory";
    let (_dir, d) = world_dir();
    let live = d.join("live");
    std::fs::create_dir(&live).unwrap();
    let src = live.join("s.db");
    fill(&src).await;
    // A writer that commits into the WAL and never checkpoints, left open while we copy.
    let raw = rusqlite::Connection::open(&src).unwrap();
    raw.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    raw.execute(
        "INSERT INTO mcp_kv (collection, key, value, expires_at) VALUES ('other', 'in-wal', \
         X'77', NULL)",
        [],
    )
    .unwrap();
    assert!(std::fs::metadata(live.join("s.db-wal")).unwrap().len() > 0);

    let with_shm = d.join("with-shm");
    let without_shm = d.join("without-shm");
    for (dest, files) in [
        (&with_shm, &["s.db", "s.db-wal", "s.db-shm"][..]),
        (&without_shm, &["s.db", "s.db-wal"][..]),
    ] {
        std::fs::create_dir(dest).unwrap();
        for f in files {
            std::fs::copy(live.join(f), dest.join(f)).unwrap();
            chmod(&dest.join(f), 0o444);
        }
        chmod(dest, 0o555);
    }
    drop(raw);

    if !run_unprivileged(&with_shm.join("s.db"), "wal-commit").await {
        return mcp_kv_core::testkit::announce_skip(
            test,
            "running as root and setpriv cannot run this test binary as nobody",
        );
    }
    assert!(run_unprivileged(&without_shm.join("s.db"), "pending-wal").await);
    for dest in [&with_shm, &without_shm] {
        chmod(dest, 0o755);
    }
    assert_eq!(listing(&without_shm), vec!["s.db", "s.db-wal"]);
}

#[tokio::test]
async fn a_missing_file_is_refused_and_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.db");
    let err = read_only(&path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(err.to_string().contains("does not create"), "{err}");
    assert!(listing(dir.path()).is_empty());
    // A missing directory is the same kind.
    let err = read_only(&dir.path().join("no/such.db")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
}

#[tokio::test]
async fn files_without_our_table_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = |path: &Path, table: &str, what: &str| {
        let err = SqliteStore::builder()
            .path(path)
            .table(table)
            .read_only(true)
            .build()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{what}: {err}");
        err.to_string()
    };
    // Another application's database.
    let foreign = dir.path().join("foreign.db");
    let raw = rusqlite::Connection::open(&foreign).unwrap();
    raw.execute_batch("CREATE TABLE notes (body TEXT)").unwrap();
    drop(raw);
    let msg = config(&foreign, "mcp_kv", "foreign");
    assert!(msg.contains("mcp_kv_schema"), "{msg}");
    // An empty file is an empty database: no table either.
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    config(&empty, "mcp_kv", "empty");
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0);
    // Our file, another table name.
    let ours = dir.path().join("ours.db");
    fill(&ours).await;
    let msg = config(&ours, "sessions", "other table");
    assert!(msg.contains("sessions"), "{msg}");
    // A newer schema.
    let newer = dir.path().join("newer.db");
    std::fs::copy(&ours, &newer).unwrap();
    let raw = rusqlite::Connection::open(&newer).unwrap();
    raw.execute("UPDATE mcp_kv_schema SET version = 99", [])
        .unwrap();
    drop(raw);
    let msg = config(&newer, "mcp_kv", "newer");
    assert!(msg.contains("newer"), "{msg}");
    // Not a database at all.
    let text = dir.path().join("text.db");
    std::fs::write(&text, vec![b'x'; 4096]).unwrap();
    let err = read_only(&text).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupted, "{err}");
}

#[test]
fn read_only_memory_and_sweeper_are_config_errors() {
    let err = SqliteStore::builder()
        .memory()
        .read_only(true)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    let err = SqliteStore::builder()
        .path("/tmp/x.db")
        .read_only(true)
        .sweep_interval(Duration::from_secs(1))
        .config()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
}
