//! The data commands: `backup`, `export` and `import`. Their files are the
//! client's: `bouncer` makes a backup's path absolute before it goes to a
//! server, reads an import file itself and writes an export file itself
//! (see [`crate::dispatch`]), so relative paths mean the same with or
//! without a running server.

use std::path::Path;

use super::ACTOR;
use crate::cli::{Backup, Export, Import};
use crate::error::{Error, Result};
use crate::network::Network;

/// `bouncer backup FILE [--force]`.
pub fn backup(net: &Network, args: &Backup) -> Result<String> {
    let done = net.store().backup(Path::new(&args.file), args.force)?;
    Ok(format!(
        "backed up {} tables, {} rows ({} bytes of keys and values) to {} ({} bytes)\n",
        done.tables,
        done.rows,
        done.bytes,
        done.path.display(),
        done.file_size
    ))
}

/// `bouncer export [FILE] [--with-counts]`: the document, always on
/// standard output (the client writes FILE).
pub fn export(net: &Network, args: &Export) -> Result<String> {
    crate::export::export(net.store(), args.with_counts)
}

/// `bouncer import FILE [--replace]`, with the file's contents.
pub fn import(net: &Network, args: &Import, contents: &[u8]) -> Result<String> {
    let named = |e: Error| match e {
        Error::ImportFile { place, detail, .. } => Error::ImportFile {
            file: Some(args.file.clone()),
            place,
            detail,
        },
        e => e,
    };
    let config = crate::export::parse(contents).map_err(named)?;
    let done = net
        .write(&ACTOR, |tx| crate::export::apply(tx, &config, args.replace))
        .map_err(named)?;
    Ok(format!("{}\n", done.describe()))
}
