//! Form bodies of the API (and the admin pages): `admin::Form::parse`.
//! The first line of the input is the `Content-Type`, the rest the body.
//! The properties checked are in `src/lib.rs`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| bouncer_fuzz::api_form(data));
