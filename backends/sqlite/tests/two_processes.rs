//! Two processes (this test binary re-invoked in "racer" mode) share one file and race
//! `put_if_absent` and `take` on one key per round: exactly one winner each time, 100 rounds.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use bytes::Bytes;
use mcp_kv_core::KvStore;
use mcp_kv_sqlite::SqliteStore;

const CHILD_ENV: &str = "MCP_KV_SQLITE_RACE_CHILD";
const PATH_ENV: &str = "MCP_KV_SQLITE_RACE_PATH";
const ROUNDS: usize = 100;

/// The child: for each `go <round>` line on stdin, races `put_if_absent` on `p<round>` and
/// `take` on `t<round>` (in an order that alternates between the two racers) and answers
/// `<round> <won put_if_absent> <took>`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn race_child() {
    let Ok(id) = std::env::var(CHILD_ENV) else {
        return; // Only runs when re-invoked by `two_processes_race_one_key`.
    };
    let store = SqliteStore::open(std::env::var(PATH_ENV).unwrap()).unwrap();
    let me = Bytes::from(id.clone());
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let line = line.unwrap();
        let Some(round) = line.strip_prefix("go ") else {
            break;
        };
        let (p, t) = (format!("p{round}"), format!("t{round}"));
        let take_first = (round.parse::<usize>().unwrap() + id.len()) % 2 == 0;
        let (won, took) = if take_first {
            let took = store.take("race", &t).await.unwrap();
            (
                store
                    .put_if_absent("race", &p, me.clone(), None)
                    .await
                    .unwrap(),
                took,
            )
        } else {
            let won = store
                .put_if_absent("race", &p, me.clone(), None)
                .await
                .unwrap();
            (won, store.take("race", &t).await.unwrap())
        };
        println!("RACE {round} {won} {}", took.is_some());
        std::io::stdout().flush().unwrap();
    }
    store.close().await.unwrap();
}

struct Racer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Racer {
    fn spawn(id: &str, path: &std::path::Path) -> Racer {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "race_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, id)
            .env(PATH_ENV, path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Racer {
            child,
            stdin,
            stdout,
        }
    }

    fn answer(&mut self, round: usize) -> (bool, bool) {
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                self.stdout.read_line(&mut line).unwrap() > 0,
                "racer exited"
            );
            // libtest prints "test race_child ... " without a newline before our first line.
            let Some(at) = line.find("RACE ") else {
                continue;
            };
            let parts: Vec<&str> = line[at..].split_whitespace().collect();
            if parts.len() == 4 && parts[1] == round.to_string() {
                return (parts[2] == "true", parts[3] == "true");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_race_one_key() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.db");
    let store = SqliteStore::open(&path).unwrap();
    let mut racers = [Racer::spawn("a", &path), Racer::spawn("bb", &path)];
    let started = std::time::Instant::now();
    let (mut a_won_pia, mut a_took) = (0, 0);
    for round in 0..ROUNDS {
        store
            .put(
                "race",
                &format!("t{round}"),
                Bytes::from_static(b"prize"),
                None,
            )
            .await
            .unwrap();
        // Both racers get the signal back to back and race on the file.
        for r in racers.iter_mut() {
            writeln!(r.stdin, "go {round}").unwrap();
            r.stdin.flush().unwrap();
        }
        let answers: Vec<(bool, bool)> = racers.iter_mut().map(|r| r.answer(round)).collect();
        let pia_wins = answers.iter().filter(|a| a.0).count();
        let takes = answers.iter().filter(|a| a.1).count();
        assert_eq!(
            pia_wins, 1,
            "round {round}: put_if_absent winners {answers:?}"
        );
        assert_eq!(takes, 1, "round {round}: take winners {answers:?}");
        let winner = if answers[0].0 { "a" } else { "bb" };
        a_won_pia += usize::from(answers[0].0);
        a_took += usize::from(answers[0].1);
        assert_eq!(
            store.get("race", &format!("p{round}")).await.unwrap(),
            Some(Bytes::from(winner)),
            "round {round}: the stored value is the winner's"
        );
        assert_eq!(store.get("race", &format!("t{round}")).await.unwrap(), None);
    }
    eprintln!(
        "{ROUNDS} rounds in {:?}: process a won put_if_absent {a_won_pia} times and take \
         {a_took} times, process b {} and {}",
        started.elapsed(),
        ROUNDS - a_won_pia,
        ROUNDS - a_took
    );
    for mut r in racers {
        drop(r.stdin);
        assert!(r.child.wait().unwrap().success());
    }
    store.close().await.unwrap();
}
