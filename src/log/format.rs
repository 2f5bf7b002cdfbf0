//! How an event becomes a line: logfmt, exactly what [`super::line`]
//! makes, or one JSON object with the same keys for log shippers.

use std::fmt::{self, Display};

use tracing::field::{Field, Visit};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use super::Level;

/// The shape of a line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// `ts=… level=info msg="…" key=value …`, what scripts parse.
    #[default]
    Logfmt,
    /// `{"ts":"…","level":"info","msg":"…","target":"bouncer::…","key":value,…}`.
    Json,
}

impl Format {
    /// Parses `logfmt` or `json`, any case.
    pub fn parse(s: &str) -> Option<Format> {
        match s.trim().to_ascii_lowercase().as_str() {
            "logfmt" => Some(Format::Logfmt),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// The `tracing_subscriber` event formatter that writes our lines.
#[derive(Clone, Copy, Debug)]
pub struct Lines {
    format: Format,
    /// Seconds since the epoch now; tests pass a fixed clock.
    clock: fn() -> u64,
}

impl Lines {
    /// Lines in `format`, stamped with the wall clock.
    pub fn new(format: Format) -> Lines {
        Lines {
            format,
            clock: crate::model::now,
        }
    }

    /// Lines stamped by `clock` instead (for tests).
    pub fn with_clock(format: Format, clock: fn() -> u64) -> Lines {
        Lines { format, clock }
    }
}

impl<S, N> FormatEvent<S, N> for Lines
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        let level = Level::of(meta.level());
        let mut line = match self.format {
            Format::Logfmt => {
                let pairs: Vec<super::Field<'_>> = fields
                    .pairs
                    .iter()
                    .map(|(k, v)| (*k, v as &dyn Display))
                    .collect();
                super::line((self.clock)(), level, &fields.message, &pairs)
            }
            Format::Json => json((self.clock)(), level, meta.target(), &fields),
        };
        line.push('\n');
        writer.write_str(&line)
    }
}

/// An event's message and its other fields in the order they were given.
#[derive(Default)]
struct Fields {
    message: String,
    pairs: Vec<(&'static str, Value)>,
}

/// A field's value, kept typed so JSON can write numbers as numbers.
enum Value {
    Text(String),
    /// A finite number, already in its `Display` form.
    Number(String),
    Bool(bool),
}

impl Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Text(s) | Value::Number(s) => f.write_str(s),
            Value::Bool(b) => b.fmt(f),
        }
    }
}

impl Fields {
    fn push(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.pairs.push((field.name(), value));
        }
    }
}

// Every value is written with `Display`, as the old logger did: `%x`
// arrives through `record_debug` as a wrapper whose Debug is Display;
// numbers, strings and errors are turned back to their Display form.
impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, Value::Text(format!("{value:?}")));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, Value::Text(value.to_string()));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field, Value::Text(value.to_string()));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::Bool(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::Number(value.to_string()));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, Value::Number(value.to_string()));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.push(field, Value::Number(value.to_string()));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.push(field, Value::Number(value.to_string()));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity: those stay text.
        let v = value.to_string();
        self.push(
            field,
            if value.is_finite() {
                Value::Number(v)
            } else {
                Value::Text(v)
            },
        );
    }
}

/// One event as a JSON object (without the newline): `ts`, `level`,
/// `msg` and `target` first, then the fields in order.
fn json(unix_secs: u64, level: Level, target: &str, fields: &Fields) -> String {
    let mut out = String::with_capacity(96 + fields.message.len() + 24 * fields.pairs.len());
    out.push_str("{\"ts\":\"");
    out.push_str(&super::timestamp(unix_secs));
    out.push_str("\",\"level\":\"");
    out.push_str(level.as_str());
    out.push_str("\",\"msg\":");
    json_string(&mut out, &fields.message);
    out.push_str(",\"target\":");
    json_string(&mut out, target);
    for (key, value) in &fields.pairs {
        out.push(',');
        json_string(&mut out, key);
        out.push(':');
        match value {
            Value::Text(s) => json_string(&mut out, s),
            Value::Number(n) => out.push_str(n),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        }
    }
    out.push('}');
    out
}

