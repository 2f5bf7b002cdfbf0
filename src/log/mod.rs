//! Structured event logs: one line per event on stderr in logfmt,
//! `ts=2026-11-26T04:55:01Z level=info msg="admin login" user=ann client=10.0.0.7`.
//! The level (error, warn, info, debug) comes from `serve --log-level`, else
//! the environment variable `BOUNCER_LOG`, else info. The request log is
//! [`access`]; the few lines scripts parse (`bouncer: listening on …`) are
//! printed as they always were, not through here.

pub mod access;

use std::fmt::{Display, Write as _};
use std::io::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::error::{Error, Result};

/// How much is logged: each level includes those before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Something failed.
    Error = 1,
    /// Something is wrong but work goes on.
    Warn = 2,
    /// What an operator wants to know happened (logins, sentry runs).
    Info = 3,
    /// Detail for finding a problem.
    Debug = 4,
}

impl Level {
    /// Parses `error`, `warn` (or `warning`), `info` or `debug`, any case.
    pub fn parse(s: &str) -> Option<Level> {
        match s.trim().to_ascii_lowercase().as_str() {
            "error" => Some(Level::Error),
            "warn" | "warning" => Some(Level::Warn),
            "info" => Some(Level::Info),
            "debug" => Some(Level::Debug),
            _ => None,
        }
    }

    /// Its name in log lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }

    fn from_u8(n: u8) -> Option<Level> {
        match n {
            1 => Some(Level::Error),
            2 => Some(Level::Warn),
            3 => Some(Level::Info),
            4 => Some(Level::Debug),
            _ => None,
        }
    }
}

/// The environment variable that sets the level when no flag does.
pub const ENV: &str = "BOUNCER_LOG";

/// The level in force; 0 until set or first read.
static LEVEL: AtomicU8 = AtomicU8::new(0);

/// Sets the level from `flag` (`serve --log-level`), else from
/// [`ENV`], else info. A value that is no level is an error that names
/// the choices.
pub fn init(flag: Option<&str>) -> Result<Level> {
    let (what, value) = match flag {
        Some(v) => ("--log-level", Some(v.to_string())),
        None => (
            ENV,
            std::env::var(ENV).ok().filter(|v| !v.trim().is_empty()),
        ),
    };
    let level = match value {
        None => Level::Info,
        Some(v) => Level::parse(&v).ok_or_else(|| {
            Error::invalid(
                "log level",
                format!("{what} {v:?} is not a level; use error, warn, info or debug"),
            )
        })?,
    };
    set_level(level);
    Ok(level)
}

/// Sets the level.
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// The level in force (from [`ENV`] if nothing set it yet; info when that
/// is unset or no level).
pub fn level() -> Level {
    if let Some(level) = Level::from_u8(LEVEL.load(Ordering::Relaxed)) {
        return level;
    }
    let level = std::env::var(ENV)
        .ok()
        .and_then(|v| Level::parse(&v))
        .unwrap_or(Level::Info);
    set_level(level);
    level
}

/// Whether events at `level` are written.
pub fn enabled(level: Level) -> bool {
    level <= self::level()
}

/// A key and its value, for the functions below.
pub type Field<'a> = (&'a str, &'a dyn Display);

