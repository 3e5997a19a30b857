//! Human-readable output of the CLI.

use std::collections::BTreeSet;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use rapport::proto;

use super::ingest::IngestSummary;

fn table(header: Vec<String>) -> Table {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(header);
    table
}

/// A value with one decimal, or "no data".
pub fn format_value(value: &proto::MetricValue) -> String {
    value.value.map_or_else(|| "no data".to_owned(), trim_number)
}

fn format_interval(value: &proto::MetricValue) -> String {
    value.intervals.first().map_or_else(String::new, |i| format!("{:.1} .. {:.1}", i.low, i.high))
}

fn format_details(value: &proto::MetricValue) -> String {
    let mut details: Vec<_> = value.details.iter().collect();
    details.sort_by(|a, b| a.0.cmp(b.0));
    details.iter().map(|(k, v)| format!("{k}={}", trim_number(**v))).collect::<Vec<_>>().join(" ")
}

fn trim_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 { format!("{v:.0}") } else { format!("{v:.1}") }
}

fn format_time(t: Option<&pbjson_types::Timestamp>) -> String {
    t.and_then(|t| {
        let seconds = u64::try_from(t.seconds).ok()?;
        Some(
            humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds),
            )
            .to_string(),
        )
    })
    .unwrap_or_default()
}

/// Prints a query answer: one row per group, then any time series.
pub fn print_query(response: &proto::QueryResponse) {
    let window = response.window.as_ref();
    println!(
        "{} over {} .. {}",
        response.metric,
        format_time(window.and_then(|w| w.start.as_ref())),
        format_time(window.and_then(|w| w.end.as_ref()))
    );
    let keys: BTreeSet<&String> = response.groups.iter().flat_map(|g| g.labels.keys()).collect();
    let mut header: Vec<String> = keys.iter().map(|k| (*k).clone()).collect();
    header.extend(["value", "n", "95% interval", "details"].map(String::from));
    let mut rows = table(header);
    let label_cells = |group: &proto::Group| -> Vec<String> {
        keys.iter().map(|k| group.labels.get(*k).cloned().unwrap_or_default()).collect()
    };
    for group in &response.groups {
        let value = group.value.clone().unwrap_or_default();
        let mut row = label_cells(group);
        row.extend([
            format_value(&value),
            value.count.to_string(),
            format_interval(&value),
            format_details(&value),
        ]);
        rows.add_row(row);
    }
    println!("{rows}");
    if response.groups.iter().any(|g| !g.points.is_empty()) {
        let mut header = vec!["step start".to_owned()];
        header.extend(keys.iter().map(|k| (*k).clone()));
        header.extend(["value", "n"].map(String::from));
        let mut points = table(header);
        for group in &response.groups {
            for point in &group.points {
                let value = point.value.clone().unwrap_or_default();
                let mut row = vec![format_time(point.start.as_ref())];
                row.extend(label_cells(group));
                row.extend([format_value(&value), value.count.to_string()]);
                points.add_row(row);
            }
        }
        println!("{points}");
    }
    for answer_table in &response.tables {
        print_table(answer_table);
    }
}

/// Prints a table-shaped part of an answer (a cohort triangle, an account
/// list) under its name, with units in the header.
pub fn print_table(answer: &proto::Table) {
    println!("{}", table_text(answer));
}

/// The text `print_table` prints.
fn table_text(answer: &proto::Table) -> String {
    let header: Vec<String> = answer
        .columns
        .iter()
        .map(|c| match c.unit.as_str() {
            "" | "count" => c.name.clone(),
            "percent" => format!("{} %", c.name),
            unit => format!("{} ({unit})", c.name),
        })
        .collect();
    let mut rows = table(header);
    for row in &answer.rows {
        rows.add_row(row.cells.iter().map(format_cell).collect::<Vec<_>>());
    }
    let shown = answer.rows.len() as u64;
    let title = if shown < answer.total_rows {
        format!("{} (first {shown} of {} rows)", answer.name, answer.total_rows)
    } else {
        answer.name.clone()
    };
    format!("\n{title}\n{rows}")
}

