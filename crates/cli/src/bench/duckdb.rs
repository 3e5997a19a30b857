//! The recomputation baseline: `scripts/duckdb_query.py` loads the events
//! the bench exported (CSV) into DuckDB and computes the same windowed,
//! grouped NPS, timing the query warm (median of several runs) apart from
//! the load.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// Where the script is unless `--duckdb-script` says otherwise: the source
/// tree this binary was built from.
pub const DEFAULT_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/duckdb_query.py");

/// What the script prints (JSON).
#[derive(Debug, Deserialize, Serialize)]
pub struct DuckDbAnswer {
    /// DuckDB version.
    pub duckdb_version: String,
    /// Rows loaded.
    pub rows: u64,
    /// Time to load the CSV files into a table, seconds.
    pub load_seconds: f64,
    /// Each timed run of the query, ms.
    pub query_ms_runs: Vec<f64>,
    /// Their median, ms.
    pub query_ms_median: f64,
    /// One entry per group, sorted by the group value.
    pub groups: Vec<DuckDbGroup>,
}

/// One group of the DuckDB answer.
#[derive(Debug, Deserialize, Serialize)]
pub struct DuckDbGroup {
    /// The group-by label's value ("" without group-by).
    pub group: String,
    /// Responses in the window.
    pub count: u64,
    /// NPS, percent promoters minus percent detractors.
    pub nps: f64,
}

/// Runs the script over `dir/*.csv` for `[start_ms, end_ms)`.
pub fn recompute(
    python: &str,
    script: &Path,
    dir: &Path,
    (start_ms, end_ms): (i64, i64),
    group_by: Option<&str>,
    runs: usize,
) -> anyhow::Result<DuckDbAnswer> {
    let csv_glob: PathBuf = dir.join("*.csv");
    let mut command = Command::new(python);
    command
        .arg(script)
        .arg("--csv")
        .arg(&csv_glob)
        .args(["--start-ms", &start_ms.to_string(), "--end-ms", &end_ms.to_string()])
        .args(["--runs", &runs.to_string()]);
    if let Some(label) = group_by {
        command.args(["--group-by", label]);
    }
    let output = command.output().with_context(|| format!("running {python} {}", script.display()))?;
    if !output.status.success() {
        bail!(
            "{} failed ({}): {}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    serde_json::from_slice(&output.stdout)
        .with_context(|| format!("reading the output of {}", script.display()))
}

/// Whether `python` can import duckdb (so the baseline can run).
pub fn available(python: &str) -> bool {
    Command::new(python)
        .args(["-c", "import duckdb"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