/// Appends `s` as a JSON string.
fn json_string(out: &mut String, s: &str) {
    // Serializing a str into a String cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::super::{Level, Settings, line};
    use super::*;

    /// What a subscriber wrote, shared with the test that reads it.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Capture {
        type Writer = Capture;
        fn make_writer(&'a self) -> Capture {
            self.clone()
        }
    }

    const T: u64 = 1_795_668_901;

    /// The text `emit` logs under `settings`, stamped at `T`.
    fn logged(settings: &Settings, emit: impl FnOnce()) -> String {
        let capture = Capture::default();
        let lines = Lines::with_clock(settings.format, || T);
        let subscriber = settings.subscriber(lines, capture.clone());
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = capture.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    fn logfmt(emit: impl FnOnce()) -> String {
        logged(&Settings::default(), emit)
    }

    #[test]
    fn events_are_the_old_logfmt_lines_byte_for_byte() {
        let client: std::net::IpAddr = "10.0.0.7".parse().unwrap();
        let name = "ann";
        let got = logfmt(|| tracing::info!(user = name, client = %client, n = 3, "admin login"));
        let want = line(
            T,
            Level::Info,
            "admin login",
            &[("user", &name), ("client", &client), ("n", &3)],
        );
        assert_eq!(got, format!("{want}\n"));
        assert_eq!(
            got,
            "ts=2026-11-26T04:55:01Z level=info msg=\"admin login\" user=ann client=10.0.0.7 n=3\n"
        );

        // Sentry's run, as `tests/metrics.rs` looks for it.
        let got = logfmt(
            || tracing::info!(mode = "new", run = %7u64, checks = %12, failures = %0, changes = %1, "sentry run"),
        );
        assert_eq!(
            got,
            "ts=2026-11-26T04:55:01Z level=info msg=\"sentry run\" mode=new run=7 checks=12 failures=0 changes=1\n"
        );
    }

    #[test]
    fn hostile_values_are_quoted_as_before() {
        let hostile = "a \"quoted\" word\nlevel=error msg=\\forged\u{1b}[31m\r\tend";
        let got =
            logfmt(|| tracing::warn!(who = hostile, shown = %hostile, empty = "", "say \"hi\""));
        let want = line(
            T,
            Level::Warn,
            "say \"hi\"",
            &[("who", &hostile), ("shown", &hostile), ("empty", &"")],
        );
        assert_eq!(got, format!("{want}\n"));
        assert_eq!(got.lines().count(), 1, "{got}");
        let pairs = super::super::tests::parse(got.trim_end()).unwrap();
        assert_eq!(pairs[3].1, hostile);

        // Spaces and newlines in the message, odd keys, every value kind.
        let got = logfmt(|| {
            tracing::error!(
                "a key=" = 1,
                ok = true,
                ratio = 0.5,
                neg = -2,
                grace = ?std::time::Duration::from_millis(1500),
                "line one\nline two {}",
                "and more"
            )
        });
        let grace = std::time::Duration::from_millis(1500);
        let want = line(
            T,
            Level::Error,
            "line one\nline two and more",
            &[
                ("a key=", &1),
                ("ok", &true),
                ("ratio", &0.5),
                ("neg", &-2),
                ("grace", &format_args!("{grace:?}")),
            ],
        );
        assert_eq!(got, format!("{want}\n"));
        assert!(
            got.ends_with(" a_key_=1 ok=true ratio=0.5 neg=-2 grace=1.5s\n"),
            "{got}"
        );
    }

    #[test]
    fn errors_are_written_with_display() {
        let e = std::io::Error::other("disk full");
        let got = logfmt(|| tracing::error!(error = %e, "cannot write"));
        assert!(
            got.ends_with(" msg=\"cannot write\" error=\"disk full\"\n"),
            "{got}"
        );
        let dynamic: &(dyn std::error::Error + 'static) = &e;
        assert_eq!(
            logfmt(|| tracing::error!(error = dynamic, "cannot write")),
            got
        );
    }

    #[test]
    fn module_directives_filter_by_target() {
        let settings =
            Settings::parse_levels("warn,bouncer::sentry=debug,bouncer::sentry::probe=error")
                .unwrap();
        let got = logged(&settings, || {
            tracing::info!(target: "bouncer::admin", "admin info");
            tracing::warn!(target: "bouncer::admin", "admin warn");
            tracing::debug!(target: "bouncer::sentry", "sentry debug");
            tracing::debug!(target: "bouncer::sentry::pool", "pool debug");
            tracing::warn!(target: "bouncer::sentry::probe", "probe warn");
            tracing::error!(target: "bouncer::sentry::probe", "probe error");
            // This module's own path is the target of a plain event.
            tracing::info!("log info");
        });
        let msgs: Vec<&str> = got
            .lines()
            .map(|l| l.split_once(" msg=").unwrap().1)
            .collect();
        assert_eq!(
            msgs,
            [
                "\"admin warn\"",
                "\"sentry debug\"",
                "\"pool debug\"",
                "\"probe error\""
            ]
        );
        let settings = Settings::parse_levels("error,bouncer::log=info").unwrap();
        assert!(logged(&settings, || tracing::info!("log info")).contains("msg=\"log info\""));
    }

    #[test]
    fn json_has_the_same_keys_and_typed_values() {
        let settings = Settings {
            format: Format::Json,
            ..Settings::default()
        };
        let hostile = "a \"q\"\nb\\";
        let got = logged(
            &settings,
            || tracing::warn!(target: "bouncer::sentry", mode = "new", run = 7, ok = false, ratio = f64::NAN, who = %hostile, "sentry run raised an alarm"),
        );
        assert!(got.ends_with("}\n") && got.lines().count() == 1, "{got}");
        assert_eq!(
            got,
            "{\"ts\":\"2026-11-26T04:55:01Z\",\"level\":\"warn\",\"msg\":\"sentry run raised an alarm\",\"target\":\"bouncer::sentry\",\"mode\":\"new\",\"run\":7,\"ok\":false,\"ratio\":\"NaN\",\"who\":\"a \\\"q\\\"\\nb\\\\\"}\n"
        );
        let v: serde_json::Value = serde_json::from_str(&got).unwrap();
        assert_eq!(v["who"], hostile);
        assert_eq!(v["run"], 7);
        // Debug events stay out at the default level in JSON too.
        assert_eq!(logged(&settings, || tracing::debug!("hidden")), "");
    }

    #[test]
    fn formats_parse() {
        assert_eq!(Format::parse(" JSON "), Some(Format::Json));
        assert_eq!(Format::parse("logfmt"), Some(Format::Logfmt));
        assert_eq!(Format::parse("text"), None);
    }
}