/// Logs an error: `msg` and `fields` as one logfmt line on stderr.
pub fn error(msg: &str, fields: &[Field<'_>]) {
    event(Level::Error, msg, fields);
}

/// Logs a warning.
pub fn warn(msg: &str, fields: &[Field<'_>]) {
    event(Level::Warn, msg, fields);
}

/// Logs an event an operator wants to know about.
pub fn info(msg: &str, fields: &[Field<'_>]) {
    event(Level::Info, msg, fields);
}

/// Logs detail.
pub fn debug(msg: &str, fields: &[Field<'_>]) {
    event(Level::Debug, msg, fields);
}

/// Writes one event if its level is enabled (one write, so lines from
/// several threads never interleave).
pub fn event(level: Level, msg: &str, fields: &[Field<'_>]) {
    if !enabled(level) {
        return;
    }
    let mut line = self::line(crate::model::now(), level, msg, fields);
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// One event as a logfmt line (without the newline): `ts`, `level` and
/// `msg` first (`msg` always quoted), then `fields` in order. Keys are
/// kept to `[A-Za-z0-9_.-]` (anything else becomes `_`).
pub fn line(unix_secs: u64, level: Level, msg: &str, fields: &[Field<'_>]) -> String {
    let mut out = String::with_capacity(64 + msg.len() + 24 * fields.len());
    out.push_str("ts=");
    out.push_str(&timestamp(unix_secs));
    out.push_str(" level=");
    out.push_str(level.as_str());
    out.push_str(" msg=");
    quoted(&mut out, msg);
    let mut value = String::new();
    for (key, v) in fields {
        out.push(' ');
        if key.is_empty() {
            out.push('_');
        }
        out.extend(key.chars().map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        }));
        out.push('=');
        value.clear();
        let _ = write!(value, "{v}");
        push_value(&mut out, &value);
    }
    out
}

/// Appends a logfmt value: as it is when it is a plain word, else quoted
/// (empty values, spaces, `=`, quotes, backslashes, control characters).
pub fn push_value(out: &mut String, value: &str) {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !matches!(c, '"' | '=' | '\\'));
    if plain {
        out.push_str(value);
    } else {
        quoted(out, value);
    }
}

/// Appends `value` in double quotes with `"`, `\` and control characters
/// escaped (`\"`, `\\`, `\n`, `\r`, `\t`, `\u{1b}`).
fn quoted(out: &mut String, value: &str) {
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// RFC 3339 UTC to the second: `2026-11-26T04:55:01Z`.
pub fn timestamp(unix_secs: u64) -> String {
    let (year, month, day) = crate::model::civil(unix_secs);
    let s = unix_secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits a logfmt line into (key, value) pairs, unescaping quoted
    /// values; `None` for anything malformed.
    pub(crate) fn parse(line: &str) -> Option<Vec<(String, String)>> {
        let mut out = Vec::new();
        let mut chars = line.chars().peekable();
        loop {
            while chars.peek() == Some(&' ') {
                chars.next();
            }
            if chars.peek().is_none() {
                return Some(out);
            }
            let mut key = String::new();
            loop {
                match chars.next()? {
                    '=' => break,
                    c if c.is_ascii_alphanumeric() || "_.-".contains(c) => key.push(c),
                    _ => return None,
                }
            }
            let mut value = String::new();
            if chars.peek() == Some(&'"') {
                chars.next();
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            'n' => value.push('\n'),
                            'r' => value.push('\r'),
                            't' => value.push('\t'),
                            'u' => {
                                let rest: String =
                                    chars.by_ref().take_while(|c| *c != '}').collect();
                                let hex = rest.strip_prefix('{')?;
                                value.push(char::from_u32(u32::from_str_radix(hex, 16).ok()?)?);
                            }
                            c @ ('"' | '\\') => value.push(c),
                            _ => return None,
                        },
                        c => value.push(c),
                    }
                }
                if !matches!(chars.peek(), None | Some(' ')) {
                    return None;
                }
            } else {
                while let Some(&c) = chars.peek() {
                    if c == ' ' {
                        break;
                    }
                    if c == '"' || c == '=' {
                        return None;
                    }
                    value.push(c);
                    chars.next();
                }
            }
            out.push((key, value));
        }
    }

    #[test]
    fn levels_parse_and_order() {
        assert_eq!(Level::parse("WARN"), Some(Level::Warn));
        assert_eq!(Level::parse("warning"), Some(Level::Warn));
        assert_eq!(Level::parse(" debug "), Some(Level::Debug));
        assert_eq!(Level::parse("verbose"), None);
        assert!(Level::Error < Level::Warn && Level::Info < Level::Debug);
        for l in [Level::Error, Level::Warn, Level::Info, Level::Debug] {
            assert_eq!(Level::parse(l.as_str()), Some(l));
            assert_eq!(Level::from_u8(l as u8), Some(l));
        }
    }

    #[test]
    fn an_unknown_level_is_refused_with_the_choices() {
        let e = init(Some("loud")).unwrap_err().to_string();
        assert!(
            e.contains("loud") && e.contains("error, warn, info or debug"),
            "{e}"
        );
    }

    #[test]
    fn lines_are_logfmt() {
        let client: std::net::IpAddr = "10.0.0.7".parse().unwrap();
        let l = line(
            1_795_668_901,
            Level::Info,
            "admin login",
            &[("user", &"ann"), ("client", &client), ("n", &3)],
        );
        assert_eq!(
            l,
            r#"ts=2026-11-26T04:55:01Z level=info msg="admin login" user=ann client=10.0.0.7 n=3"#
        );
        let pairs = parse(&l).unwrap();
        assert_eq!(pairs[2], ("msg".to_string(), "admin login".to_string()));
    }

    #[test]
    fn values_are_quoted_and_escaped_when_needed() {
        let hostile = "a \"quoted\" word\nlevel=error msg=\\forged\u{1b}[31m";
        let l = line(
            0,
            Level::Warn,
            "say \"hi\"",
            &[("who", &hostile), ("empty", &"")],
        );
        assert_eq!(l.lines().count(), 1, "{l}");
        assert!(l.contains(r#"msg="say \"hi\"""#), "{l}");
        assert!(l.contains(r#"empty="""#), "{l}");
        let pairs = parse(&l).unwrap();
        let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["ts", "level", "msg", "who", "empty"]);
        assert_eq!(pairs[1].1, "warn");
        assert_eq!(pairs[2].1, "say \"hi\"");
        assert_eq!(pairs[3].1, hostile);
        assert_eq!(pairs[4].1, "");
        // Odd keys cannot break the line either.
        let l = line(0, Level::Info, "m", &[("a key=", &1), ("", &2)]);
        assert!(l.ends_with(" a_key_=1 _=2"), "{l}");
        assert!(parse(&l).is_some());
    }

    #[test]
    fn plain_values_stay_bare() {
        let mut out = String::new();
        for v in ["x", "127.0.0.1:80", "/files/a.exe", "ü"] {
            out.clear();
            push_value(&mut out, v);
            assert_eq!(out, v);
        }
        for (v, q) in [("a b", r#""a b""#), ("a=b", r#""a=b""#), ("", r#""""#)] {
            out.clear();
            push_value(&mut out, v);
            assert_eq!(out, q);
        }
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(1_795_668_901), "2026-11-26T04:55:01Z");
    }
}