fn format_cell(cell: &proto::TableCell) -> String {
    use proto::table_cell::Value;
    match &cell.value {
        None => String::new(),
        Some(Value::Text(text)) => text.clone(),
        Some(Value::Number(number)) => trim_number(*number),
        Some(Value::Time(time)) => format_time(Some(time)),
    }
}

/// Prints the metric list.
pub fn print_metrics(response: &proto::ListMetricsResponse) {
    let mut rows =
        table(["metric", "unit", "range", "group by", "source", "description"].map(String::from).to_vec());
    for m in &response.metrics {
        let bound = |b: Option<f64>| b.map_or_else(String::new, trim_number);
        rows.add_row(vec![
            m.name.clone(),
            m.unit.clone(),
            format!("{}..{}", bound(m.min), bound(m.max)),
            m.group_by.join(", "),
            m.source.clone(),
            m.description.clone(),
        ]);
    }
    println!("{rows}");
}

/// Prints what `rapport ingest` achieved; rejected events, and accepted
/// events a plugin refused, are named by the input line they came from.
pub fn print_ingest_summary(summary: &IngestSummary, lines: &[usize]) {
    let seconds = summary.elapsed.as_secs_f64().max(1e-9);
    let sent = summary.accepted + summary.duplicates + summary.rejections.len() as u64;
    println!(
        "sent {sent} events in {:.2}s ({:.0} events/s): {} accepted, {} duplicates, {} rejected",
        seconds,
        sent as f64 / seconds,
        summary.accepted,
        summary.duplicates,
        summary.rejections.len()
    );
    for (index, reason, message) in &summary.rejections {
        let line = lines.get(*index).copied().unwrap_or(index + 1);
        println!("  line {line}: {reason}: {message}");
    }
    if summary.refused == 0 {
        return;
    }
    println!("{} accepted events refused by a plugin (the other metrics counted them):", summary.refused);
    for (index, scorer, message) in &summary.refusals {
        let line = lines.get(*index).copied().unwrap_or(index + 1);
        println!("  line {line}: {scorer}: {message}");
    }
    if (summary.refusals.len() as u64) < summary.refused {
        println!("  ... and more: the server lists the first 10 refusals of each batch");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(value: proto::table_cell::Value) -> proto::TableCell {
        proto::TableCell { value: Some(value) }
    }

    #[test]
    fn tables_print_units_empty_cells_and_truncation() {
        use proto::table_cell::Value;
        let triangle = proto::Table {
            name: "cohort_logo_retention".into(),
            columns: vec![
                proto::TableColumn { name: "start_month".into(), unit: String::new() },
                proto::TableColumn { name: "accounts".into(), unit: "count".into() },
                proto::TableColumn { name: "m0".into(), unit: "percent".into() },
                proto::TableColumn { name: "m1".into(), unit: "percent".into() },
            ],
            rows: vec![proto::TableRow {
                cells: vec![
                    cell(Value::Text("2026-02".into())),
                    cell(Value::Number(4.0)),
                    cell(Value::Number(75.0)),
                    proto::TableCell { value: None },
                ],
            }],
            total_rows: 3,
        };
        let text = table_text(&triangle);
        assert!(text.contains("cohort_logo_retention (first 1 of 3 rows)"), "{text}");
        assert!(text.contains("m0 %") && text.contains("accounts") && !text.contains("(count)"), "{text}");
        let row = text.lines().find(|l| l.contains("2026-02")).unwrap_or_default();
        let cells: Vec<&str> = row.split(['│', '┆']).map(str::trim).filter(|c| !c.is_empty()).collect();
        assert_eq!(cells, vec!["2026-02", "4", "75"], "the m1 cell stays empty: {row}");
    }
}
