//! `rapport query --format csv|jsonl`: one part of an answer as records,
//! for spreadsheets and scripts.
//!
//! An answer has up to three shapes: values (one per group), a time series
//! (one point per group and step) and named tables. One export holds one of
//! them ([`Part`]). CSV and JSON Lines carry the same columns; in JSON Lines
//! numbers are numbers and missing values `null`.

use std::collections::BTreeSet;

use anyhow::bail;
use rapport::proto;
use serde_json::Value;

use super::present::{format_time, shown_interval, target_rule};

/// Which part of an answer to export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// One record per group.
    Values,
    /// One record per point of the time series.
    Series,
    /// The rows of the named table.
    Table(String),
}

impl Part {
    /// `values`, `series` or a table's name.
    pub fn parse(text: &str) -> Self {
        match text {
            "values" => Part::Values,
            "series" => Part::Series,
            name => Part::Table(name.to_owned()),
        }
    }
}

/// One cell of a record.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// Nothing (no data, no target).
    Empty,
    /// Text, or a time in RFC 3339.
    Text(String),
    /// A number.
    Number(f64),
    /// A count.
    Count(u64),
    /// Yes or no.
    Bool(bool),
}

/// Records with named columns.
#[derive(Debug, Default, PartialEq)]
pub struct Records {
    /// Column names, unique.
    pub columns: Vec<String>,
    /// One cell per column in each row.
    pub rows: Vec<Vec<Cell>>,
}

/// The records of `part` of `response`.
pub fn records(response: &proto::QueryResponse, part: &Part) -> anyhow::Result<Records> {
    match part {
        Part::Values => Ok(values(response)),
        Part::Series => {
            if response.groups.iter().all(|g| g.points.is_empty()) {
                bail!("the answer has no time series: ask for one with --step");
            }
            Ok(series(response))
        }
        Part::Table(name) => match response.tables.iter().find(|t| &t.name == name) {
            Some(table) => Ok(rows(table)),
            None => {
                let mut parts = vec!["values".to_owned()];
                if response.groups.iter().any(|g| !g.points.is_empty()) {
                    parts.push("series".to_owned());
                }
                parts.extend(response.tables.iter().map(|t| t.name.clone()));
                bail!("the answer has no part {name:?}; it has: {}", parts.join(", "))
            }
        },
    }
}

/// Label keys of the groups, sorted, and the column name of each: the key
/// itself unless another column already has that name.
fn label_columns(response: &proto::QueryResponse, taken: &[&str]) -> Vec<(String, String)> {
    let keys: BTreeSet<&String> = response.groups.iter().flat_map(|g| g.labels.keys()).collect();
    keys.into_iter()
        .map(|k| {
            let column = if taken.contains(&k.as_str()) { format!("label.{k}") } else { k.clone() };
            (k.clone(), column)
        })
        .collect()
}

const VALUE_COLUMNS: [&str; 7] =
    ["value", "n", "interval_method", "interval_low", "interval_high", "target", "target_met"];

/// One record per group: labels, value, n, the interval a table shows
/// (see [`shown_interval`]) with its method, the target and whether it is
/// met, then each detail.
fn values(response: &proto::QueryResponse) -> Records {
    let labels = label_columns(response, &VALUE_COLUMNS);
    let details: BTreeSet<&String> =
        response.groups.iter().filter_map(|g| g.value.as_ref()).flat_map(|v| v.details.keys()).collect();
    let mut columns: Vec<String> = labels.iter().map(|(_, c)| c.clone()).collect();
    columns.extend(VALUE_COLUMNS.iter().map(|c| (*c).to_owned()));
    for detail in &details {
        let name = if columns.contains(detail) { format!("detail.{detail}") } else { (*detail).clone() };
        columns.push(name);
    }
    let rows = response
        .groups
        .iter()
        .map(|group| {
            let value = group.value.clone().unwrap_or_default();
            let mut row = label_cells(group, &labels);
            row.extend(value_cells(&value));
            match &group.target {
                Some(target) => row.extend([Cell::Text(target_rule(target)), Cell::Bool(target.met)]),
                None => row.extend([Cell::Empty, Cell::Empty]),
            }
            for detail in &details {
                row.push(value.details.get(*detail).map_or(Cell::Empty, |d| Cell::Number(*d)));
            }
            row
        })
        .collect();
    Records { columns, rows }
}

