//! The redirect query: `BounceQuery::parse`, the query helpers, and
//! `Index::resolve` / `resolve_path` on any text (the bytes read as
//! UTF-8, lossily).
//! The properties checked are in `src/lib.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| bouncer_fuzz::bounce_query(data));
