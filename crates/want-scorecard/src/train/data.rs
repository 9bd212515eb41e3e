//! Reading a CSV table.

use crate::error::ScorecardError;
use std::path::Path;

/// Most data rows read from one CSV.
pub const ROWS_MAX: usize = 2_000_000;
/// Most columns of one CSV.
pub const COLUMNS_MAX: usize = 512;

/// A CSV file read whole: a header and rows of strings, every row as wide as the header.
#[derive(Debug, Clone)]
pub struct Table {
    /// The file's name, for error messages.
    pub file: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// Reads a CSV with a header line. A row with a different number of fields than the header,
    /// a duplicate or empty column name, and bytes that are not UTF-8 are refused with the file,
    /// row (1-based line, header = 1) and column.
    pub fn read(path: &Path) -> Result<Table, ScorecardError> {
        let file = path.display().to_string();
        let err =
            |row: Option<u64>, column: Option<String>, message: String| ScorecardError::Data {
                file: file.clone(),
                row,
                column,
                message,
            };
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_path(path)
            .map_err(|e| err(None, None, format!("cannot open: {e}")))?;
        let headers: Vec<String> = rdr
            .headers()
            .map_err(|e| err(Some(1), None, format!("cannot read the header: {e}")))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        if headers.is_empty() || headers.iter().all(String::is_empty) {
            return Err(err(Some(1), None, "the file has no header line".into()));
        }
        if headers.len() > COLUMNS_MAX {
            return Err(err(
                Some(1),
                None,
                format!("{} columns; at most {COLUMNS_MAX} are read", headers.len()),
            ));
        }
        for (i, h) in headers.iter().enumerate() {
            if h.is_empty() {
                return Err(err(Some(1), None, format!("column {} has no name", i + 1)));
            }
            if headers[..i].contains(h) {
                return Err(err(
                    Some(1),
                    Some(h.clone()),
                    "the column name appears twice".into(),
                ));
            }
        }
        let mut rows = Vec::new();
        for rec in rdr.records() {
            let rec = rec.map_err(|e| {
                let line = e.position().map(|p| p.line());
                match e.kind() {
                    csv::ErrorKind::UnequalLengths {
                        expected_len, len, ..
                    } => err(
                        line,
                        None,
                        format!("the row has {len} fields but the header has {expected_len}"),
                    ),
                    csv::ErrorKind::Utf8 { err: u, .. } => err(
                        line,
                        headers.get(u.field()).cloned(),
                        "the field is not UTF-8 text".into(),
                    ),
                    _ => err(line, None, format!("cannot read the row: {e}")),
                }
            })?;
            if rows.len() >= ROWS_MAX {
                return Err(err(
                    rec.position().map(|p| p.line()),
                    None,
                    format!("more than {ROWS_MAX} rows; at most {ROWS_MAX} are read"),
                ));
            }
            rows.push(rec.iter().map(str::to_string).collect());
        }
        Ok(Table {
            file,
            headers,
            rows,
        })
    }

    /// The CSV line (1-based, header = 1) of data row `i` (0-based), for messages. Assumes one
    /// line per record, which holds unless a quoted field contains line breaks.
    pub fn line_of(&self, i: usize) -> u64 {
        i as u64 + 2
    }

    pub fn column(&self, name: &str) -> Option<usize> {
        self.headers.iter().position(|h| h == name)
    }
}
