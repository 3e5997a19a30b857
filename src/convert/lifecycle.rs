//! Lifecycle answers to wire types: groups like the survey metrics', plus
//! the table-shaped parts (cohort triangle, inactive-account list).

use rapport_engine as engine;

use super::{describe_metric, query_response, to_timestamp};
use crate::proto;

/// The wire answer for a lifecycle answer: its groups as
/// [`query_response`] gives a survey metric's, plus its tables.
pub fn account_query_response(metric: String, answer: engine::AccountAnswer) -> proto::QueryResponse {
    let engine::AccountAnswer { window, groups, tables } = answer;
    let mut response = query_response(metric, engine::QueryResult { window, groups }, None);
    response.tables = tables.into_iter().map(table).collect();
    response
}

fn table(table: engine::Table) -> proto::Table {
    proto::Table {
        name: table.name,
        columns: table
            .columns
            .into_iter()
            .map(|c| proto::TableColumn { name: c.name, unit: c.unit })
            .collect(),
        rows: table
            .rows
            .into_iter()
            .map(|row| proto::TableRow { cells: row.into_iter().map(cell).collect() })
            .collect(),
        total_rows: table.total_rows,
    }
}

fn cell(cell: engine::Cell) -> proto::TableCell {
    use proto::table_cell::Value;
    let value = match cell {
        engine::Cell::Empty => None,
        engine::Cell::Text(text) => Some(Value::Text(text)),
        engine::Cell::Number(number) => Some(Value::Number(number)),
        engine::Cell::Time(time) => Some(Value::Time(to_timestamp(time))),
    };
    proto::TableCell { value }
}

/// The lifecycle metrics as `ListMetrics` lists them: built in, grouped
/// and filtered by any account label (`*`) and by `start_month`.
pub fn lifecycle_descriptors() -> Vec<proto::MetricDescriptor> {
    engine::account_metrics()
        .into_iter()
        .map(|spec| describe_metric(spec, vec![engine::START_MONTH.to_owned()], "builtin".to_owned()))
        .collect()
}