fn label_cells(group: &proto::Group, labels: &[(String, String)]) -> Vec<Cell> {
    labels
        .iter()
        .map(|(key, _)| group.labels.get(key).map_or(Cell::Empty, |v| Cell::Text(v.clone())))
        .collect()
}

/// value, n, interval method, low and high.
fn value_cells(value: &proto::MetricValue) -> [Cell; 5] {
    let interval = shown_interval(value);
    [
        value.value.map_or(Cell::Empty, Cell::Number),
        Cell::Count(value.count),
        interval.map_or(Cell::Empty, |(i, _)| Cell::Text(i.method.clone())),
        interval.map_or(Cell::Empty, |(i, _)| Cell::Number(i.low)),
        interval.map_or(Cell::Empty, |(i, _)| Cell::Number(i.high)),
    ]
}

const SERIES_COLUMNS: [&str; 8] =
    ["start", "end", "value", "n", "interval_method", "interval_low", "interval_high", "partial"];

/// One record per point: labels, the span it covers, value, n, interval and
/// whether it is partial. A point ends where the next begins; the last one
/// at the window's end.
fn series(response: &proto::QueryResponse) -> Records {
    let labels = label_columns(response, &SERIES_COLUMNS);
    let mut columns: Vec<String> = labels.iter().map(|(_, c)| c.clone()).collect();
    columns.extend(SERIES_COLUMNS.iter().map(|c| (*c).to_owned()));
    let window_end = response.window.as_ref().and_then(|w| w.end.as_ref());
    let mut rows = Vec::new();
    for group in &response.groups {
        for (k, point) in group.points.iter().enumerate() {
            let value = point.value.clone().unwrap_or_default();
            let end = group.points.get(k + 1).and_then(|next| next.start.as_ref()).or(window_end);
            let mut row = label_cells(group, &labels);
            row.push(Cell::Text(format_time(point.start.as_ref())));
            row.push(end.map_or(Cell::Empty, |end| Cell::Text(format_time(Some(end)))));
            row.extend(value_cells(&value));
            row.push(Cell::Bool(point.partial));
            rows.push(row);
        }
    }
    Records { columns, rows }
}

/// The rows of an answer's table, columns named as the server names them.
fn rows(table: &proto::Table) -> Records {
    use proto::table_cell::Value as V;
    if (table.rows.len() as u64) < table.total_rows {
        eprintln!(
            "note: {} has {} rows; the answer holds the first {} (the server's group limit)",
            table.name,
            table.total_rows,
            table.rows.len()
        );
    }
    Records {
        columns: table.columns.iter().map(|c| c.name.clone()).collect(),
        rows: table
            .rows
            .iter()
            .map(|row| {
                row.cells
                    .iter()
                    .map(|cell| match &cell.value {
                        None => Cell::Empty,
                        Some(V::Text(text)) => Cell::Text(text.clone()),
                        Some(V::Number(number)) => Cell::Number(*number),
                        Some(V::Time(time)) => Cell::Text(format_time(Some(time))),
                    })
                    .collect()
            })
            .collect(),
    }
}

/// The records as CSV with a header row.
pub fn to_csv(records: &Records) -> anyhow::Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&records.columns)?;
    for row in &records.rows {
        writer.write_record(row.iter().map(|cell| match cell {
            Cell::Empty => String::new(),
            Cell::Text(text) => text.clone(),
            // Full precision: exports are read by programs.
            Cell::Number(number) => number.to_string(),
            Cell::Count(count) => count.to_string(),
            Cell::Bool(flag) => flag.to_string(),
        }))?;
    }
    Ok(String::from_utf8(writer.into_inner()?)?)
}

