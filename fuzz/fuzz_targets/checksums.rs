//! Checksum files: `loader::parse` on any bytes, then the loader's plan
//! for what it read.
//! The properties checked are in `src/lib.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| bouncer_fuzz::checksums(data));
