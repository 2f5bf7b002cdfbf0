//! The access log (`serve --access-log FILE`): one line per request in NCSA
//! common or combined format, `203.0.113.9 - - [26/Nov/2026:04:55:01 +0000]
//! "GET /?product=fx HTTP/1.1" 302 - "-" "curl/8.5"`.
//!
//! The request path only copies a small fixed-size [`Entry`] (no
//! allocation, no formatting, no lock) into a bounded channel; when the
//! channel is full the entry is dropped and counted
//! (`bouncer_access_log_dropped_total`), never waited for. One thread
//! formats, writes through a buffer, flushes at least every second and on
//! shutdown, and reopens the file when asked ([`AccessLog::reopen`], on
//! SIGHUP), for log rotation by renaming.

use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use hyper::header::{REFERER, USER_AGENT};
use hyper::{Request, StatusCode, Version};

use crate::error::{Error, Result};

/// Which NCSA format lines are written in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// `host - - [time] "request" status bytes`.
    Common,
    /// Common, then `"referer" "user-agent"`.
    #[default]
    Combined,
}

impl Format {
    /// Parses `common` or `combined`.
    pub fn parse(s: &str) -> Result<Format> {
        match s.trim().to_ascii_lowercase().as_str() {
            "common" => Ok(Format::Common),
            "combined" => Ok(Format::Combined),
            _ => Err(Error::invalid(
                "access log format",
                format!("{s:?} is not a format; use common or combined"),
            )),
        }
    }
}

/// Room for an entry's method, request target, referer and user agent.
const TEXT: usize = 1008;
/// The longest method kept.
const MAX_METHOD: usize = 16;
/// The longest request target kept (longer ones are cut and end in `...`).
const MAX_TARGET: usize = 512;
/// The longest referer kept; the user agent gets what is left (240 bytes).
const MAX_REFERER: usize = 240;

/// One request, as the request path hands it over: fixed size, no heap.
#[derive(Clone)]
pub struct Entry {
    /// Unix seconds when the request arrived.
    at: u64,
    client: IpAddr,
    version: Version,
    status: u16,
    bytes: u64,
    /// Lengths of method, target, referer and user agent in `text`.
    lens: [u16; 4],
    /// Which of them were cut (bit per field).
    cut: u8,
    text: [u8; TEXT],
}

impl Entry {
    /// Copies what the log needs from `req`, arriving now from `client`
    /// (its address after trusted proxies). Long fields are cut.
    pub fn new<B>(client: IpAddr, req: &Request<B>) -> Entry {
        let target = req
            .uri()
            .path_and_query()
            .map_or_else(|| req.uri().path(), |p| p.as_str());
        let header = |name| req.headers().get(name).map_or(&[][..], |v| v.as_bytes());
        let mut entry = Entry {
            at: crate::model::now(),
            client,
            version: req.version(),
            status: 0,
            bytes: 0,
            lens: [0; 4],
            cut: 0,
            text: [0; TEXT],
        };
        let mut at = 0;
        let fields: [(&[u8], usize); 4] = [
            (req.method().as_str().as_bytes(), MAX_METHOD),
            (target.as_bytes(), MAX_TARGET),
            (header(REFERER), MAX_REFERER),
            (header(USER_AGENT), TEXT),
        ];
        for (i, (bytes, max)) in fields.into_iter().enumerate() {
            let n = bytes.len().min(max).min(TEXT - at);
            entry.text[at..at + n].copy_from_slice(&bytes[..n]);
            entry.lens[i] = n as u16;
            if n < bytes.len() {
                entry.cut |= 1 << i;
            }
            at += n;
        }
        entry
    }

    /// Sets the answer: its status and body length (none sent for HEAD).
    pub fn answered(&mut self, status: StatusCode, bytes: u64) {
        self.status = status.as_u16();
        self.bytes = if self.field(0).0 == b"HEAD" { 0 } else { bytes };
    }

    /// Field `i` (method, target, referer, user agent) and whether it was cut.
    fn field(&self, i: usize) -> (&[u8], bool) {
        let start: usize = self.lens[..i].iter().map(|&n| usize::from(n)).sum();
        let end = start + usize::from(self.lens[i]);
        (&self.text[start..end], self.cut & (1 << i) != 0)
    }
}

