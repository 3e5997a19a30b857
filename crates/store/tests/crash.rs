//! Real crashes: a child process appends from several threads with tiny segments (so kills
//! land in rotations and seals too) and is SIGKILLed at a random point; the reopened log must
//! open without a refusal and hold every record the child was told was acknowledged. Under
//! every fsync policy, since a process crash keeps the page cache.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use rapport_store::{FsyncPolicy, Store, StoreOptions};

const CHILD_ENV: &str = "RAPPORT_STORE_CRASH_CHILD_DIR";
const POLICY_ENV: &str = "RAPPORT_STORE_CRASH_POLICY";

fn options(policy: &str) -> StoreOptions {
    let fsync = match policy {
        "always" => FsyncPolicy::Always,
        "interval" => FsyncPolicy::Interval(Duration::from_millis(5)),
        _ => FsyncPolicy::Never,
    };
    StoreOptions { fsync, segment_bytes: 2048, ..StoreOptions::default() }
}

/// In the child: appends `payload(lsn)`-shaped records from four threads forever, printing
/// each acknowledged LSN. A record's content is only known once its LSN is, so each thread
/// appends a payload naming the thread and a counter, and prints both.
fn child(dir: &str, policy: &str) {
    let (store, _) = Store::recover(dir, options(policy))
        .unwrap()
        .replay(|_, _| Ok::<(), std::convert::Infallible>(()))
        .unwrap();
    let store = Arc::new(store);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for i in 0u64.. {
                    let body = format!("thread {t} item {i} {}", "y".repeat((i % 50) as usize));
                    let lsn = store.append(body.clone().into_bytes()).wait_blocking().unwrap();
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ACK {lsn} {body}").unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
}

#[test]
fn sigkill_at_random_points_never_refuses_and_never_loses_an_acknowledged_record() {
    if let (Ok(dir), Ok(policy)) = (std::env::var(CHILD_ENV), std::env::var(POLICY_ENV)) {
        child(&dir, &policy);
        return;
    }
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for policy in ["always", "interval", "never"] {
        let dir = tempfile::tempdir().unwrap();
        let mut acked = std::collections::BTreeMap::new();
        for round in 0..6 {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "sigkill_at_random_points_never_refuses_and_never_loses_an_acknowledged_record",
                ])
                .args(["--nocapture", "--test-threads", "1"])
                .env(CHILD_ENV, dir.path())
                .env(POLICY_ENV, policy)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let stdout = BufReader::new(child.stdout.take().unwrap());
            let kill_after = 20 + next() % 400;
            let mut seen = 0;
            for line in stdout.lines() {
                let line = line.unwrap();
                let Some(rest) = line.strip_prefix("ACK ") else { continue };
                let (lsn, body) = rest.split_once(' ').unwrap();
                acked.insert(lsn.parse::<u64>().unwrap(), body.to_owned());
                seen += 1;
                if seen == kill_after {
                    child.kill().unwrap();
                    break;
                }
            }
            child.wait().unwrap();

            let opened = open(dir.path(), options(policy))
                .unwrap_or_else(|e| panic!("{policy}, round {round}: refused after a plain SIGKILL: {e}"));
            assert!(
                opened.report.repaired.is_empty() && opened.report.skipped.is_empty(),
                "{policy}: {:?}",
                opened.report
            );
            let replayed: std::collections::BTreeMap<u64, String> = opened
                .records
                .iter()
                .map(|(lsn, body)| (*lsn, String::from_utf8(body.clone()).unwrap()))
                .collect();
            let lsns: Vec<u64> = replayed.keys().copied().collect();
            assert_eq!(lsns, (1..=lsns.len() as u64).collect::<Vec<_>>(), "{policy}: LSNs without gaps");
            for (lsn, body) in &acked {
                assert_eq!(
                    replayed.get(lsn),
                    Some(body),
                    "{policy}, round {round}: acknowledged record {lsn}"
                );
            }
            // What was replayed but never acknowledged counts from now on, as after any crash.
            acked = replayed;
            assert!(segments(dir.path()).len() > 1 || round == 0, "segments rotate");
        }
    }
}
