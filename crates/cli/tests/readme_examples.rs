//! Every `rapport` example of the README's CLI section, run against
//! `rapport demo --serve` (the real binary, default data set), each checked
//! to answer with data. The README promises it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// The README's CLI examples (without their comments) and its sample JSON
/// line for `ingest`.
fn readme_examples() -> (Vec<Vec<String>>, String) {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let readme = std::fs::read_to_string(readme).expect("reads README.md");
    let section = readme.split("\n## CLI\n").nth(1).expect("a CLI section");
    let block = |fence: &str| -> String {
        let start = section.find(fence).unwrap_or_else(|| panic!("a {fence} block")) + fence.len();
        section[start..].split("\n```").next().unwrap_or_default().to_owned()
    };
    let examples = block("```sh\n")
        .lines()
        .map(|line| line.split(" #").next().unwrap_or_default().trim())
        .filter(|line| !line.is_empty())
        .map(|line| {
            assert!(!line.contains(['\'', '"']), "the test splits examples at spaces: {line}");
            line.split_whitespace().map(str::to_owned).collect::<Vec<String>>()
        })
        .collect();
    (examples, block("```json\n"))
}

/// A child process killed when the test ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The lines a child writes to stdout, as they come.
fn lines_of(child: &mut Child) -> Receiver<String> {
    let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Waits (up to `seconds`) for a line containing `needle`; returns every
/// line read until then.
fn wait_for(lines: &Receiver<String>, needle: &str, seconds: u64) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut seen = Vec::new();
    while let Ok(line) = lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        let found = line.contains(needle);
        seen.push(line);
        if found {
            return seen;
        }
    }
    panic!("{needle:?} never printed; got {seen:?}");
}

/// Whether a query answer in JSON holds data for the question `args`
/// asked: with `--group-by K`, a group that has K and a value; with
/// `--step`, a point with a value; else a group with a value or a table with
/// rows.
fn has_data(json: &serde_json::Value, args: &[String]) -> bool {
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1));
    let groups: Vec<&serde_json::Value> = json["groups"].as_array().into_iter().flatten().collect();
    let valued = |v: &serde_json::Value| v["value"].get("value").is_some();
    let grouped = match flag("--group-by") {
        Some(key) => groups.iter().any(|g| g["labels"].get(key).is_some() && valued(g)),
        None => groups.iter().any(|g| valued(g)),
    };
    let stepped = match flag("--step") {
        Some(_) => groups.iter().flat_map(|g| g["points"].as_array().into_iter().flatten()).any(valued),
        None => true,
    };
    let tables = json["tables"].as_array().into_iter().flatten();
    (grouped && stepped) || tables.clone().any(|t| t["rows"].as_array().is_some_and(|r| !r.is_empty()))
}

#[test]
fn every_readme_cli_example_answers_with_data_from_the_demo() {
    let (examples, sample) = readme_examples();
    let bin = env!("CARGO_BIN_EXE_rapport");
    let work = tempfile::tempdir().unwrap();

    let mut demo = Running(
        Command::new(bin)
            .args(["demo", "--serve"])
            .current_dir(work.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("runs rapport demo --serve"),
    );
    let demo_lines = lines_of(&mut demo.0);
    let ready = wait_for(&demo_lines, "server keeps running on", 600);
    let url = ready.last().and_then(|l| l.split_whitespace().find(|w| w.starts_with("http://"))).unwrap();
    // host:port, as a user copies it from --listen: no scheme.
    let addr = url.trim_end_matches(';').trim_start_matches("http://").to_owned();

    // `ingest responses.jsonl` reads the README's sample line, moved to an
    // hour ago (its date would otherwise leave the retention one day).
    let an_hour_ago =
        humantime::format_rfc3339_seconds(std::time::SystemTime::now() - Duration::from_secs(3600));
    let sample = sample.replace("2026-11-01T10:00:00Z", &an_hour_ago.to_string());
    std::fs::write(work.path().join("responses.jsonl"), format!("{sample}\n")).unwrap();

    let rapport = |args: &[String]| {
        Command::new(bin).args(args).env("RAPPORT_ADDR", &addr).current_dir(work.path()).output().unwrap()
    };
    let mut ran = Vec::new();
    for example in &examples {
        assert_eq!(example[0], "rapport", "{example:?}");
        let args = &example[1..];
        let shown = example.join(" ");
        match args[0].as_str() {
            // The server the others run against, and the load generators,
            // which start servers of their own (tests/bench_smoke.rs).
            "demo" | "bench" => continue,
            "watch" => {
                let mut watch = Running(
                    Command::new(bin)
                        .args(args)
                        .env("RAPPORT_ADDR", &addr)
                        .stdout(Stdio::piped())
                        .stderr(Stdio::null())
                        .spawn()
                        .unwrap(),
                );
                let lines = wait_for(&lines_of(&mut watch.0), "update #1", 60);
                assert!(
                    lines.iter().any(|l| l.contains("enterprise") && l.contains(" .. ")),
                    "{shown}: {lines:?}"
                );
                assert!(!lines.iter().any(|l| l.contains("no data")), "{shown}: {lines:?}");
            }
            command => {
                let out = rapport(args);
                let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
                assert!(out.status.success(), "{shown}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
                assert!(!stdout.trim().is_empty(), "{shown} printed nothing");
                match command {
                    "ingest" => assert!(stdout.contains("1 accepted, 0 duplicates, 0 rejected"), "{stdout}"),
                    "metrics" => assert!(stdout.contains("cohort_nps"), "{stdout}"),
                    // The demo's low-score comments, from smb.
                    "feedback" => {
                        assert!(stdout.contains("the payout took"), "{stdout}");
                        assert!(
                            stdout.contains("segment=smb") && !stdout.contains("segment=enterprise"),
                            "{stdout}"
                        );
                    }
                    "query" => {
                        if args.iter().any(|a| a == "csv" || a == "jsonl") {
                            // A header (CSV) and at least one record.
                            let header = usize::from(args.iter().any(|a| a == "csv"));
                            assert!(stdout.lines().count() > header, "{shown}: {stdout}");
                        }
                        // The same question as JSON, to see what it holds.
                        let mut question: Vec<String> = Vec::new();
                        let mut rest = args.iter();
                        while let Some(arg) = rest.next() {
                            match arg.as_str() {
                                "--format" | "--export" => {
                                    rest.next();
                                }
                                "--json" => {}
                                _ => question.push(arg.clone()),
                            }
                        }
                        question.push("--json".to_owned());
                        let json = String::from_utf8_lossy(&rapport(&question).stdout).into_owned();
                        let json: serde_json::Value =
                            serde_json::from_str(&json).expect("--json prints JSON");
                        assert!(has_data(&json, args), "{shown} answered without data: {json}");
                    }
                    other => panic!("no check for `rapport {other}`: add one"),
                }
            }
        }
        ran.push(shown);
    }
    // The README lists these: none may go unchecked without this test noticing.
    assert!(ran.len() >= 12, "{ran:#?}");
    assert!(ran.iter().any(|e| e.contains("cohort_nps --window 90d --group-by plan")), "{ran:#?}");
    assert!(ran.iter().any(|e| e.contains("--step 7d")), "{ran:#?}");

    // Ctrl-C stops the demo server cleanly.
    let pid = i32::try_from(demo.0.id()).unwrap();
    // SAFETY: kill(2) on our own child's pid has no memory effects.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = demo.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the demo did not stop on Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
}
