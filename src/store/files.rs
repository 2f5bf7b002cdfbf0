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
        self.files_put(std::slice::from_ref(file))
    }

    /// Stores many files' sizes and hashes (replacing what was known): in
    /// PostgreSQL a few statements, not one per file.
    pub fn files_put(&mut self, files: &[FileInfo]) -> Result<()> {
        for file in files {
            crate::validate::path(&file.path)?;
        }
        self.txn
            .put_many(&FILES, files.iter().map(|f| (&f.path, f)))
    }

    /// The files stored at `paths` that are known, by path: in PostgreSQL
    /// one query, not one per path.
    pub fn files_at(
        &self,
        paths: &[String],
    ) -> Result<std::collections::HashMap<String, FileInfo>> {
        if let Some(pg) = self.txn.pg() {
            let columns = FILES.columns.join(", ");
            let rows = pg.query(
                &format!("SELECT {columns} FROM files WHERE path = ANY($1)"),
                &[SqlValue::Texts(paths.to_vec())],
            )?;
            return rows
                .iter()
                .map(|row| {
                    let f = <FileInfo as super::backend::Val>::from_sql(row, &mut 0)?;
                    Ok((f.path.clone(), f))
                })
                .collect();
        }
        let mut out = std::collections::HashMap::new();
        for path in paths {
            if let Some(f) = self.file(path)? {
                out.insert(path.clone(), f);
            }
        }
        Ok(out)
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
