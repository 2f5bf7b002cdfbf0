//! Static files from `assets/`, compiled into the binary.

/// The shared stylesheet of public pages, served at [`CSS_PATH`].
pub const CSS: &str = include_str!("../assets/bouncer.css");

/// Where the public stylesheet is served.
pub const CSS_PATH: &str = "/assets/bouncer.css";

/// The admin pages' stylesheet, served at [`ADMIN_CSS_PATH`].
pub const ADMIN_CSS: &str = include_str!("../assets/admin.css");

/// Where the admin stylesheet is served.
pub const ADMIN_CSS_PATH: &str = "/assets/admin.css";

/// The admin pages' (optional) script, served at [`ADMIN_JS_PATH`].
pub const ADMIN_JS: &str = include_str!("../assets/admin.js");

/// Where the admin script is served.
pub const ADMIN_JS_PATH: &str = "/assets/admin.js";

/// The download form's script (narrows the lists to the chosen product's
/// operating systems and languages), served at [`DOWNLOAD_JS_PATH`].
pub const DOWNLOAD_JS: &str = include_str!("../assets/download.js");

/// Where the download form's script is served.
pub const DOWNLOAD_JS_PATH: &str = "/assets/download.js";

/// The asset served at `path`, with its content type.
pub fn find(path: &str) -> Option<(&'static str, &'static str)> {
    match path {
        CSS_PATH => Some((CSS, "text/css; charset=utf-8")),
        ADMIN_CSS_PATH => Some((ADMIN_CSS, "text/css; charset=utf-8")),
        ADMIN_JS_PATH => Some((ADMIN_JS, "text/javascript; charset=utf-8")),
        DOWNLOAD_JS_PATH => Some((DOWNLOAD_JS, "text/javascript; charset=utf-8")),
        _ => None,
    }
}
