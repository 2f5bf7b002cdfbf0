//! Structured event logs: events are emitted with `tracing`'s macros
//! (`tracing::info!(user = name, client = %client, "admin login")`), and
//! written one line per event on stderr, in logfmt by default,
//! `ts=2026-11-26T04:55:01Z level=info msg="admin login" user=ann client=10.0.0.7`,
//! or as JSON objects for log shippers ([`mod@format`]).
//!
//! What is written comes from `serve --log-level`, else the environment
//! variable `BOUNCER_LOG`, else info: a level (error, warn, info, debug),
//! optionally per module (`info,bouncer::sentry=debug`; an event's module
//! path is its target). The format comes from `serve --log-format`, else
//! `BOUNCER_LOG_FORMAT`, else logfmt. The request log is [`access`]; the
//! few lines scripts parse (`bouncer: listening on …`) are printed as
//! they always were, not through here.

pub mod access;
pub mod format;

use std::fmt::{Display, Write as _};

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;

use crate::error::{Error, Result};

pub use format::{Format, Lines};

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

    /// The level of a `tracing` event. Trace counts as debug: no filter
    /// here lets trace through, but a line must name a level we know.
    pub fn of(level: &tracing::Level) -> Level {
        match *level {
            tracing::Level::ERROR => Level::Error,
            tracing::Level::WARN => Level::Warn,
            tracing::Level::INFO => Level::Info,
            _ => Level::Debug,
        }
    }

    /// The `tracing` filter that lets this level and those before it
    /// through.
    fn filter(self) -> LevelFilter {
        match self {
            Level::Error => LevelFilter::ERROR,
            Level::Warn => LevelFilter::WARN,
            Level::Info => LevelFilter::INFO,
            Level::Debug => LevelFilter::DEBUG,
        }
    }
}

/// The environment variable that sets the levels when no flag does.
pub const ENV: &str = "BOUNCER_LOG";

/// The environment variable that sets the format when no flag does.
pub const FORMAT_ENV: &str = "BOUNCER_LOG_FORMAT";

/// What is logged and how: validated from a flag or the environment in
/// one step ([`Settings::read`]), then installed ([`Settings::install`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The level for events no module directive names.
    pub level: Level,
    /// `(module path, level)` directives, in the order given; the longest
    /// matching path wins, as in `tracing_subscriber`'s `Targets`.
    pub modules: Vec<(String, Level)>,
    /// How events are written.
    pub format: Format,
}

impl Default for Settings {
    /// Info, everywhere, in logfmt.
    fn default() -> Settings {
        Settings {
            level: Level::Info,
            modules: Vec::new(),
            format: Format::Logfmt,
        }
    }
}

impl Settings {
    /// Reads the levels from `level` (`serve --log-level`), else [`ENV`],
    /// and the format from `format` (`serve --log-format`), else
    /// [`FORMAT_ENV`]. A value that is not understood is an error that
    /// names where it came from and the choices.
    pub fn read(level: Option<&str>, format: Option<&str>) -> Result<Settings> {
        let (what, value) = from_flag_or_env("--log-level", level, ENV);
        let mut settings = match value {
            None => Settings::default(),
            Some(v) => Settings::parse_levels(&v).ok_or_else(|| {
                Error::invalid(
                    "log level",
                    format!(
                        "{what} {v:?} is not a level; use error, warn, info or debug, \
                         or a list such as info,bouncer::sentry=debug"
                    ),
                )
            })?,
        };
        let (what, value) = from_flag_or_env("--log-format", format, FORMAT_ENV);
        if let Some(v) = value {
            settings.format = Format::parse(&v).ok_or_else(|| {
                Error::invalid(
                    "log format",
                    format!("{what} {v:?} is not a log format; use logfmt or json"),
                )
            })?;
        }
        Ok(settings)
    }

