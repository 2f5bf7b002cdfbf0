//! The demo network behind `bouncer demo`.
use std::path::PathBuf;

/// Builds and serves the demo network.
pub fn run(_db: Option<PathBuf>, _args: &crate::cli::Demo) -> crate::error::Result<()> {
    Ok(())
}
