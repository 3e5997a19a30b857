//! Human-readable query answers: one row per group (value, n, interval,
//! target, details), then any time series, then each table of the answer.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use rapport::proto;

use super::output::Style;
use super::present::{
    format_span, format_target, format_time, format_value, millis, shown_interval, trim_number,
};

/// The text of a query answer.
pub fn query_text(response: &proto::QueryResponse, style: &Style) -> String {
    let window = response.window.as_ref();
    let mut text = format!(
        "{} over {} .. {}\n",
        response.metric,
        format_time(window.and_then(|w| w.start.as_ref())),
        format_time(window.and_then(|w| w.end.as_ref()))
    );
    let keys: Vec<&String> =
        response.groups.iter().flat_map(|g| g.labels.keys()).collect::<BTreeSet<_>>().into_iter().collect();
    let label_cells = |group: &proto::Group| -> Vec<String> {
        keys.iter().map(|k| group.labels.get(*k).cloned().unwrap_or_default()).collect()
    };
    let with_targets = response.groups.iter().any(|g| g.target.is_some());
    let mut header: Vec<String> = keys.iter().map(|k| (*k).clone()).collect();
    header.extend(["value", "n", "95% interval"].map(String::from));
    if with_targets {
        header.push("target".to_owned());
    }
    header.push("details".to_owned());
    let mut rows = style.table(header);
    let mut small_samples = false;
    for group in &response.groups {
        let value = group.value.clone().unwrap_or_default();
        let interval = shown_interval(&value).map_or_else(String::new, |(interval, small)| {
            small_samples |= small;
            let mark = if small { " *" } else { "" };
            format!("{:.1} .. {:.1}{mark}", interval.low, interval.high)
        });
        let mut row = label_cells(group);
        row.extend([format_value(&value), value.count.to_string(), interval]);
        if with_targets {
            row.push(format_target(group.target.as_ref()));
        }
        row.push(format_details(&value));
        rows.add_row(row);
    }
    let _ = writeln!(text, "{rows}");
    if small_samples {
        let _ = writeln!(
            text,
            "* adjusted Wald interval: fewer than {} responses, or the standard-error interval is empty",
            super::present::SMALL_SAMPLE
        );
    }
    if response.groups.iter().any(|g| !g.points.is_empty()) {
        text.push_str(&series_text(response, &keys, style));
    }
    for table in &response.tables {
        text.push_str(&table_text(table, &keys, style));
    }
    text
}

/// The time series, one row per point; a partial last point says how much
/// of its step it covers.
fn series_text(response: &proto::QueryResponse, keys: &[&String], style: &Style) -> String {
    let window_end = millis(response.window.as_ref().and_then(|w| w.end.as_ref()));
    let partial = response.groups.iter().flat_map(|g| &g.points).any(|p| p.partial);
    let mut header = vec!["step start".to_owned()];
    header.extend(keys.iter().map(|k| (*k).clone()));
    header.extend(["value", "n"].map(String::from));
    if partial {
        header.push("note".to_owned());
    }
    let mut points = style.table(header);
    for group in &response.groups {
        for point in &group.points {
            let value = point.value.clone().unwrap_or_default();
            let mut row = vec![format_time(point.start.as_ref())];
            row.extend(keys.iter().map(|k| group.labels.get(*k).cloned().unwrap_or_default()));
            row.extend([format_value(&value), value.count.to_string()]);
            if partial {
                let covered = window_end.zip(millis(point.start.as_ref())).map(|(end, start)| end - start);
                row.push(match (point.partial, covered) {
                    (true, Some(covered)) => format!("partial: {}", format_span(covered)),
                    (true, None) => "partial".to_owned(),
                    (false, _) => String::new(),
                });
            }
            points.add_row(row);
        }
    }
    format!("{points}\n")
}

fn format_details(value: &proto::MetricValue) -> String {
    let mut details: Vec<_> = value.details.iter().collect();
    details.sort_by(|a, b| a.0.cmp(b.0));
    details.iter().map(|(k, v)| format!("{k}={}", trim_number(**v))).collect::<Vec<_>>().join(" ")
}

