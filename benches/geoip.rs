//! GeoIP lookup benchmark (filled in by the GeoIP work).
fn main() {}
