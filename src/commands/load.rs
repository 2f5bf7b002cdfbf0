//! `bouncer load FILE`: a checksum file read, planned and (unless a dry
//! run) applied.

use std::fmt::Write as _;

use super::ACTOR;
use crate::cli::Load;
use crate::error::Result;
use crate::network::Network;

/// `bouncer load FILE [--dry-run] …`; `contents` is the file's (the
/// client reads it).
pub(super) fn load(net: &Network, args: &Load, contents: &[u8]) -> Result<String> {
    let options = crate::loader::Options {
        product: args.product.clone(),
        os_map: match &args.os_map {
            Some(m) => crate::loader::parse_os_map(m)?,
            None => Vec::new(),
        },
        matching: args.r#match.clone(),
        kinds: crate::loader::parse_kinds(&args.kind)?,
        force: args.force,
        prefix: args.prefix.clone().unwrap_or_default(),
        ssl_only: args.ssl_only,
        private: args.private,
    };
    let parsed = crate::loader::parse(contents);
    let plan = crate::loader::plan(
        &net.store().snapshot()?,
        &net.store().files()?,
        &parsed,
        &options,
    )?;
    let mut out = format!(
        "{}: {} checksum line(s) read\n{}",
        args.file,
        parsed.entries.len() + parsed.problems.len(),
        plan.describe()
    );
    if args.dry_run {
        out.push_str("dry run: nothing written\n");
    } else if plan.is_empty() {
        out.push_str("nothing in this file can be loaded: see the reasons above\n");
    } else if !plan.changes_anything() {
        out.push_str("nothing to add\n");
    } else {
        let done = crate::loader::apply(net, &plan, &ACTOR)?;
        let mut created = String::new();
        if done.oses > 0 {
            let _ = write!(created, "{} operating system(s), ", done.oses);
        }
        if done.products > 0 {
            let _ = write!(created, "{} new product(s), ", done.products);
        }
        let _ = writeln!(
            out,
            "applied: {created}{} language(s), {} location(s), {} file(s); sentry checks them next",
            done.languages, done.locations, done.files
        );
    }
    Ok(out)
}
