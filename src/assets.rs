//! Static files from `assets/`, compiled into the binary.

/// The shared stylesheet, served at [`CSS_PATH`].
pub const CSS: &str = include_str!("../assets/bouncer.css");

/// Where the stylesheet is served.
pub const CSS_PATH: &str = "/assets/bouncer.css";
