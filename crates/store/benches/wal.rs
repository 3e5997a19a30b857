//! Append throughput of the write-ahead log per fsync policy.
//!
//! Each iteration queues 1,000 records of 80 bytes (as 1,000 concurrent appenders would) and
//! waits for every ack, so group commit is in play. Run with
//! `cargo bench -p rapport-store --bench wal`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::convert::Infallible;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rapport_store::{FsyncPolicy, Store, StoreOptions};

const BATCH: usize = 1_000;
const RECORD: usize = 80;

fn append_batches(c: &mut Criterion) {
    let mut group = c.benchmark_group("wal_append_1000x80B");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    let policies = [
        ("always", FsyncPolicy::Always),
        ("interval_10ms", FsyncPolicy::Interval(Duration::from_millis(10))),
        ("never", FsyncPolicy::Never),
    ];
    for (name, fsync) in policies {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions { fsync, ..StoreOptions::default() };
        let (store, _) =
            Store::recover(dir.path(), options).unwrap().replay(|_, _| Ok::<(), Infallible>(())).unwrap();
        let record = vec![7u8; RECORD];
        group.bench_function(BenchmarkId::new("records", name), |b| {
            b.iter(|| {
                let acks: Vec<_> = (0..BATCH).map(|_| store.append(record.clone())).collect();
                for ack in acks {
                    ack.wait_blocking().unwrap();
                }
            })
        });
        let batch = vec![7u8; RECORD * BATCH];
        group.bench_function(BenchmarkId::new("one_record_per_batch", name), |b| {
            b.iter(|| store.append(batch.clone()).wait_blocking().unwrap())
        });
        let stats = store.stats();
        eprintln!("{name}: {} records in {} groups, {} fsyncs", stats.records, stats.groups, stats.fsyncs);
    }
    group.finish();
}

/// Start-up cost: recovering a log of 200 records of 80 KB each (200,000 events of 80 bytes).
fn replay(c: &mut Criterion) {
    let mut group = c.benchmark_group("wal_replay_200x80KB");
    group.throughput(Throughput::Elements((200 * BATCH) as u64));
    group.sample_size(10);
    let dir = tempfile::tempdir().unwrap();
    let options = || StoreOptions { fsync: FsyncPolicy::Never, ..StoreOptions::default() };
    {
        let (store, _) =
            Store::recover(dir.path(), options()).unwrap().replay(|_, _| Ok::<(), Infallible>(())).unwrap();
        let batch = vec![7u8; RECORD * BATCH];
        for _ in 0..200 {
            store.append(batch.clone()).wait_blocking().unwrap();
        }
    }
    group.bench_function("recover_and_replay", |b| {
        b.iter(|| {
            let mut bytes = 0usize;
            let (_store, report) = Store::recover(dir.path(), options())
                .unwrap()
                .replay(|_, payload| {
                    bytes += payload.len();
                    Ok::<(), Infallible>(())
                })
                .unwrap();
            assert_eq!((report.records_replayed, bytes), (200, 200 * RECORD * BATCH));
        })
    });
    group.finish();
}

criterion_group!(benches, append_batches, replay);
criterion_main!(benches);