    /// Parses comma-separated directives: a level (`debug`) sets the
    /// default, `module::path=level` sets a module and those under it.
    /// Without a bare level the default stays info, so naming one module
    /// does not silence the rest. `None` for anything else, and for no
    /// directive at all.
    pub fn parse_levels(s: &str) -> Option<Settings> {
        if s.trim().is_empty() {
            return None;
        }
        let mut settings = Settings::default();
        for directive in s.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            match directive.split_once('=') {
                None => settings.level = Level::parse(directive)?,
                Some((module, level)) => {
                    let module = module.trim();
                    let path_like = !module.is_empty()
                        && module.split("::").all(|seg| {
                            !seg.is_empty()
                                && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        });
                    if !path_like {
                        return None;
                    }
                    settings
                        .modules
                        .push((module.to_string(), Level::parse(level)?));
                }
            }
        }
        Some(settings)
    }

    /// The filter these settings describe.
    pub fn targets(&self) -> Targets {
        Targets::new()
            .with_default(self.level.filter())
            .with_targets(self.modules.iter().map(|(m, l)| (m.clone(), l.filter())))
    }

    /// A subscriber that filters by these settings and writes `lines` to
    /// `writer` (stderr when installed; a buffer in tests).
    fn subscriber<W>(
        &self,
        lines: Lines,
        writer: W,
    ) -> impl tracing::Subscriber + Send + Sync + 'static
    where
        W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    {
        tracing_subscriber::registry().with(self.targets()).with(
            tracing_subscriber::fmt::layer()
                .event_format(lines)
                .with_writer(writer),
        )
    }

    /// Makes these settings the process's logger, writing to stderr (each
    /// line in one write, so lines from several threads never
    /// interleave). The first call wins: a process serves once.
    pub fn install(&self) {
        // Err only when a logger is installed already; it stays.
        let _ = tracing::subscriber::set_global_default(
            self.subscriber(Lines::new(self.format), std::io::stderr),
        );
    }
}

/// `flag` named as `flag_name` if given, else the environment variable
/// `env` when set and not blank.
fn from_flag_or_env(
    flag_name: &'static str,
    flag: Option<&str>,
    env: &'static str,
) -> (&'static str, Option<String>) {
    match flag {
        Some(v) => (flag_name, Some(v.to_string())),
        None => (
            env,
            std::env::var(env).ok().filter(|v| !v.trim().is_empty()),
        ),
    }
}

/// Installs the logger from `level` (`serve --log-level`), else [`ENV`],
/// and `format` (`serve --log-format`), else [`FORMAT_ENV`]; a value that
/// is not understood is an error and nothing is installed.
pub fn init(level: Option<&str>, format: Option<&str>) -> Result<Settings> {
    let settings = Settings::read(level, format)?;
    settings.install();
    Ok(settings)
}

/// Installs the logger from the environment, falling back to the default
/// (info, logfmt) for values not understood: for `demo`, which has no
/// flags for it and has always run whatever `BOUNCER_LOG` said.
pub fn init_from_env() {
    let env = |name| std::env::var(name).ok();
    let mut settings = env(ENV)
        .and_then(|v| Settings::parse_levels(&v))
        .unwrap_or_default();
    if let Some(format) = env(FORMAT_ENV).and_then(|v| Format::parse(&v)) {
        settings.format = format;
    }
    settings.install();
}

/// A key and its value, for [`line()`].
pub type Field<'a> = (&'a str, &'a dyn Display);

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
            let traced = match l {
                Level::Error => tracing::Level::ERROR,
                Level::Warn => tracing::Level::WARN,
                Level::Info => tracing::Level::INFO,
                Level::Debug => tracing::Level::DEBUG,
            };
            assert_eq!(Level::of(&traced), l);
        }
    }

    #[test]
    fn an_unknown_level_is_refused_with_the_choices() {
        let e = init(Some("loud"), None).unwrap_err().to_string();
        assert!(
            e.contains("loud") && e.contains("error, warn, info or debug"),
            "{e}"
        );
    }

    #[test]
    fn level_lists_parse_with_info_as_the_default() {
        let s = Settings::parse_levels("info,bouncer::sentry=debug").unwrap();
        assert_eq!(s.level, Level::Info);
        assert_eq!(s.modules, [("bouncer::sentry".to_string(), Level::Debug)]);
        // Naming one module keeps the rest at info.
        let s = Settings::parse_levels(" bouncer::admin = warning ").unwrap();
        assert_eq!(s.level, Level::Info);
        assert_eq!(s.modules, [("bouncer::admin".to_string(), Level::Warn)]);
        assert_eq!(Settings::parse_levels("DEBUG").unwrap().level, Level::Debug);
        for bad in [
            "",
            " ",
            "chatty",
            "trace",
            "=debug",
            "bouncer::=info",
            "bouncer sentry=info",
            "bouncer::sentry=loud",
            "info,bouncer::sentry",
            "a=b=c",
        ] {
            assert_eq!(Settings::parse_levels(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_flag_wins_and_names_itself_when_refused() {
        let s = Settings::read(Some("warn,bouncer::sentry=debug"), Some("json")).unwrap();
        assert_eq!(s.level, Level::Warn);
        assert_eq!(s.format, Format::Json);
        let e = Settings::read(Some("info"), Some("xml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--log-format") && e.contains("logfmt or json"),
            "{e}"
        );
        let e = Settings::read(Some("bouncer::x=loud"), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--log-level") && e.contains("bouncer::x=loud"),
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
