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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::{ADMIN_CSS, CSS};

    /// The custom properties (`--name: #rrggbb`) of the first `:root { … }`
    /// block in `css` from `from` on.
    fn variables(css: &str, from: usize) -> HashMap<String, String> {
        let start = from + css[from..].find(":root {").expect("a :root block") + 7;
        let end = start + css[start..].find('}').expect("the block's end");
        css[start..end]
            .split(';')
            .filter_map(|decl| {
                let (name, value) = decl.split_once(':')?;
                let name = name.trim().strip_prefix("--")?;
                Some((name.to_string(), value.trim().to_string()))
            })
            .collect()
    }

    /// The light variables and the dark ones (those of the light scheme
    /// redefined under `prefers-color-scheme: dark`, the rest kept).
    fn schemes(css: &str) -> [(&'static str, HashMap<String, String>); 2] {
        let light = variables(css, 0);
        let at = css
            .find("@media (prefers-color-scheme: dark)")
            .expect("a dark scheme");
        let mut dark = light.clone();
        dark.extend(variables(css, at));
        [("light", light), ("dark", dark)]
    }

    /// Relative luminance of `#rgb` or `#rrggbb` (WCAG 2).
    fn luminance(hex: &str) -> f64 {
        let hex = hex.strip_prefix('#').unwrap_or_else(|| panic!("{hex}"));
        let hex: String = if hex.len() == 3 {
            hex.chars().flat_map(|c| [c, c]).collect()
        } else {
            hex.to_string()
        };
        assert_eq!(hex.len(), 6, "{hex}");
        let channel = |i: usize| {
            let c = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap()) / 255.0;
            if c <= 0.039_28 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4)
    }

    /// The WCAG contrast ratio of two colours.
    fn contrast(a: &str, b: &str) -> f64 {
        let (a, b) = (luminance(a), luminance(b));
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }

    /// Asserts every (text, background) pair of variables has at least
    /// 4.5:1 contrast in both schemes.
    fn readable(name: &str, css: &str, pairs: &[(&str, &str)]) {
        for (scheme, vars) in schemes(css) {
            for (fg, bg) in pairs {
                let colour = |v: &str| {
                    vars.get(v)
                        .unwrap_or_else(|| panic!("{name} {scheme}: no --{v}"))
                        .clone()
                };
                let ratio = contrast(&colour(fg), &colour(bg));
                assert!(
                    ratio >= 4.5,
                    "{name} {scheme}: --{fg} {} on --{bg} {} is {ratio:.2}:1",
                    colour(fg),
                    colour(bg)
                );
            }
        }
    }

    /// The badge text on its background, for every badge.
    const BADGES: [(&str, &str); 4] = [
        ("good", "good-bg"),
        ("bad", "bad-bg"),
        ("warn", "warn-bg"),
        ("off", "off-bg"),
    ];

    #[test]
    fn contrast_of_known_pairs() {
        assert!((contrast("#000", "#fff") - 21.0).abs() < 1e-9);
        assert!((contrast("#fff", "#fff") - 1.0).abs() < 1e-9);
        // The "up" badge, before it was darkened.
        assert!((contrast("#1b7f3b", "#e3f4e8") - 4.43).abs() < 0.01);
    }

    #[test]
    fn badges_and_texts_are_readable_in_both_schemes() {
        let texts = [
            ("fg", "bg"),
            ("fg", "card"),
            ("muted", "card"),
            ("muted", "bg"),
            ("muted", "head"),
            ("label", "head"),
            ("accent", "card"),
            ("accent", "bg"),
            ("on-accent", "accent"),
            ("on-accent", "accent-dark"),
            ("bar-fg", "bar"),
            ("bar-fg", "bar-hover"),
            ("bad-strong", "bad-bg"),
            ("bad", "card"),
            ("good", "card"),
        ];
        for (name, css) in [("admin.css", ADMIN_CSS), ("bouncer.css", CSS)] {
            readable(name, css, &BADGES);
            readable(name, css, &texts);
            // The badges take their colours from these variables.
            for (fg, bg) in BADGES {
                assert!(
                    css.contains(&format!(
                        ".badge.{fg} {{ color: var(--{fg}); background: var(--{bg}); }}"
                    )),
                    "{name}: .badge.{fg}"
                );
            }
        }
        readable(
            "admin.css",
            ADMIN_CSS,
            &[
                ("good-strong", "good-bg"),
                ("note", "note-bg"),
                ("accent", "note-bg"),
                ("fg", "input"),
                ("accent", "head"),
            ],
        );
    }

    /// The dark scheme is dark: it redefines the page's and the cards'
    /// backgrounds to dark colours (the light ones being light), with text
    /// lighter than them. How the pages fit a phone and that they render
    /// dark in a browser is checked by `tests/pages_browser.rs`.
    #[test]
    fn the_dark_scheme_is_dark() {
        for (name, css) in [("admin.css", ADMIN_CSS), ("bouncer.css", CSS)] {
            let [(_, light), (_, dark)] = schemes(css);
            for bg in ["bg", "card"] {
                let (l, d) = (luminance(&light[bg]), luminance(&dark[bg]));
                assert!(l > 0.8, "{name}: light --{bg} {} is not light", light[bg]);
                assert!(d < 0.05, "{name}: dark --{bg} {} is not dark", dark[bg]);
                assert!(
                    luminance(&dark["fg"]) > 0.5,
                    "{name}: dark --fg {} on --{bg} {}",
                    dark["fg"],
                    dark[bg]
                );
            }
        }
    }
}
