//! GeoIP CSV imports (lines `==> NAME <==` split the input into files)
//! and `GeoDb::decode` of the same bytes.
//! The properties checked are in `src/lib.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| bouncer_fuzz::geoip_csv(data));
