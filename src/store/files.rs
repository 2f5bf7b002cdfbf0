//! Known files: sizes and hashes by path.

use redb::{ReadableDatabase, ReadableTable};

use super::rows::{decode, decode_all, encode};
use super::tables::*;
use super::{Store, Tx};
use crate::error::Result;
use crate::model::*;

impl Store {
    /// The file stored at `path`.
    pub fn file(&self, path: &str) -> Result<Option<FileInfo>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(FILES)?;
        let row = t.get(path)?;
        row.map(|v| decode(v.value())).transpose()
    }

    /// Every known file, by path.
    pub fn files(&self) -> Result<Vec<FileInfo>> {
        let txn = self.db.begin_read()?;
        super::snapshot::read_files(&txn)
    }

    /// Every known file whose location is one of `locations`.
    pub fn files_of(&self, locations: &[LocationId]) -> Result<Vec<FileInfo>> {
        let txn = self.db.begin_read()?;
        let mut out = Vec::new();
        for row in txn.open_table(FILES)?.iter()? {
            let file: FileInfo = decode(row?.1.value())?;
            if file.location.is_some_and(|l| locations.contains(&l)) {
                out.push(file);
            }
        }
        Ok(out)
    }
}

impl Tx {
    pub(super) fn drop_files_of(&mut self, location: LocationId) -> Result<()> {
        let mut files = self.txn.open_table(FILES)?;
        files
            .retain(|_, v| decode::<FileInfo>(v).map_or(true, |f| f.location != Some(location)))?;
        Ok(())
    }

    /// The file stored at `path`.
    pub fn file(&self, path: &str) -> Result<Option<FileInfo>> {
        let t = self.txn.open_table(FILES)?;
        let row = t.get(path)?;
        row.map(|v| decode(v.value())).transpose()
    }

    /// Stores a file's size and hashes (replacing what was known).
    pub fn file_put(&mut self, file: &FileInfo) -> Result<()> {
        crate::validate::path(&file.path)?;
        self.txn
            .open_table(FILES)?
            .insert(file.path.as_str(), encode(file).as_slice())?;
        Ok(())
    }

    /// Every known file, by path.
    pub fn files(&self) -> Result<Vec<FileInfo>> {
        decode_all(self.txn.open_table(FILES)?.iter()?)
    }

    /// Forgets what is known about the file at `path`; whether it was known.
    pub fn file_remove(&mut self, path: &str) -> Result<bool> {
        Ok(self.txn.open_table(FILES)?.remove(path)?.is_some())
    }
}
