//! CSV imports: MaxMind GeoLite2-Country (blocks + locations files),
//! DB-IP lite, and plain `start,end,country`.

use super::GeoDb;
use crate::error::Result;

/// One input file: its name (for messages) and contents.
pub struct Source {
    /// The file's name as given.
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// A line that could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file's name.
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub reason: String,
}

/// What an import produced.
pub struct Imported {
    /// The ranges.
    pub db: GeoDb,
    /// Data lines read (headers and blank lines not counted).
    pub lines: usize,
    /// Lines that could not be used (all of them; the caller shows a few).
    pub problems: Vec<Problem>,
}

/// Parses `sources` (formats detected from their contents) into one
/// database. Fails when no file is in a known format or nothing usable
/// is left.
pub fn import(sources: &[Source]) -> Result<Imported> {
    todo!("{}", sources.len())
}
