//! Markdown tables that are also JSON: every column and every row has a stable id beside its
//! human-readable text, and every cell holds the figure (for JSON) beside the text it prints
//! as. One table value feeds both outputs, so they cannot disagree.

use super::json::Json;

/// Column alignment in Markdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

struct Column {
    id: String,
    header: String,
    align: Align,
}

/// One cell: the text printed in the Markdown table and the value written to JSON.
#[derive(Clone, Debug)]
pub struct Cell {
    text: String,
    value: Json,
}

impl Cell {
    /// A figure printed as `text`.
    pub fn num(value: f64, text: String) -> Cell {
        Cell {
            text,
            value: Json::Num(value),
        }
    }

    /// A figure with `decimals` decimals.
    pub fn fixed(value: f64, decimals: usize) -> Cell {
        Cell::num(value, format!("{value:.decimals$}"))
    }

    /// A time in milliseconds, printed with [`fmt_ms`].
    pub fn ms(value: f64) -> Cell {
        Cell::num(value, fmt_ms(value))
    }

    /// A ratio printed as `1.23x`, with `decimals` decimals.
    pub fn ratio(value: f64, decimals: usize) -> Cell {
        Cell::num(value, format!("{value:.decimals$}x"))
    }

    /// A count.
    pub fn count(n: usize) -> Cell {
        Cell {
            text: n.to_string(),
            value: Json::from(n),
        }
    }

    /// Text, written to JSON as a string: a label or a description.
    pub fn text(text: impl Into<String>) -> Cell {
        let text = text.into();
        Cell {
            value: Json::Str(text.clone()),
            text,
        }
    }

    /// A target line's outcome: `met` or `NOT met`, `true` or `false` in JSON.
    pub fn verdict(met: bool) -> Cell {
        Cell {
            text: verdict(met).to_owned(),
            value: Json::Bool(met),
        }
    }

    /// No figure (not measured, undefined or not applicable): prints as `text` (`n/a`, `-`,
    /// or nothing), `null` in JSON.
    pub fn none(text: &str) -> Cell {
        Cell {
            text: text.to_owned(),
            value: Json::Null,
        }
    }

    /// `format(value)`, or `n/a` (`null`) where there is no value.
    pub fn or_na(value: Option<f64>, format: impl FnOnce(f64) -> Cell) -> Cell {
        value.map_or_else(|| Cell::none("n/a"), format)
    }
}

/// A Markdown table with ids for JSON. Built column by column, then row by row.
pub struct Table {
    id: String,
    columns: Vec<Column>,
    rows: Vec<(String, Vec<Cell>)>,
}

impl Table {
    /// `id` names the table in the JSON file (`tables.<id>`).
    pub fn new(id: &str) -> Table {
        Table {
            id: id.to_owned(),
            columns: Vec::new(),
            rows: Vec::new(),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Adds a left-aligned column (labels, descriptions).
    pub fn left(self, id: &str, header: impl Into<String>) -> Table {
        self.column(id, header.into(), Align::Left)
    }

    /// Adds a right-aligned column (figures).
    pub fn right(self, id: &str, header: impl Into<String>) -> Table {
        self.column(id, header.into(), Align::Right)
    }

    fn column(mut self, id: &str, header: String, align: Align) -> Table {
        assert!(
            self.columns.iter().all(|c| c.id != id),
            "table `{}`: two columns with id `{id}`",
            self.id
        );
        self.columns.push(Column {
            id: id.to_owned(),
            header,
            align,
        });
        self
    }

    /// Adds a row; `cells` has one cell per column, in column order.
    pub fn row(&mut self, id: impl Into<String>, cells: Vec<Cell>) {
        let id = id.into();
        assert_eq!(
            cells.len(),
            self.columns.len(),
            "table `{}`, row `{id}`: wrong number of cells",
            self.id
        );
        assert!(
            self.rows.iter().all(|(r, _)| *r != id),
            "table `{}`: two rows with id `{id}`",
            self.id
        );
        self.rows.push((id, cells));
    }

    /// The Markdown text: header, rule, rows, each line ending in a newline.
    pub fn markdown(&self) -> String {
        let line = |cells: &mut dyn Iterator<Item = &str>| {
            let mut line = String::from("|");
            for cell in cells {
                if !cell.is_empty() {
                    line.push(' ');
                    line.push_str(cell);
                }
                line.push_str(" |");
            }
            line.push('\n');
            line
        };
        let mut md = line(&mut self.columns.iter().map(|c| c.header.as_str()));
        md.push('|');
        for column in &self.columns {
            md.push_str(match column.align {
                Align::Left => "---|",
                Align::Right => "---:|",
            });
        }
        md.push('\n');
        for (_, cells) in &self.rows {
            md.push_str(&line(&mut cells.iter().map(|c| c.text.as_str())));
        }
        md
    }

    /// `{"columns": {id: header, ...}, "rows": {row id: {column id: value, ...}, ...}}`.
    pub fn json(&self) -> Json {
        let mut columns = Json::object();
        for column in &self.columns {
            columns.set(&column.id, column.header.as_str());
        }
        let mut rows = Json::object();
        for (id, cells) in &self.rows {
            let mut row = Json::object();
            for (column, cell) in self.columns.iter().zip(cells) {
                row.set(&column.id, cell.value.clone());
            }
            rows.set(id, row);
        }
        Json::object().with("columns", columns).with("rows", rows)
    }
}

/// Milliseconds with about three significant digits (chosen by magnitude, so negative
/// differences get the same precision as positive ones).
pub fn fmt_ms(ms: f64) -> String {
    if ms.abs() >= 100.0 {
        format!("{ms:.1}")
    } else if ms.abs() >= 10.0 {
        format!("{ms:.2}")
    } else if ms.abs() >= 1.0 {
        format!("{ms:.3}")
    } else {
        format!("{ms:.4}")
    }
}

/// The word for a target line.
pub fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}
