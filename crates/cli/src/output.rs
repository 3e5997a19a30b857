//! Where the CLI's output goes and how wide it may be.
//!
//! Every line to stdout goes through `outln!` (defined in the crate root),
//! which returns the write's error instead of panicking as `println!` does
//! when the reader has gone (`rapport metrics | head -2`); `main` then ends
//! quietly ([`is_broken_pipe`]). Tables fit [`DEFAULT_WIDTH`] columns unless
//! `--wide` is given.

use std::io::Write;

use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};

/// Columns the output fits by default.
pub const DEFAULT_WIDTH: usize = 100;

/// Writes `args` and a newline to stdout.
pub fn write_line(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)?;
    out.write_all(b"\n")
}

/// Writes `args` to stdout and flushes it.
pub fn write(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)?;
    out.flush()
}

/// Whether `error` comes from writing to a closed pipe: the reader (such as
/// `head`) has all it wanted, which is no failure.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// How wide tables may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    /// The width tables fit; `None` lets them be as wide as their content.
    pub width: Option<usize>,
}

impl Style {
    /// [`DEFAULT_WIDTH`] columns, or unbounded with `--wide`.
    pub fn new(wide: bool) -> Self {
        Style { width: (!wide).then_some(DEFAULT_WIDTH) }
    }

    /// A table with `header` that wraps its cells (at spaces where it can)
    /// to fit the width.
    pub fn table(&self, header: Vec<String>) -> Table {
        let mut table = Table::new();
        table.load_preset(UTF8_FULL_CONDENSED).set_header(header);
        if let Some(width) = self.width {
            table.set_content_arrangement(ContentArrangement::Dynamic);
            table.set_width(u16::try_from(width).unwrap_or(u16::MAX));
        }
        table
    }

    /// A table of many columns (a cohort triangle) as several tables, each
    /// with the first `keep` columns (what a row is) and as many of the others
    /// as fit the width. Cells are not wrapped, so numbers stay whole.
    pub fn column_blocks(&self, header: &[String], rows: &[Vec<String>], keep: usize) -> Vec<Table> {
        let widths: Vec<usize> = (0..header.len())
            .map(|c| {
                let cells = rows.iter().filter_map(|r| r.get(c)).chain(std::iter::once(&header[c]));
                cells.flat_map(|cell| cell.lines()).map(|l| l.chars().count()).max().unwrap_or(0)
            })
            .collect();
        let keep = keep.min(header.len());
        // A column takes its content, two spaces of padding and a border.
        let taken = |columns: &[usize]| 1 + columns.iter().map(|c| widths[c.to_owned()] + 3).sum::<usize>();
        let mut blocks: Vec<Vec<usize>> = Vec::new();
        let mut block: Vec<usize> = (0..keep).collect();
        for column in keep..header.len() {
            let mut wider = block.clone();
            wider.push(column);
            let fits = self.width.is_none_or(|width| taken(&wider) <= width);
            if fits || block.len() == keep {
                block = wider;
            } else {
                blocks.push(std::mem::replace(&mut block, (0..keep).chain([column]).collect()));
            }
        }
        blocks.push(block);
        blocks
            .into_iter()
            .map(|columns| {
                let mut table = Table::new();
                table.load_preset(UTF8_FULL_CONDENSED);
                table.set_header(columns.iter().map(|c| header[*c].clone()).collect::<Vec<_>>());
                for row in rows {
                    table.add_row(
                        columns.iter().map(|c| row.get(*c).cloned().unwrap_or_default()).collect::<Vec<_>>(),
                    );
                }
                table
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn widest_line(text: &str) -> usize {
        text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
    }

    #[test]
    fn long_cells_wrap_to_the_width_unless_wide() {
        let words = "accounts_at_start=368 capped_minor=0 churned_accounts=11 ".repeat(4);
        let mut narrow = Style::new(false).table(vec!["value".into(), "details".into()]);
        narrow.add_row(vec!["95.2".to_owned(), words.clone()]);
        let text = narrow.to_string();
        assert!(widest_line(&text) <= DEFAULT_WIDTH, "{text}");
        // Wrapped at spaces: every word is still whole.
        assert!(text.contains("churned_accounts=11"), "{text}");
        let mut wide = Style::new(true).table(vec!["value".into(), "details".into()]);
        wide.add_row(vec!["95.2".to_owned(), words.clone()]);
        assert!(widest_line(&wide.to_string()) > DEFAULT_WIDTH);
    }

    #[test]
    fn many_columns_split_into_blocks_that_repeat_the_key() {
        let header: Vec<String> =
            ["start_month".to_owned()].into_iter().chain((0..20).map(|m| format!("m{m} %"))).collect();
        let row: Vec<String> =
            ["2026-01".to_owned()].into_iter().chain((0..20).map(|_| "100.0".to_owned())).collect();
        let blocks = Style::new(false).column_blocks(&header, &[row], 1);
        // A border (1), the key (11 + 3) and k columns of 5 + 3: k = 10 fit in 100.
        assert_eq!(blocks.len(), 2);
        let texts: Vec<String> = blocks.iter().map(ToString::to_string).collect();
        assert!(texts.iter().all(|t| t.contains("start_month") && t.contains("2026-01")));
        assert!(texts.iter().all(|t| widest_line(t) <= DEFAULT_WIDTH), "{texts:?}");
        assert!(texts[0].contains("m9 %") && !texts[0].contains("m10 %") && texts[1].contains("m10 %"));
        assert_eq!(Style::new(true).column_blocks(&header, &[], 1).len(), 1);
    }
}
