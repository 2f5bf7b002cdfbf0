//! Placeholder replaced by the index benchmark.
fn main() {}
