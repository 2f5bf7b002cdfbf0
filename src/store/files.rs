//! Known files: sizes and hashes by path.

use super::postgres::{SqlValue, sql_int};
use super::tables::*;
use super::{Store, Tx};
use crate::error::Result;
use crate::model::*;

impl Store {
    /// The file stored at `path`.
    pub fn file(&self, path: &str) -> Result<Option<FileInfo>> {
        self.read()?.get(&FILES, &path.to_string())
    }

    /// Every known file, by path.
    pub fn files(&self) -> Result<Vec<FileInfo>> {
        self.read()?.values(&FILES)
    }

    /// Every known file whose location is one of `locations`.
    pub fn files_of(&self, locations: &[LocationId]) -> Result<Vec<FileInfo>> {
        let mut files = self.read()?.values(&FILES)?;
        files.retain(|file| file.location.is_some_and(|l| locations.contains(&l)));
        Ok(files)
    }
}

impl Tx {
    pub(super) fn drop_files_of(&mut self, location: LocationId) -> Result<()> {
        if let Some(pg) = self.txn.pg() {
            pg.wrote("files");
            pg.execute(
                "DELETE FROM files WHERE location = $1",
                &[SqlValue::Int(sql_int(location.0))],
            )?;
            return Ok(());
        }
        self.txn
            .retain(&FILES, |_, f: &FileInfo| f.location != Some(location))
    }

    /// The file stored at `path`.
    pub fn file(&self, path: &str) -> Result<Option<FileInfo>> {
        self.txn.get(&FILES, &path.to_string())
    }

    /// Stores a file's size and hashes (replacing what was known).
    pub fn file_put(&mut self, file: &FileInfo) -> Result<()> {
        crate::validate::path(&file.path)?;
        self.txn.put(&FILES, &file.path, file)
    }

    /// Every known file, by path.
    pub fn files(&self) -> Result<Vec<FileInfo>> {
        self.txn.values(&FILES)
    }

    /// Forgets what is known about the file at `path`; whether it was known.
    pub fn file_remove(&mut self, path: &str) -> Result<bool> {
        self.txn.delete(&FILES, &path.to_string())
    }
}
