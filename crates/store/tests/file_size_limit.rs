//! A real kernel write failure: the log under `RLIMIT_FSIZE`, in a child process so the limit
//! touches nothing else. Writes past the limit fail with `EFBIG`, which the store reports as
//! disk full; the half-written group must be rolled back and never acknowledged.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::process::Command;

use rapport_store::{Lsn, Store, StoreOptions};

const CHILD_ENV: &str = "RAPPORT_STORE_FSIZE_CHILD_DIR";
const LIMIT: u64 = 32 * 1024;
const RECORD: usize = 1000;

fn open(dir: &std::path::Path) -> (Store, Vec<(Lsn, Vec<u8>)>) {
    let mut records = Vec::new();
    let (store, _) = Store::recover(dir, StoreOptions::default())
        .unwrap()
        .replay(|lsn, payload| {
            records.push((lsn, payload.to_vec()));
            Ok::<(), Infallible>(())
        })
        .unwrap();
    (store, records)
}

fn record(i: u64) -> Vec<u8> {
    vec![i as u8; RECORD]
}

/// In the child: appends 1,000-byte records until the limit stops one, then a small one that
/// still fits, and prints what happened.
fn child(dir: &str) {
    // SAFETY: plain libc calls with valid arguments, made before any other thread writes.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let limit = libc::rlimit { rlim_cur: LIMIT, rlim_max: LIMIT };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
    let (store, _) = open(std::path::Path::new(dir));
    let mut acked = 0;
    for i in 1..=100 {
        match store.append(record(i)).wait_blocking() {
            Ok(lsn) => {
                assert_eq!(lsn, i);
                acked = i;
            }
            Err(err) => {
                println!("FAILED lsn={i} disk_full={} {err}", err.is_disk_full());
                break;
            }
        }
    }
    let small = store.append(vec![0xAB; 100]).wait_blocking().unwrap();
    println!("ACKED {acked} SMALL {small}");
}

#[test]
fn a_real_file_size_limit_gives_disk_full_errors_and_no_acks() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "a_real_file_size_limit_gives_disk_full_errors_and_no_acks", "--nocapture"])
        .env(CHILD_ENV, dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "child failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));

    // 32 records of 1,016 bytes fit in 32 KiB; the 33rd is cut short by the kernel.
    assert!(stdout.contains("FAILED lsn=33 disk_full=true"), "{stdout}");
    assert!(stdout.contains("ACKED 32 SMALL 33"), "{stdout}");

    let (store, records) = open(dir.path());
    let mut expected: Vec<(Lsn, Vec<u8>)> = (1..=32).map(|i| (i, record(i))).collect();
    expected.push((33, vec![0xAB; 100]));
    assert_eq!(records, expected, "exactly the acknowledged records, nothing of the failed one");
    assert_eq!(store.append(b"after".to_vec()).wait_blocking().unwrap(), 34);
}