/// A table-shaped part of an answer (a cohort triangle, an account list)
/// under its name, units in the header. Too wide for the style, it is cut
/// into blocks of columns that each repeat the columns naming the row: the
/// group's labels and the first column after them.
pub fn table_text(answer: &proto::Table, group_keys: &[&String], style: &Style) -> String {
    let header: Vec<String> = answer
        .columns
        .iter()
        .map(|c| match c.unit.as_str() {
            "" | "count" => c.name.clone(),
            "percent" => format!("{} %", c.name),
            unit => format!("{} ({unit})", c.name),
        })
        .collect();
    let rows: Vec<Vec<String>> =
        answer.rows.iter().map(|row| row.cells.iter().map(format_cell).collect()).collect();
    let labels = answer.columns.iter().take_while(|c| group_keys.iter().any(|k| **k == c.name)).count();
    let shown = answer.rows.len() as u64;
    let title = if shown < answer.total_rows {
        format!("{} (first {shown} of {} rows)", answer.name, answer.total_rows)
    } else {
        answer.name.clone()
    };
    let mut text = format!("\n{title}\n");
    for block in style.column_blocks(&header, &rows, labels + 1) {
        let _ = writeln!(text, "{block}");
    }
    text
}

/// A table cell as text: numbers as people read them, times in RFC 3339.
pub fn format_cell(cell: &proto::TableCell) -> String {
    use proto::table_cell::Value;
    match &cell.value {
        None => String::new(),
        Some(Value::Text(text)) => text.clone(),
        Some(Value::Number(number)) => trim_number(*number),
        Some(Value::Time(time)) => format_time(Some(time)),
    }
}

/// The metric list.
pub fn metrics_text(response: &proto::ListMetricsResponse, style: &Style) -> String {
    let mut rows = style
        .table(["metric", "unit", "range", "group by", "source", "description"].map(String::from).to_vec());
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
    rows.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(value: proto::table_cell::Value) -> proto::TableCell {
        proto::TableCell { value: Some(value) }
    }

    fn widest_line(text: &str) -> usize {
        text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
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
        let text = table_text(&triangle, &[], &Style::new(false));
        assert!(text.contains("cohort_logo_retention (first 1 of 3 rows)"), "{text}");
        assert!(text.contains("m0 %") && text.contains("accounts") && !text.contains("(count)"), "{text}");
        let row = text.lines().find(|l| l.contains("2026-02")).unwrap_or_default();
        let cells: Vec<&str> = row.split(['│', '┆']).map(str::trim).filter(|c| !c.is_empty()).collect();
        assert_eq!(cells, vec!["2026-02", "4", "75"], "the m1 cell stays empty: {row}");
    }

    /// An answer as wide as the demo's GRR by segment: nine details.
    fn retention_answer(target: Option<proto::TargetStatus>) -> proto::QueryResponse {
        let details = [
            ("accounts_at_start", 130.0),
            ("capped_minor", 0.0),
            ("churned_accounts", 8.0),
            ("churned_mrr_minor", 582_000.0),
            ("contraction_minor", 48_400.0),
            ("expansion_minor", 133_500.0),
            ("grr", 93.9),
            ("logo_churn", 6.2),
            ("nrr", 95.2),
            ("starting_mrr_minor", 10_383_300.0),
        ];
        proto::QueryResponse {
            metric: "grr".into(),
            window: None,
            groups: vec![proto::Group {
                labels: [("segment".to_owned(), "enterprise".to_owned())].into(),
                value: Some(proto::MetricValue {
                    value: Some(93.9),
                    count: 130,
                    intervals: vec![],
                    details: details.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
                }),
                points: vec![],
                target,
            }],
            tables: vec![],
        }
    }

    #[test]
    fn answers_fit_100_columns_unless_wide() {
        let answer = retention_answer(None);
        let narrow = query_text(&answer, &Style::new(false));
        assert!(widest_line(&narrow) <= 100, "{narrow}");
        assert!(narrow.contains("starting_mrr_minor=10383300"), "details wrap whole: {narrow}");
        let wide = query_text(&answer, &Style::new(true));
        assert!(widest_line(&wide) > 100, "{wide}");
        assert!(!wide.contains("target"), "no target column without targets: {wide}");
    }

    #[test]
    fn targets_show_as_a_column() {
        let answer = retention_answer(Some(proto::TargetStatus {
            direction: proto::TargetDirection::AtLeast.into(),
            threshold: 95.0,
            met: false,
            crossed: false,
        }));
        let text = query_text(&answer, &Style::new(false));
        let header = text.lines().find(|l| l.contains("value")).unwrap_or_default();
        assert!(header.contains("target"), "{text}");
        let row = text.lines().find(|l| l.contains("enterprise")).unwrap_or_default();
        assert!(row.contains("unmet >= 95"), "{text}");
    }
}
