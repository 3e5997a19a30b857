//! Table-shaped answers (the cohort triangle, the inactive-account list):
//! what a list of groups cannot hold.

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// A named table of an answer. In a grouped query, the group's labels come
/// first in each row, one column per group-by key.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// What it lists, such as `inactive_accounts`.
    pub name: String,
    /// Column names and units, in row order.
    pub columns: Vec<Column>,
    /// The rows, at most the engine's `max_groups`.
    pub rows: Vec<Vec<Cell>>,
    /// Rows there were before that cap.
    pub total_rows: u64,
}

/// One column of a [`Table`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Unit of its numbers ("percent", "days", "minor_units", ...), or empty.
    pub unit: String,
}

/// One cell of a [`Table`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Cell {
    /// No value (a triangle cell not reached yet, a missing reason).
    Empty,
    /// Text, such as an account id.
    Text(String),
    /// A number.
    Number(f64),
    /// An instant.
    Time(Timestamp),
}

impl Table {
    /// An empty table with `columns` (name, unit).
    pub(crate) fn new(name: &str, columns: impl IntoIterator<Item = (String, &'static str)>) -> Self {
        Table {
            name: name.to_owned(),
            columns: columns.into_iter().map(|(name, unit)| Column { name, unit: unit.to_owned() }).collect(),
            rows: Vec::new(),
            total_rows: 0,
        }
    }

    /// Adds a row unless `cap` rows are there already (counted either way).
    pub(crate) fn push(&mut self, row: Vec<Cell>, cap: usize) {
        self.total_rows += 1;
        if self.rows.len() < cap {
            self.rows.push(row);
        }
    }
}

impl Cell {
    /// A number cell, or empty for `None`.
    pub(crate) fn number(value: Option<f64>) -> Cell {
        value.map_or(Cell::Empty, Cell::Number)
    }
}