/// Appends `entry` as one line (with its newline) in `format`; `date` is
/// its time as `[26/Nov/2026:04:55:01 +0000]` ([`clf_date`]). Quoted
/// fields escape `"` and `\` with a backslash, and control and non-ASCII
/// bytes as `\n`, `\r`, `\t` or `\xHH`, so no client can forge a line.
pub fn write_line(entry: &Entry, format: Format, date: &str, out: &mut Vec<u8>) {
    let _ = write!(out, "{} - - {date} \"", entry.client);
    let (method, _) = entry.field(0);
    escape(method, false, out);
    out.push(b' ');
    let (target, cut) = entry.field(1);
    escape(target, cut, out);
    out.extend_from_slice(match entry.version {
        Version::HTTP_10 => b" HTTP/1.0\" ",
        Version::HTTP_09 => b" HTTP/0.9\" ",
        Version::HTTP_2 => b" HTTP/2.0\" ",
        _ => b" HTTP/1.1\" ",
    });
    let _ = write!(out, "{} ", entry.status);
    if entry.bytes == 0 {
        out.push(b'-');
    } else {
        let _ = write!(out, "{}", entry.bytes);
    }
    if format == Format::Combined {
        for i in [2, 3] {
            let (value, cut) = entry.field(i);
            out.extend_from_slice(b" \"");
            if value.is_empty() {
                out.push(b'-');
            } else {
                escape(value, cut, out);
            }
            out.push(b'"');
        }
    }
    out.push(b'\n');
}

/// `entry` as a line (without its newline), for tests and tools.
pub fn line(entry: &Entry, format: Format) -> String {
    let mut out = Vec::new();
    write_line(entry, format, &clf_date(entry.at), &mut out);
    out.pop();
    String::from_utf8(out).expect("escaped lines are ASCII")
}

