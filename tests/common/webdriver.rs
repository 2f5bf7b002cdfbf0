//! A small synchronous W3C WebDriver client for the browser tests: it runs
//! `chromedriver` on a free loopback port and drives one headless Chromium
//! session through it, over HTTP (`ureq`) with JSON bodies (`serde_json`).
//!
//! Test code, so every failure panics with what was asked, the WebDriver
//! error JSON, and (where it helps) the page's URL and the start of its
//! source. Every wait is bounded. A browser dropped while its test panics
//! saves a screenshot under [`screenshot_dir`] first.
//!
//! Use [`Browser::start_or_skip`] in tests: it skips (with a line on stderr)
//! where Chromium is not installed, and fails instead under CI (`CI` or
//! `BOUNCER_REQUIRE_TOOLS` set), so CI cannot pass by skipping.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use super::poll;

/// Chromium's launcher (Debian's `chromium`); env `CHROMIUM` overrides it.
const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's `chromium-driver`; env `CHROMEDRIVER` overrides it.
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long chromedriver may take to say it is ready.
const DRIVER_TIMEOUT: Duration = Duration::from_secs(20);
/// How long [`Browser::find`] and [`Browser::wait_for`] wait.
pub const WAIT: Duration = Duration::from_secs(10);
/// How often those waits look again.
const WAIT_EVERY: Duration = Duration::from_millis(50);
/// How long one WebDriver command may take (a page load included).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Page loads and scripts inside the browser (ms), below COMMAND_TIMEOUT.
const BROWSER_TIMEOUT_MS: u64 = 30_000;
/// Largest WebDriver answer read (a screenshot is base64 in JSON).
const MAX_ANSWER: u64 = 64 << 20;
/// How much page source a failure message shows.
const SOURCE_EXCERPT: usize = 2000;
/// The W3C key of an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Chromium's arguments. `--no-sandbox` because CI runs as root, where
/// Chromium refuses to start sandboxed; `--disable-dev-shm-usage` because
/// containers have a small /dev/shm. The rest keep it quiet and offline.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
];

fn chromium_path() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| CHROMIUM.into(), PathBuf::from)
}

fn chromedriver_path() -> PathBuf {
    std::env::var_os("CHROMEDRIVER").map_or_else(|| CHROMEDRIVER.into(), PathBuf::from)
}

/// Whether an environment variable is set to something other than empty,
/// `0` or `false`.
/// Where screenshots go: `$CARGO_TARGET_DIR/screenshots`, or
/// `<manifest dir>/target/screenshots`. CI keeps this directory.
pub fn screenshot_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => manifest.join(dir),
        None => manifest.join("target"),
    };
    target.join("screenshots")
}

/// A failed WebDriver exchange.
#[derive(Debug)]
enum WdError {
    /// No answer (refused, timed out, unreadable).
    Transport(String),
    /// An HTTP error status with (usually) the W3C error JSON.
    Status { status: u16, body: String },
}