/// The records as JSON Lines: one object per row, keyed by column.
pub fn to_jsonl(records: &Records) -> String {
    let mut text = String::new();
    for row in &records.rows {
        let object: serde_json::Map<String, Value> = records
            .columns
            .iter()
            .zip(row)
            .map(|(column, cell)| {
                let value = match cell {
                    Cell::Empty => Value::Null,
                    Cell::Text(text) => Value::from(text.clone()),
                    Cell::Number(number) => Value::from(*number),
                    Cell::Count(count) => Value::from(*count),
                    Cell::Bool(flag) => Value::from(*flag),
                };
                (column.clone(), value)
            })
            .collect();
        text.push_str(&Value::Object(object).to_string());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(seconds: i64) -> Option<pbjson_types::Timestamp> {
        Some(pbjson_types::Timestamp { seconds, nanos: 0 })
    }

    fn value(v: Option<f64>, count: u64) -> Option<proto::MetricValue> {
        Some(proto::MetricValue {
            value: v,
            count,
            intervals: vec![proto::Interval {
                method: "wilson".into(),
                low: 40.0,
                high: 60.0,
                confidence: 0.95,
            }],
            details: [("top2".to_owned(), 50.0)].into(),
        })
    }

    /// CSAT by segment over [0, 2.5 days) with a 1-day step: the third point
    /// is partial.
    fn answer() -> proto::QueryResponse {
        let points = |partial_value| {
            vec![
                proto::Point { start: time(0), value: value(Some(50.0), 100), partial: false },
                proto::Point { start: time(86_400), value: value(None, 0), partial: false },
                proto::Point { start: time(172_800), value: value(partial_value, 4), partial: true },
            ]
        };
        proto::QueryResponse {
            metric: "csat".into(),
            window: Some(proto::TimeRange { start: time(0), end: time(216_000) }),
            groups: vec![
                proto::Group {
                    labels: [("segment".to_owned(), "smb, eu".to_owned())].into(),
                    value: value(Some(50.0), 104),
                    points: points(Some(75.0)),
                    target: Some(proto::TargetStatus {
                        direction: proto::TargetDirection::AtLeast.into(),
                        threshold: 95.0,
                        met: false,
                        crossed: false,
                    }),
                },
                proto::Group {
                    labels: Default::default(),
                    value: value(None, 0),
                    points: vec![],
                    target: None,
                },
            ],
            tables: vec![],
        }
    }

    #[test]
    fn values_export_one_row_per_group_with_target_and_details() -> anyhow::Result<()> {
        let csv = to_csv(&records(&answer(), &Part::Values)?)?;
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines,
            vec![
                "segment,value,n,interval_method,interval_low,interval_high,target,target_met,top2",
                "\"smb, eu\",50,104,wilson,40,60,>= 95,false,50",
                ",,0,wilson,40,60,,,50",
            ]
        );
        Ok(())
    }

    #[test]
    fn series_export_marks_the_partial_point_and_its_end() -> anyhow::Result<()> {
        let jsonl = to_jsonl(&records(&answer(), &Part::Series)?);
        let rows: Vec<Value> = jsonl.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0]["start"], "1970-01-01T00:00:00Z");
        assert_eq!(rows[0]["end"], "1970-01-02T00:00:00Z");
        assert_eq!(rows[0]["n"], 100);
        assert_eq!(rows[1]["value"], Value::Null);
        assert_eq!(rows[2]["end"], "1970-01-03T12:00:00Z", "the last point ends with the window");
        assert_eq!(
            (rows[2]["partial"].clone(), rows[0]["partial"].clone()),
            (Value::Bool(true), Value::Bool(false))
        );
        assert_eq!(rows[2]["segment"], "smb, eu");
        Ok(())
    }

    #[test]
    fn tables_export_by_name_and_unknown_parts_list_what_there_is() -> anyhow::Result<()> {
        use proto::table_cell::Value as V;
        let mut response = answer();
        response.tables.push(proto::Table {
            name: "inactive_accounts".into(),
            columns: vec![
                proto::TableColumn { name: "account".into(), unit: String::new() },
                proto::TableColumn { name: "days_since_usage".into(), unit: "days".into() },
                proto::TableColumn { name: "reason".into(), unit: String::new() },
            ],
            rows: vec![proto::TableRow {
                cells: vec![
                    proto::TableCell { value: Some(V::Text("acct-1".into())) },
                    proto::TableCell { value: Some(V::Number(63.25)) },
                    proto::TableCell { value: None },
                ],
            }],
            total_rows: 1,
        });
        let csv = to_csv(&records(&response, &Part::parse("inactive_accounts"))?)?;
        assert_eq!(csv, "account,days_since_usage,reason\nacct-1,63.25,\n");
        let error = records(&response, &Part::parse("cohorts")).err().map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("the answer has no part \"cohorts\"; it has: values, series, inactive_accounts")
        );
        response.groups.iter_mut().for_each(|g| g.points.clear());
        assert!(records(&response, &Part::Series).is_err());
        Ok(())
    }
}