fn escape(bytes: &[u8], cut: bool, out: &mut Vec<u8>) {
    for &b in bytes {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x20..=0x7e => out.push(b),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    if cut {
        out.extend_from_slice(b"...");
    }
}

/// The common log format's time: `[26/Nov/2026:04:55:01 +0000]` (UTC).
pub fn clf_date(unix_secs: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (year, month, day) = crate::model::civil(unix_secs);
    let s = unix_secs % 86_400;
    format!(
        "[{day:02}/{}/{year:04}:{:02}:{:02}:{:02} +0000]",
        MONTHS[(month - 1) as usize],
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Entries waiting for the writer, at most (about 4 MB).
const CAPACITY: usize = 4096;
/// How long the writer lets entries gather while requests keep coming.
const POLL: Duration = Duration::from_millis(10);
/// How long the writer waits for a first entry before looking at its
/// flags (stop, reopen) again.
const IDLE: Duration = Duration::from_millis(250);

/// Flags the writer thread reads.
#[derive(Default)]
struct Control {
    stop: AtomicBool,
    reopen: AtomicBool,
}

/// The access log: a bounded channel to one writer thread.
pub struct AccessLog {
    sender: SyncSender<Entry>,
    dropped: AtomicU64,
    control: Arc<Control>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl AccessLog {
    /// Opens (creates, appends to) `path` and starts the writer.
    pub fn open(path: &Path, format: Format) -> Result<AccessLog> {
        let file = append(path)?;
        let (sender, receiver) = std::sync::mpsc::sync_channel(CAPACITY);
        let control = Arc::new(Control::default());
        let writer = Writer {
            path: path.to_path_buf(),
            format,
            file: std::io::BufWriter::with_capacity(64 * 1024, file),
            failing: false,
            date: (u64::MAX, String::new()),
            line: Vec::with_capacity(512),
        };
        let flags = control.clone();
        let thread = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || writer.run(&receiver, &flags))
            .map_err(|e| Error::io("cannot start the access log writer", e))?;
        Ok(AccessLog {
            sender,
            dropped: AtomicU64::new(0),
            control,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Hands `entry` to the writer; never blocks: when the writer is
    /// behind (or stopped) the entry is dropped and counted.
    pub fn log(&self, entry: Entry) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.sender.try_send(entry)
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Entries dropped because the writer was behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Asks the writer to flush and reopen the file (after a rotation
    /// renamed it); done within a quarter of a second.
    pub fn reopen(&self) {
        self.control.reopen.store(true, Ordering::Release);
    }

    /// Writes what is queued, flushes and stops the writer.
    pub fn stop(&self) {
        self.control.stop.store(true, Ordering::Release);
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        self.stop();
    }
}

fn append(path: &Path) -> Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| {
            Error::io(
                format!(
                    "cannot open the access log {}; check that its directory exists and is writable",
                    path.display()
                ),
                e,
            )
        })
}

struct Writer {
    path: PathBuf,
    format: Format,
    file: std::io::BufWriter<std::fs::File>,
    /// Whether the last write failed (said once, not per line).
    failing: bool,
    /// The second last formatted and its text.
    date: (u64, String),
    line: Vec<u8>,
}

impl Writer {
    fn run(mut self, receiver: &Receiver<Entry>, control: &Control) {
        // Written since the last flush (by the idle wait below).
        let mut waiting = 0;
        loop {
            // Read before draining: whatever was sent before `stop` is
            // written.
            let stopping = control.stop.load(Ordering::Acquire);
            let mut written = 0;
            while let Ok(entry) = receiver.try_recv() {
                self.write(&entry);
                written += 1;
            }
            if written + waiting > 0 {
                self.flush();
                waiting = 0;
            }
            if control.reopen.swap(false, Ordering::AcqRel) {
                self.reopen();
            }
            if stopping {
                self.flush();
                return;
            }
            if written > 0 {
                // Busy: let entries gather instead of being woken by each
                // one (a wake-up costs the request that sends it); a writer
                // far behind goes on at once.
                if written < CAPACITY / 2 {
                    std::thread::sleep(POLL);
                }
            } else {
                match receiver.recv_timeout(IDLE) {
                    Ok(entry) => {
                        self.write(&entry);
                        waiting = 1;
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => {
                        self.flush();
                        return;
                    }
                }
            }
        }
    }

    fn write(&mut self, entry: &Entry) {
        if self.date.0 != entry.at {
            self.date = (entry.at, clf_date(entry.at));
        }
        self.line.clear();
        write_line(entry, self.format, &self.date.1, &mut self.line);
        let result = self.file.write_all(&self.line);
        self.result(result);
    }

    fn flush(&mut self) {
        let result = self.file.flush();
        self.result(result);
    }

    fn result(&mut self, result: std::io::Result<()>) {
        match result {
            Ok(()) if self.failing => {
                self.failing = false;
                tracing::info!(file = %self.path.display(), "the access log is written again");
            }
            Ok(()) => {}
            Err(e) if !self.failing => {
                self.failing = true;
                tracing::error!(
                    file = %self.path.display(),
                    error = %e,
                    "cannot write the access log; lines are lost until it works again"
                );
            }
            Err(_) => {}
        }
    }

    fn reopen(&mut self) {
        self.flush();
        match append(&self.path) {
            Ok(file) => {
                self.file = std::io::BufWriter::with_capacity(64 * 1024, file);
                tracing::info!(file = %self.path.display(), "access log reopened");
            }
            Err(e) => tracing::error!(
                error = %e,
                "cannot reopen the access log; still writing to the old file"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(target: &str, headers: &[(&str, &[u8])]) -> Request<()> {
        let mut b = Request::get(target);
        for (n, v) in headers {
            b = b.header(*n, hyper::header::HeaderValue::from_bytes(v).unwrap());
        }
        b.body(()).unwrap()
    }

    fn entry(target: &str, headers: &[(&str, &[u8])], status: u16, bytes: u64) -> Entry {
        let mut e = Entry::new("203.0.113.9".parse().unwrap(), &request(target, headers));
        e.at = 1_795_668_901;
        e.answered(StatusCode::from_u16(status).unwrap(), bytes);
        e
    }

    #[test]
    fn common_and_combined_lines() {
        let e = entry(
            "/?product=fx&os=win",
            &[
                ("referer", b"https://example.org/"),
                ("user-agent", b"curl/8.5"),
            ],
            302,
            0,
        );
        assert_eq!(
            line(&e, Format::Common),
            r#"203.0.113.9 - - [26/Nov/2026:04:55:01 +0000] "GET /?product=fx&os=win HTTP/1.1" 302 -"#
        );
        assert_eq!(
            line(&e, Format::Combined),
            r#"203.0.113.9 - - [26/Nov/2026:04:55:01 +0000] "GET /?product=fx&os=win HTTP/1.1" 302 - "https://example.org/" "curl/8.5""#
        );
        let e = entry("/files/a.exe", &[], 404, 19);
        assert_eq!(
            line(&e, Format::Combined),
            r#"203.0.113.9 - - [26/Nov/2026:04:55:01 +0000] "GET /files/a.exe HTTP/1.1" 404 19 "-" "-""#
        );
    }

    #[test]
    fn hostile_headers_cannot_forge_fields_or_lines() {
        // What hyper lets through: quotes, backslashes, tabs, obs-text.
        let agent: &[u8] = b"x\" 200 1 \"evil\\ \t\xff\xfe end";
        let e = entry("/", &[("user-agent", agent), ("referer", b"\"")], 200, 5);
        let l = line(&e, Format::Combined);
        assert_eq!(l.lines().count(), 1, "{l}");
        assert!(
            l.ends_with(r#"200 5 "\"" "x\" 200 1 \"evil\\ \t\xff\xfe end""#),
            "{l}"
        );
        // And what it does not, should it ever.
        let mut out = Vec::new();
        escape(b"a\nb\r\x01\x7f", false, &mut out);
        assert_eq!(out, br"a\nb\r\x01\x7f");
        // Exactly the 6 unescaped quotes of the three quoted fields.
        let (mut quotes, mut escaped) = (0, false);
        for c in l.chars() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => quotes += 1,
                _ => escaped = false,
            }
        }
        assert_eq!(quotes, 6, "{l}");
    }

    #[test]
    fn long_fields_are_cut_and_marked() {
        let long = format!("/files/{}", "a".repeat(2000));
        let agent = vec![b'b'; 2000];
        let e = entry(&long, &[("user-agent", &agent)], 404, 0);
        let l = line(&e, Format::Combined);
        let target = format!("{}...", &long[..MAX_TARGET]);
        assert!(l.contains(&format!("\"GET {target} HTTP/1.1\"")), "{l}");
        let kept = TEXT - 3 - MAX_TARGET;
        assert!(
            l.ends_with(&format!("\"-\" \"{}...\"", "b".repeat(kept))),
            "{l}"
        );
    }

    #[test]
    fn other_versions_and_methods() {
        let mut req = request("/x?y", &[]);
        *req.version_mut() = Version::HTTP_10;
        *req.method_mut() = hyper::Method::HEAD;
        let mut e = Entry::new("::1".parse().unwrap(), &req);
        e.answered(StatusCode::OK, 100);
        let l = line(&e, Format::Common);
        assert!(l.starts_with("::1 - - ["), "{l}");
        assert!(l.ends_with("] \"HEAD /x?y HTTP/1.0\" 200 -"), "{l}");
    }

    #[test]
    fn formats_parse() {
        assert_eq!(Format::parse("Common").unwrap(), Format::Common);
        assert_eq!(Format::parse("combined").unwrap(), Format::Combined);
        let e = Format::parse("json").unwrap_err().to_string();
        assert!(e.contains("common or combined"), "{e}");
    }

    #[test]
    fn the_writer_writes_every_line_and_flushes_on_stop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let log = AccessLog::open(&path, Format::Common).unwrap();
        for i in 0..100 {
            log.log(entry(&format!("/?n={i}"), &[], 302, 0));
        }
        log.stop();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 100);
        assert!(
            lines[99].contains("\"GET /?n=99 HTTP/1.1\" 302 -"),
            "{}",
            lines[99]
        );
        assert_eq!(log.dropped(), 0);
        // Stopped: further entries are dropped and counted, never waited for.
        log.log(entry("/", &[], 302, 0));
        assert_eq!(log.dropped(), 1);
    }

    #[test]
    fn reopen_follows_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let log = AccessLog::open(&path, Format::Common).unwrap();
        log.log(entry("/?before", &[], 302, 0));
        // Wait (bounded) for the first line, rotate, reopen.
        let start = std::time::Instant::now();
        while std::fs::read_to_string(&path).unwrap().is_empty() {
            assert!(start.elapsed() < Duration::from_secs(10), "nothing written");
            std::thread::sleep(Duration::from_millis(5));
        }
        let rotated = dir.path().join("access.log.1");
        std::fs::rename(&path, &rotated).unwrap();
        log.reopen();
        let start = std::time::Instant::now();
        while !path.exists() {
            assert!(start.elapsed() < Duration::from_secs(10), "not reopened");
            std::thread::sleep(Duration::from_millis(5));
        }
        log.log(entry("/?after", &[], 302, 0));
        log.stop();
        let old = std::fs::read_to_string(&rotated).unwrap();
        let new = std::fs::read_to_string(&path).unwrap();
        assert!(
            old.contains("/?before") && !old.contains("/?after"),
            "{old}"
        );
        assert!(
            new.contains("/?after") && !new.contains("/?before"),
            "{new}"
        );
    }

    #[test]
    fn an_unwritable_path_is_refused_with_advice() {
        let e = AccessLog::open(Path::new("/nonexistent/dir/access.log"), Format::Combined)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("/nonexistent/dir/access.log") && e.contains("directory"),
            "{e}"
        );
    }
}