impl std::fmt::Display for WdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WdError::Transport(e) => write!(f, "no answer from chromedriver: {e}"),
            WdError::Status { status, body } => {
                let Ok(json) = serde_json::from_str::<Value>(body) else {
                    return write!(f, "HTTP {status}: {}", excerpt(body, SOURCE_EXCERPT));
                };
                let value = &json["value"];
                write!(
                    f,
                    "HTTP {status}: {}: {}",
                    value["error"].as_str().unwrap_or("?"),
                    value["message"].as_str().unwrap_or("?")
                )?;
                // The rest of the JSON (data), without chromedriver's native
                // stack trace, which names no test code.
                let mut rest = value.clone();
                if let Some(map) = rest.as_object_mut() {
                    for key in ["error", "message", "stacktrace"] {
                        map.remove(key);
                    }
                    if !map.is_empty() {
                        write!(f, " {rest}")?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// The first `max` characters of `text`, marked when cut.
fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// A running chromedriver; its whole process group (Chromium included) is
/// killed when dropped.
struct Driver {
    child: Child,
    base: String,
    agent: ureq::Agent,
    log: PathBuf,
}

impl Driver {
    /// Starts chromedriver on a free port and waits (bounded) until it is
    /// ready. Retries a few times: another process may take the port
    /// between choosing it and chromedriver binding it.
    fn start(dir: &Path) -> Driver {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(COMMAND_TIMEOUT))
            .build()
            .new_agent();
        let log = dir.join("chromedriver.log");
        let mut last = String::new();
        for _ in 0..3 {
            let port = TcpListener::bind(("127.0.0.1", 0))
                .and_then(|l| l.local_addr())
                .expect("choose a free port")
                .port();
            let out = File::create(&log).expect("create chromedriver.log");
            let err = out.try_clone().expect("share chromedriver.log");
            let child = Command::new(chromedriver_path())
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                // Its own process group, so dropping kills Chromium too.
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", chromedriver_path().display()));
            let mut driver = Driver {
                child,
                base: format!("http://127.0.0.1:{port}"),
                agent: agent.clone(),
                log: log.clone(),
            };
            let ready = poll(DRIVER_TIMEOUT, WAIT_EVERY, || {
                if let Ok(Some(status)) = driver.child.try_wait() {
                    return Some(Err(format!("chromedriver exited ({status})")));
                }
                let status = driver.http("GET", "/status", None).ok()?;
                (status["ready"] == true).then_some(Ok(()))
            });
            match ready {
                Some(Ok(())) => return driver,
                // Exited: perhaps the port was taken; try another.
                Some(Err(why)) => last = format!("{why}:\n{}", driver.log_text()),
                None => panic!(
                    "chromedriver not ready within {DRIVER_TIMEOUT:?}:\n{}",
                    driver.log_text()
                ),
            }
        }
        panic!("chromedriver did not start: {last}");
    }

    /// One WebDriver exchange: the answer's `value`.
    fn http(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, WdError> {
        let url = format!("{}{path}", self.base);
        let sent = match (method, body) {
            ("GET", None) => self.agent.get(&url).call(),
            ("DELETE", None) => self.agent.delete(&url).call(),
            ("POST", body) => self
                .agent
                .post(&url)
                .header("content-type", "application/json; charset=utf-8")
                .send(body.unwrap_or(&json!({})).to_string()),
            _ => unreachable!("{method} {path} with body {body:?}"),
        };
        let mut answer = sent.map_err(|e| WdError::Transport(e.to_string()))?;
        let status = answer.status().as_u16();
        let text = answer
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_string()
            .map_err(|e| WdError::Transport(format!("reading the answer: {e}")))?;
        if !(200..300).contains(&status) {
            return Err(WdError::Status { status, body: text });
        }
        let mut json: Value = serde_json::from_str(&text)
            .map_err(|e| WdError::Transport(format!("{e} in {}", excerpt(&text, 500))))?;
        Ok(json["value"].take())
    }

    /// The end of chromedriver's output, for failure messages.
    fn log_text(&self) -> String {
        let Ok(file) = File::open(&self.log) else {
            return String::from("(no chromedriver.log)");
        };
        let lines: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group chromedriver leads: itself, Chromium and its helpers.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One headless Chromium session. Dropping it ends the session and kills
/// chromedriver and Chromium.
pub struct Browser {
    session: String,
    driver: Driver,
    // Last: removed after chromedriver and Chromium are gone.
    _dir: tempfile::TempDir,
}

impl Browser {
    /// Whether chromedriver and Chromium are installed.
    pub fn available() -> bool {
        chromedriver_path().is_file() && chromium_path().is_file()
    }

    /// A started browser, or `None` (with a line on stderr saying why) where
    /// Chromium or chromedriver is not installed. Panics instead when `CI`
    /// or `BOUNCER_REQUIRE_TOOLS` is set: CI must run the browser tests.
    pub fn start_or_skip() -> Option<Browser> {
        if Browser::available() {
            return Some(Browser::start());
        }
        let missing: Vec<String> = [chromium_path(), chromedriver_path()]
            .iter()
            .filter(|p| !p.is_file())
            .map(|p| p.display().to_string())
            .collect();
        let missing = format!("missing {}", missing.join(" and "));
        super::tool_missing(&format!(
            "the browser test needs chromium and chromedriver ({missing}): \
             apt-get install chromium chromium-driver"
        ));
        None
    }

    /// Starts chromedriver and a headless Chromium session with a fresh
    /// profile. Panics if either is missing or does not start.
    pub fn start() -> Browser {
        Browser::launch(&[], false)
    }

    /// [`Browser::start`] with `extra` Chromium arguments after the usual
    /// ones (e.g. `--blink-settings=scriptEnabled=false` for a browser
    /// without JavaScript), saving downloads in [`Browser::download_dir`]
    /// rather than the user's Downloads folder.
    pub fn start_with_args(extra: &[&str]) -> Browser {
        Browser::launch(extra, true)
    }

    /// Where a browser from [`Browser::start_with_args`] saves downloads:
    /// inside its temporary directory, removed with it.
    pub fn download_dir(&self) -> PathBuf {
        self._dir.path().join("downloads")
    }

    fn launch(extra: &[&str], own_downloads: bool) -> Browser {
        let dir = tempfile::Builder::new()
            .prefix("bouncer-browser-")
            .tempdir()
            .expect("create a temporary directory");
        let profile = dir.path().join("profile");
        let driver = Driver::start(dir.path());
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        args.extend(extra.iter().map(|a| a.to_string()));
        let mut options = json!({
            "binary": chromium_path(),
            "args": args,
        });
        if own_downloads {
            options["prefs"] = json!({
                "download.default_directory": dir.path().join("downloads"),
                "download.prompt_for_download": false,
            });
        }
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "timeouts": {
                        "implicit": 0,
                        "pageLoad": BROWSER_TIMEOUT_MS,
                        "script": BROWSER_TIMEOUT_MS,
                    },
                    "goog:chromeOptions": options,
                }
            }
        });
        let session = match driver.http("POST", "/session", Some(&capabilities)) {
            Ok(v) => v["sessionId"]
                .as_str()
                .unwrap_or_else(|| panic!("new session answer without a sessionId: {v}"))
                .to_string(),
            Err(e) => panic!(
                "could not start Chromium ({}): {e}\nchromedriver says:\n{}",
                chromium_path().display(),
                driver.log_text()
            ),
        };
        Browser {
            session,
            driver,
            _dir: dir,
        }
    }

    /// A command on this session (`path` after `/session/<id>`).
    fn try_cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, WdError> {
        let path = format!("/session/{}{path}", self.session);
        self.driver.http(method, &path, body.as_ref())
    }

    /// [`Browser::try_cmd`] that must succeed.
    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.try_cmd(method, path, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path} failed: {e}"))
    }

    /// Sets the window's size in CSS pixels (the viewport in headless
    /// Chromium).
    pub fn set_window_size(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        );
    }

    /// Makes pages see `prefers-color-scheme: SCHEME` (`light` or
    /// `dark`), through the DevTools protocol.
    pub fn prefer_color_scheme(&self, scheme: &str) {
        self.cmd(
            "POST",
            "/goog/cdp/execute",
            Some(json!({
                "cmd": "Emulation.setEmulatedMedia",
                "params": { "features": [{ "name": "prefers-color-scheme", "value": scheme }] },
            })),
        );
    }

    /// Opens `url` and waits for the page to load.
    pub fn goto(&self, url: &str) {
        self.try_cmd("POST", "/url", Some(json!({ "url": url })))
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
    }

    /// The current page's URL.
    pub fn url(&self) -> String {
        string(self.cmd("GET", "/url", None), "url")
    }

    /// The current page's title.
    pub fn title(&self) -> String {
        string(self.cmd("GET", "/title", None), "title")
    }

    /// The current page's source (the DOM as it is now, serialized).
    pub fn source(&self) -> String {
        string(self.cmd("GET", "/source", None), "source")
    }

    fn try_find_all(&self, css: &str) -> Result<Vec<Element<'_>>, WdError> {
        let found = self.try_cmd("POST", "/elements", Some(by_css(css)))?;
        Ok(elements(self, found, css))
    }

    /// The first element matching `css`, waiting (up to [`WAIT`]) for one
    /// to appear; panics with the URL and the page source if none does.
    pub fn find(&self, css: &str) -> Element<'_> {
        let found = poll(WAIT, WAIT_EVERY, || {
            let found = self
                .try_find_all(css)
                .unwrap_or_else(|e| panic!("find `{css}`: {e}"));
            found.into_iter().next()
        });
        found.unwrap_or_else(|| {
            panic!(
                "no element matches `{css}` after {WAIT:?}\n{}",
                self.context()
            )
        })
    }

    /// Every element matching `css` now (no waiting).
    pub fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        self.try_find_all(css)
            .unwrap_or_else(|e| panic!("find `{css}`: {e}"))
    }

    /// Whether an element matches `css` now (no waiting).
    pub fn exists(&self, css: &str) -> bool {
        !self.find_all(css).is_empty()
    }

    /// Waits (up to [`WAIT`]) until `done` holds; panics naming `what`,
    /// with the URL and the page source, if it does not.
    pub fn wait_for(&self, mut done: impl FnMut(&Browser) -> bool, what: &str) {
        if poll(WAIT, WAIT_EVERY, || done(self).then_some(())).is_none() {
            panic!(
                "timed out after {WAIT:?} waiting for {what}\n{}",
                self.context()
            );
        }
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`, which may
    /// hold [`Element::json`]) synchronously in the page; what it returns.
    pub fn execute(&self, script: &str, args: &[Value]) -> Value {
        self.try_cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .unwrap_or_else(|e| panic!("execute script {}: {e}", excerpt(script, 200)))
    }

    /// Saves a PNG of the viewport at `path` (a relative path is taken
    /// under [`screenshot_dir`]), creating its directories; returns where it
    /// was written.
    pub fn screenshot(&self, path: impl AsRef<Path>) -> PathBuf {
        let path = screenshot_dir().join(path);
        self.try_screenshot(&path)
            .unwrap_or_else(|e| panic!("screenshot {}: {e}", path.display()));
        path
    }

    fn try_screenshot(&self, path: &Path) -> Result<(), String> {
        let png = self
            .try_cmd("GET", "/screenshot", None)
            .map_err(|e| e.to_string())?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().ok_or("screenshot is not a string")?)
            .map_err(|e| format!("screenshot is not base64: {e}"))?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::write(path, png).map_err(|e| e.to_string())
    }

    /// The current page's cookies: (name, value, HttpOnly).
    pub fn cookies(&self) -> Vec<(String, String, bool)> {
        let all = self.cmd("GET", "/cookie", None);
        let all = all
            .as_array()
            .unwrap_or_else(|| panic!("cookies are not a list: {all}"));
        all.iter()
            .map(|c| {
                (
                    string(c["name"].clone(), "cookie name"),
                    string(c["value"].clone(), "cookie value"),
                    c["httpOnly"] == true,
                )
            })
            .collect()
    }

    /// Where the browser is and what it shows, for failure messages; never
    /// panics.
    fn context(&self) -> String {
        let url = self.try_cmd("GET", "/url", None);
        let source = self.try_cmd("GET", "/source", None);
        let show = |v: Result<Value, WdError>| match v {
            Ok(Value::String(s)) => s,
            Ok(other) => other.to_string(),
            Err(e) => format!("({e})"),
        };
        format!(
            "at URL {}\npage source begins:\n{}",
            show(url),
            excerpt(&show(source), SOURCE_EXCERPT)
        )
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A failing test leaves a picture of what the browser showed.
        if std::thread::panicking() {
            let name: String = std::thread::current()
                .name()
                .unwrap_or("test")
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            let path = screenshot_dir().join(format!("failure-{name}.png"));
            match self.try_screenshot(&path) {
                Ok(()) => eprintln!("browser screenshot at failure: {}", path.display()),
                Err(e) => eprintln!("no screenshot at failure: {e}"),
            }
        }
        // Ends Chromium cleanly; the Driver then kills what is left.
        let _ = self.try_cmd("DELETE", "", None);
    }
}

fn by_css(css: &str) -> Value {
    json!({ "using": "css selector", "value": css })
}

/// A WebDriver answer that must be a string.
fn string(v: Value, what: &str) -> String {
    match v {
        Value::String(s) => s,
        other => panic!("{what} is not a string: {other}"),
    }
}

/// A "find elements" answer as elements.
fn elements<'b>(browser: &'b Browser, found: Value, css: &str) -> Vec<Element<'b>> {
    let Value::Array(found) = found else {
        panic!("find `{css}` answered {found}");
    };
    found
        .iter()
        .map(|e| Element {
            browser,
            id: string(e[ELEMENT_KEY].clone(), "element reference"),
        })
        .collect()
}

/// An element of the current page.
#[derive(Debug, Clone)]
pub struct Element<'b> {
    browser: &'b Browser,
    id: String,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Browser({} via {})", self.session, self.driver.base)
    }
}

impl<'b> Element<'b> {
    fn cmd(&self, method: &str, what: &str, body: Option<Value>) -> Value {
        let path = format!("/element/{}{what}", self.id);
        self.browser
            .try_cmd(method, &path, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} element{what} failed: {e}"))
    }

    /// The reference to pass to [`Browser::execute`] (`arguments[i]` is
    /// then this element).
    pub fn json(&self) -> Value {
        json!({ ELEMENT_KEY: self.id })
    }

    /// Clicks it (scrolled into view; it must be visible and not covered).
    pub fn click(&self) {
        self.cmd("POST", "/click", Some(json!({})));
    }

    /// Types `text` into it. For `<input type=file>`, `text` is the
    /// absolute path of the file to choose (see [`Element::upload`]).
    pub fn send_keys(&self, text: &str) {
        self.cmd("POST", "/value", Some(json!({ "text": text })));
    }

    /// Chooses `file` in an `<input type=file>`.
    pub fn upload(&self, file: impl AsRef<Path>) {
        let file = file.as_ref();
        let abs = std::fs::canonicalize(file)
            .unwrap_or_else(|e| panic!("upload {}: {e}", file.display()));
        let abs = abs
            .to_str()
            .unwrap_or_else(|| panic!("upload {}: not UTF-8", abs.display()));
        self.send_keys(abs);
    }

    /// Empties an input or textarea.
    pub fn clear(&self) {
        self.cmd("POST", "/clear", Some(json!({})));
    }

    /// Its rendered text.
    pub fn text(&self) -> String {
        string(self.cmd("GET", "/text", None), "element text")
    }

    /// Attribute `name` as written in the page; `None` when absent.
    pub fn attr(&self, name: &str) -> Option<String> {
        match self.cmd("GET", &format!("/attribute/{name}"), None) {
            Value::Null => None,
            v => Some(string(v, "attribute")),
        }
    }

    /// Its current `value` property (what a form field holds now).
    pub fn value(&self) -> String {
        match self.cmd("GET", "/property/value", None) {
            Value::Null => String::new(),
            v => string(v, "value"),
        }
    }

    /// Whether a checkbox, radio button or option is selected.
    pub fn is_selected(&self) -> bool {
        self.cmd("GET", "/selected", None) == true
    }

    /// Elements inside this one matching `css` (no waiting).
    pub fn find_all(&self, css: &str) -> Vec<Element<'b>> {
        let found = self.cmd("POST", "/elements", Some(by_css(css)));
        elements(self.browser, found, css)
    }

    /// In a `<select>`, clicks the option whose text (trimmed) is
    /// `visible_text`; panics listing the options if none is.
    pub fn select_option(&self, visible_text: &str) {
        let options = self.find_all("option");
        let mut texts = Vec::new();
        for option in options {
            // The `text` property: an option's rendered text is empty while
            // its list is closed.
            let text = string(option.cmd("GET", "/property/text", None), "option text");
            if text.trim() == visible_text {
                option.click();
                return;
            }
            texts.push(text);
        }
        panic!("no option {visible_text:?} in the select; options: {texts:?}");
    }
}
