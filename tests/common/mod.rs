//! Shared test machinery: a database in a temporary directory, the real
//! `bouncer` binary run as a CLI command or as a server, and a tiny HTTP/1.1
//! client over `std::net::TcpStream`. Every wait is bounded. Networks of
//! test mirrors are set up through [`net`] ([`mirror`] serves them, and an
//! https one behind a private CA: [`tls`]); mail goes to [`smtp`].

pub mod https;
pub mod mirror;
pub mod net;
pub mod pebble;
pub mod smtp;
pub mod tls;
pub mod webdriver;

use std::ffi::OsStr;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_bouncer");
/// How long a server may take to say where it listens.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a CLI command or a server shutdown may take.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one HTTP exchange may take.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Tests needing an installed tool (browsers, download clients, release
/// tooling, a database server) give up through the library's one rule:
/// they fail in CI (`CI` or `BOUNCER_REQUIRE_TOOLS`, which `.ci/run`
/// sets) and are skipped with a line on stderr elsewhere.
pub use bouncer::testing::tool_missing;

/// The seed of a randomised test: `BOUNCER_TEST_SEED` when set (to replay
/// a run), else a fresh one; printed either way, so a failing run's output
/// says how to replay it.
pub fn test_seed(test: &str) -> u64 {
    let seed = std::env::var("BOUNCER_TEST_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("{test}: seed {seed} (BOUNCER_TEST_SEED={seed} replays it)");
    seed
}

/// The exact 404 body release tooling matches on.
pub const NOT_FOUND: &str = "404 page not found\n";

/// What a CLI command printed and how it exited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Out {
    fn from(out: Output) -> Out {
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// A fresh database in its own temporary directory (or a fresh
/// PostgreSQL database: [`Env::postgres`]).
pub struct Env {
    _dir: tempfile::TempDir,
    /// The database: a file, or a `postgresql://` URL.
    pub db: PathBuf,
    /// Where commands and servers run (PostgreSQL networks: the temporary
    /// directory, where sentry's reports go).
    cwd: Option<PathBuf>,
}

impl Env {
    pub fn new() -> Env {
        Env::in_subdir("")
    }

    /// A database in `sub` (created) inside the temporary directory.
    pub fn in_subdir(sub: &str) -> Env {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let parent = dir.path().join(sub);
        std::fs::create_dir_all(&parent).expect("create the database directory");
        let db = parent.join("bouncer.redb");
        Env {
            _dir: dir,
            db,
            cwd: None,
        }
    }

    /// A fresh database on `server`: every command and server of this
    /// `Env` runs with `--db postgresql://…`, in a temporary directory.
    pub fn postgres(server: &bouncer::testing::postgres::TestPostgres) -> Env {
        Env::at_url(&server.database())
    }

    /// [`Env::postgres`] on the database at `url`.
    pub fn at_url(url: &str) -> Env {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        Env {
            db: PathBuf::from(url),
            cwd: Some(dir.path().to_path_buf()),
            _dir: dir,
        }
    }

    /// The temporary directory this `Env` owns (gone with it): a place for
    /// the files a test hands to commands.
    pub fn temp_dir(&self) -> &Path {
        self._dir.path()
    }

    /// `<db>.sock`, where a running server listens for commands.
    pub fn socket(&self) -> PathBuf {
        let mut s = self.db.clone().into_os_string();
        s.push(".sock");
        PathBuf::from(s)
    }

    /// `bouncer --db DB` with these changes to the child's environment
    /// (`Some`: set, `None`: removed).
    fn command(&self, env: &[(&str, Option<&OsStr>)]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.env_remove("BOUNCER_DB");
        for (name, value) in env {
            match value {
                Some(value) => cmd.env(name, value),
                None => cmd.env_remove(name),
            };
        }
        cmd.arg("--db").arg(&self.db);
        if let Some(cwd) = &self.cwd {
            cmd.current_dir(cwd);
        }
        cmd
    }

    /// `bouncer --db DB args…` with nothing on stdin.
    pub fn run(&self, args: &[&str]) -> Out {
        self.run_with(args, None, &[])
    }

    /// `bouncer --db DB args…` with `input` piped into stdin.
    pub fn run_input(&self, args: &[&str], input: &str) -> Out {
        self.run_with(args, Some(input), &[])
    }

    /// `bouncer --db DB args…` with these changes to the child's environment
    /// only (`Some`: set, `None`: removed); the test process's own stays as
    /// it is.
    pub fn run_env(&self, args: &[&str], env: &[(&str, Option<&OsStr>)]) -> Out {
        self.run_with(args, None, env)
    }

    fn run_with(&self, args: &[&str], input: Option<&str>, env: &[(&str, Option<&OsStr>)]) -> Out {
        let mut child = self
            .command(env)
            .args(args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run bouncer");
        if let Some(input) = input {
            let mut stdin = child.stdin.take().expect("piped stdin");
            // A child that exits without reading (a usage error) closes the pipe.
            let _ = stdin.write_all(input.as_bytes());
        }
        match wait_output(child, EXIT_TIMEOUT) {
            Some(out) => out.expect("wait for bouncer").into(),
            None => panic!(
                "`bouncer {}` did not finish within {EXIT_TIMEOUT:?}",
                args.join(" ")
            ),
        }
    }

    /// Runs a command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(out.code, 0, "`bouncer {}` failed: {out:?}", args.join(" "));
        out.stdout
    }

    /// Runs command lines (arguments split at whitespace) that must all
    /// succeed.
    pub fn setup(&self, lines: &[&str]) {
        for line in lines {
            self.ok(&line.split_whitespace().collect::<Vec<_>>());
        }
    }

    /// Starts `bouncer serve --listen 127.0.0.1:0 extra…` and waits (bounded)
    /// until it says where it listens. Sentry stays off: the tests' mirrors
    /// are addresses where nothing listens, and availability is set by hand
    /// (`status set`), so a check would take every mirror out.
    pub fn serve(&self, extra: &[&str]) -> Server {
        self.start_server(&["--no-sentry"], extra, &[])
    }

    /// [`Env::serve`] with its plain listener at `listen` (a port another
    /// party must know beforehand, such as an ACME server).
    pub fn serve_at(&self, listen: &str, extra: &[&str]) -> Server {
        Env::launch_at(self.command(&[]), listen, &["--no-sentry"], extra)
    }

    /// [`Env::serve`] with sentry checking on its schedule (for networks of
    /// test mirrors).
    pub fn serve_with_sentry(&self, extra: &[&str]) -> Server {
        self.start_server(&[], extra, &[])
    }

    /// [`Env::serve_with_sentry`] with nothing periodic
    /// ([`SENTRY_ON_DEMAND`]): only what is new is checked.
    pub fn serve_with_sentry_on_demand(&self, extra: &[&str]) -> Server {
        self.start_server(&SENTRY_ON_DEMAND, extra, &[])
    }

    /// [`Env::serve_with_sentry`] with these changes to the server's
    /// environment only, as [`Env::run_env`] makes them (e.g.
    /// `SSL_CERT_FILE` for its sentry).
    pub fn serve_with_sentry_env(&self, extra: &[&str], env: &[(&str, Option<&OsStr>)]) -> Server {
        self.start_server(&[], extra, env)
    }

    /// [`Env::serve`] started through `launcher`: a command that runs
    /// `bouncer --db DB` with the arguments added to it (e.g. under a
    /// shell that sets a umask first).
    pub fn serve_through(&self, launcher: Command, extra: &[&str]) -> Server {
        Env::launch(launcher, &["--no-sentry"], extra)
    }

    fn start_server(
        &self,
        sentry: &[&str],
        extra: &[&str],
        env: &[(&str, Option<&OsStr>)],
    ) -> Server {
        Env::launch(self.command(env), sentry, extra)
    }

    fn launch(launcher: Command, sentry: &[&str], extra: &[&str]) -> Server {
        Env::launch_at(launcher, "127.0.0.1:0", sentry, extra)
    }

    fn launch_at(mut launcher: Command, listen: &str, sentry: &[&str], extra: &[&str]) -> Server {
        let mut child = launcher
            .args(["serve", "--listen", listen, "--threads", "2"])
            .args(sentry)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start bouncer serve");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let reader_log = log.clone();
        // Keeps draining stderr after the port is known, so the server
        // never blocks on a full pipe, and keeps it for assertions.
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(port) = listening_port(&line) {
                    let _ = tx.send(port);
                }
                let mut log = reader_log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut server = Server {
            child: Some(child),
            port: 0,
            log,
            reader: Some(reader),
        };
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(port) => server.port = port,
            Err(_) => {
                // Exited, or silent too long: show what it said.
                let (status, log) = server.kill();
                panic!("bouncer serve did not start ({status:?}):\n{log}");
            }
        }
        server
    }

    /// `user add NAME --role ROLE` with `password` on stdin, which must
    /// succeed.
    pub fn add_user_with(&self, name: &str, role: &str, password: &str) {
        let out = self.run_input(
            &["user", "add", name, "--role", role],
            &format!("{password}\n"),
        );
        assert_eq!(out.code, 0, "user add {name}: {out:?}");
    }

    /// [`Env::add_user_with`] the password [`password`]`(name)`.
    pub fn add_user(&self, name: &str, role: &str) {
        self.add_user_with(name, role, &password(name));
    }

    /// Polls `bouncer stats --days 2` (two days: a test may straddle
    /// midnight) every 100 ms until `done` holds, for at most `limit`.
    pub fn poll_stats(&self, limit: Duration, done: impl Fn(&Stats) -> bool) -> Stats {
        poll(limit, Duration::from_millis(100), || {
            Some(self.stats()).filter(|s| done(s))
        })
        .unwrap_or_else(|| self.stats())
    }

    /// `mirror list`: the cells of each row (NAME, BASE URL, RATING,
    /// ACTIVE, HEALTH, SERVES, REGIONS), header skipped.
    pub fn mirror_rows(&self) -> Vec<Vec<String>> {
        table(&self.ok(&["mirror", "list"]))
    }

    /// `mirror list`: each mirror's (HEALTH, SERVES), by name.
    pub fn mirror_list(&self) -> std::collections::BTreeMap<String, (String, usize)> {
        self.mirror_rows()
            .into_iter()
            .map(|cells| {
                let serves = cells[5].parse().expect("SERVES is a number");
                (cells[0].clone(), (cells[4].clone(), serves))
            })
            .collect()
    }

    /// `location list`: (PRODUCT, OS, PATH) rows, header skipped.
    pub fn location_rows(&self) -> Vec<(String, String, String)> {
        self.ok(&["location", "list"])
            .lines()
            .skip(1)
            .map(|l| {
                let c: Vec<&str> = l.split_whitespace().collect();
                (c[0].to_string(), c[1].to_string(), c[2].to_string())
            })
            .collect()
    }

    /// `bouncer stats --days 2`, parsed.
    pub fn stats(&self) -> Stats {
        Stats::parse(&self.ok(&["stats", "--days", "2"]))
    }
}

/// Sentry's schedule with nothing periodic: new mirrors and locations are
/// checked as they appear, and never-checked mirrors at start.
pub const SENTRY_ON_DEMAND: [&str; 6] = [
    "--spot-every",
    "0",
    "--all-every",
    "0",
    "--hashes-every",
    "0",
];

/// `bouncer` setup lines for the smallest served network: product `tb`
/// with `/tb/setup.exe` for win, served by mirror `m1`, present.
pub const ONE_MIRROR: [&str; 4] = [
    "product add tb",
    "location add tb win /tb/setup.exe",
    "mirror add m1 http://127.0.0.1:9/m1",
    "status set m1 present",
];

/// The first cell of each row of a CLI listing, header skipped.
pub fn first_column(listing: &str) -> Vec<String> {
    listing
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// The test password of user `name` (long enough for every rule).
pub fn password(name: &str) -> String {
    format!("{name}-correct-horse-battery")
}

/// The rows of a table the CLI prints (a header line, then one line a
/// row, columns padded with spaces), each row's cells in the header's
/// order, an empty column as `""`. Columns start where the header's names
/// do; a name may hold single spaces (`BASE URL`), columns are apart by
/// two or more. Lines before the header (a summary) are given by `skip`.
pub fn table_after(text: &str, skip: usize) -> Vec<Vec<String>> {
    let mut lines = text.lines().skip(skip);
    let header: Vec<char> = lines.next().unwrap_or("").chars().collect();
    let mut starts = vec![0];
    for i in 2..header.len() {
        if header[i] != ' ' && header[i - 1] == ' ' && header[i - 2] == ' ' {
            starts.push(i);
        }
    }
    lines
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let chars: Vec<char> = line.chars().collect();
            let cell = |from: usize, to: usize| -> String {
                let (from, to) = (from.min(chars.len()), to.min(chars.len()));
                chars[from..to]
                    .iter()
                    .collect::<String>()
                    .trim()
                    .to_string()
            };
            let cells: Vec<String> = starts
                .iter()
                .enumerate()
                .map(|(i, &from)| cell(from, starts.get(i + 1).copied().unwrap_or(usize::MAX)))
                .collect();
            cells
        })
        .collect()
}

/// [`table_after`] a table that starts at the first line.
pub fn table(text: &str) -> Vec<Vec<String>> {
    table_after(text, 0)
}

/// `bouncer stats` output: the total line, then two tables.
#[derive(Debug)]
pub struct Stats {
    pub total: u64,
    pub text: String,
}

impl Stats {
    fn parse(text: &str) -> Stats {
        let first = text.lines().next().unwrap_or("");
        let total = first
            .strip_prefix("downloads over 2 day(s): ")
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected stats output:\n{text}"));
        Stats {
            total,
            text: text.to_string(),
        }
    }

    /// The count in the row (product or mirror) named `name`.
    pub fn row(&self, name: &str) -> Option<u64> {
        self.text.lines().find_map(|line| {
            let mut cells = line.split_whitespace();
            (cells.next() == Some(name)).then(|| cells.last()?.parse().ok())?
        })
    }
}

fn listening_port(line: &str) -> Option<u16> {
    let rest = line.strip_prefix("bouncer: listening on http://")?;
    // 127.0.0.1:PORT, or [::]:PORT for a dual-stack listener.
    let host = rest.split(' ').next()?;
    let (host, port) = host.rsplit_once(':')?;
    if !matches!(host, "127.0.0.1" | "[::]" | "[::1]" | "0.0.0.0") {
        return None;
    }
    port.parse().ok()
}

fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status();
}

/// Asks `check` every `every` until it gives a value, for at most `limit`:
/// the one bounded poll the tests use to wait for something another
/// process does (a server's counts, its exit, its checks). `None` when
/// `limit` passed first.
pub fn poll<T>(
    limit: Duration,
    every: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// Waits for `child` (stdout and stderr piped) to exit, for at most
/// `limit`, killing it when it runs over: what it printed, `None` when it
/// ran over.
fn wait_output(child: Child, limit: Duration) -> Option<io::Result<Output>> {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => Some(out),
        Err(_) => {
            signal(pid, "KILL");
            None
        }
    }
}

/// Runs `command` (nothing on stdin, stdout and stderr captured) for at
/// most `limit`, killing it when it runs over; an error when it could not
/// start or ran over.
pub fn run_bounded(command: &mut Command, limit: Duration) -> Result<Output, String> {
    let shown = format!("{command:?}");
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start {shown}: {e}"))?;
    match wait_output(child, limit) {
        Some(out) => out.map_err(|e| format!("wait for {shown}: {e}")),
        None => Err(format!("{shown} did not finish within {limit:?}")),
    }
}

/// Waits for `child` to exit, for at most `limit`.
fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    poll(limit, Duration::from_millis(10), || {
        child.try_wait().expect("poll child")
    })
}

/// A running `bouncer serve`; killed when dropped, so a failing test
/// leaves nothing behind.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    log: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
}

impl Server {
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server process").id()
    }

    /// `http://127.0.0.1:PORT{target}`: where a client outside the tests
    /// reaches `target`.
    pub fn url(&self, target: &str) -> String {
        format!("http://127.0.0.1:{}{target}", self.port)
    }

    /// `GET target`.
    pub fn get(&self, target: &str) -> Response {
        self.request("GET", target, &[])
    }

    /// GETs `target`, which must answer 302 (a redirect); the answer.
    pub fn get_redirect(&self, target: &str) -> Response {
        let r = self.get(target);
        assert_eq!(r.status, 302, "{target}: {r:?}");
        r
    }

    /// GETs `target`, which must answer 404 with the exact
    /// [`NOT_FOUND`] body; the answer, for further checks.
    pub fn get_not_found(&self, target: &str) -> Response {
        let r = self.get(target);
        assert_eq!(r.status, 404, "{target}: {r:?}");
        assert_eq!(r.body, NOT_FOUND, "{target}");
        r
    }

    /// `GET target` with extra headers.
    pub fn get_with(&self, target: &str, headers: &[(&str, &str)]) -> Response {
        self.request("GET", target, headers)
    }

    /// One request on its own connection.
    pub fn request(&self, method: &str, target: &str, headers: &[(&str, &str)]) -> Response {
        http(self.port, method, target, headers)
    }

    /// `n` GETs of `target`, each of which must be a 302; their Locations.
    pub fn locations(&self, target: &str, headers: &[(&str, &str)], n: usize) -> Vec<String> {
        (0..n)
            .map(|_| {
                let r = self.get_with(target, headers);
                assert_eq!(r.status, 302, "GET {target}: {r:?}");
                r.location().to_string()
            })
            .collect()
    }

    /// `n` GETs of `target`, each from a client address of its own
    /// ([`client_address`]), each of which must be a 302; their Locations.
    pub fn locations_from_clients(
        &self,
        target: &str,
        headers: &[(&str, &str)],
        n: usize,
    ) -> Vec<String> {
        (0..n)
            .map(|i| {
                let r = http_from(client_address(i), self.port, "GET", target, headers);
                assert_eq!(r.status, 302, "GET {target}: {r:?}");
                r.location().to_string()
            })
            .collect()
    }

    /// What the server has written to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        let child = self.child.as_mut().expect("server process");
        child.try_wait().expect("poll server").is_none()
    }

    /// SIGTERM, then waits (bounded) for the exit; returns its status and
    /// everything it wrote to stderr.
    pub fn stop(self) -> (ExitStatus, String) {
        self.terminate();
        self.wait_exit()
    }

    /// SIGHUP: reopen the access log, reload the TLS certificate.
    pub fn hang_up(&self) {
        signal(self.pid(), "HUP");
    }

    /// SIGTERM, without waiting: the server shuts down gracefully while the
    /// test goes on (e.g. finishes a request in flight).
    pub fn terminate(&self) {
        signal(self.pid(), "TERM");
    }

    /// Waits (bounded) for the server to exit by itself (after
    /// [`Server::terminate`]); returns its status and everything it wrote
    /// to stderr.
    pub fn wait_exit(mut self) -> (ExitStatus, String) {
        let mut child = self.child.take().expect("server process");
        let status = wait_bounded(&mut child, EXIT_TIMEOUT);
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let log = self.finish_log();
        let status = status.unwrap_or_else(|| {
            panic!("bouncer serve did not stop within {EXIT_TIMEOUT:?} of SIGTERM:\n{log}")
        });
        (status, log)
    }

    /// SIGKILL: a crash.
    pub fn crash(mut self) {
        self.kill();
    }

    fn kill(&mut self) -> (Option<ExitStatus>, String) {
        let status = self.child.take().and_then(|mut child| {
            let _ = child.kill();
            child.wait().ok()
        });
        (status, self.finish_log())
    }

    fn finish_log(&mut self) -> String {
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// An HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The Location header, which must be there.
    pub fn location(&self) -> &str {
        self.header("location")
            .unwrap_or_else(|| panic!("no Location header: {self:?}"))
    }
}

/// Sends one HTTP/1.1 request (`Connection: close`) and reads the answer.
pub fn http(port: u16, method: &str, target: &str, headers: &[(&str, &str)]) -> Response {
    try_http(port, method, target, headers).unwrap_or_else(|e| panic!("{method} {target}: {e}"))
}

/// The port and the target of a `http://127.0.0.1:PORT/…` URL (a test
/// server's or a test mirror's).
pub fn split_url(url: &str) -> Result<(u16, String), String> {
    let rest = url
        .strip_prefix("http://127.0.0.1:")
        .ok_or_else(|| format!("{url} is not on this machine (http://127.0.0.1:PORT)"))?;
    let (port, target) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let port = port.parse().map_err(|_| format!("{url}: no port"))?;
    let target = if target.starts_with('/') {
        target.to_string()
    } else {
        format!("/{target}")
    };
    Ok((port, target))
}

/// `GET url` of a `http://127.0.0.1:PORT/…` URL (a redirect's Location).
pub fn get_url(url: &str) -> Response {
    let (port, target) = split_url(url).unwrap_or_else(|why| panic!("{why}"));
    http(port, "GET", &target, &[])
}

/// [`http`], with failures (refused, cut short, malformed) as errors.
pub fn try_http(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> io::Result<Response> {
    try_http_from(None, port, method, target, headers)
}

/// The `n`-th of many distinct client addresses on loopback (all of
/// 127.0.0.0/8 is): 127.x.y.z from `n`, never 127.0.0.1.
pub fn client_address(n: usize) -> std::net::Ipv4Addr {
    let n = (n + 2) as u32;
    assert!(n < 1 << 24, "more clients than 127.0.0.0/8 has");
    std::net::Ipv4Addr::from(0x7f00_0000 | n)
}

/// [`http`] over a connection from `source`: a client of its own.
pub fn http_from(
    source: std::net::Ipv4Addr,
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> Response {
    try_http_from(Some(source.into()), port, method, target, headers)
        .unwrap_or_else(|e| panic!("{method} {target} from {source}: {e}"))
}

/// [`http`] over IPv6 loopback (`::1` to `[::1]:port`), to a server
/// listening on `[::]` (dual stack) or `[::1]`.
pub fn http_v6(port: u16, method: &str, target: &str, headers: &[(&str, &str)]) -> Response {
    let source = std::net::Ipv6Addr::LOCALHOST.into();
    try_http_from(Some(source), port, method, target, headers)
        .unwrap_or_else(|e| panic!("{method} {target} over IPv6: {e}"))
}

fn try_http_from(
    source: Option<std::net::IpAddr>,
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> io::Result<Response> {
    let mut stream = match source {
        None => TcpStream::connect(("127.0.0.1", port))?,
        Some(source) => {
            use socket2::{Domain, Socket, Type};
            use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
            let (domain, to): (_, IpAddr) = match source {
                IpAddr::V4(_) => (Domain::IPV4, Ipv4Addr::LOCALHOST.into()),
                IpAddr::V6(_) => (Domain::IPV6, Ipv6Addr::LOCALHOST.into()),
            };
            let socket = Socket::new(domain, Type::STREAM, None)?;
            socket.bind(&SocketAddr::from((source, 0)).into())?;
            socket.connect(&SocketAddr::from((to, port)).into())?;
            socket.into()
        }
    };
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut request =
        format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw, method == "HEAD")
        .map_err(|why| io::Error::new(io::ErrorKind::InvalidData, format!("{why}: {raw:?}")))
}

/// Parses a raw HTTP/1.1 response (`head`: it answers a HEAD, no body).
pub fn parse_response(raw: &[u8], head: bool) -> Result<Response, &'static str> {
    let text = String::from_utf8_lossy(raw);
    let end = text.find("\r\n\r\n").ok_or("no end of headers")?;
    let mut lines = text[..end].split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("bad status line")?;
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').ok_or("bad header line")?;
            Ok((n.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect::<Result<Vec<_>, &'static str>>()?;
    let mut body = text[end + 4..].to_string();
    if head {
        body.clear();
    } else if let Some((_, len)) = headers.iter().find(|(n, _)| n == "content-length") {
        let len: usize = len.parse().map_err(|_| "bad Content-Length")?;
        if body.len() < len {
            return Err("body shorter than Content-Length");
        }
        body.truncate(len);
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Lower-case hex SHA-256 of `bytes`, from coreutils' `sha256sum` (not from
/// the code under test).
pub fn sha256_hex(bytes: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run sha256sum");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(bytes)
        .expect("feed sha256sum");
    let out = child.wait_with_output().expect("wait for sha256sum");
    let text = String::from_utf8(out.stdout).expect("sha256sum prints text");
    let hex = text.split_whitespace().next().unwrap_or("").to_string();
    assert_eq!(hex.len(), 64, "sha256sum printed {text:?}");
    hex
}

/// Sends one HTTP/1.1 request with `body` (`Content-Length` set,
/// `Connection: close`) and reads the answer.
pub fn http_body(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    try_http_body(port, method, target, headers, body)
        .unwrap_or_else(|e| panic!("{method} {target}: {e}"))
}

/// [`http_body`], with failures (refused, cut short, malformed) as errors.
pub fn try_http_body(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    read_response(&mut stream, method == "HEAD")
}

/// Sends `head` (a request's header block), then whatever `body` writes
/// from another thread, and reads the answer meanwhile (it may come before
/// the body is all sent). Reads and writes time out after 20 s.
pub fn send_streaming(
    port: u16,
    head: String,
    body: impl FnOnce(&mut TcpStream) + Send + 'static,
) -> Response {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(head.as_bytes()).expect("send the headers");
    let mut writer = stream.try_clone().expect("clone the stream");
    let sender = std::thread::spawn(move || body(&mut writer));
    let r = read_response(&mut stream, false).expect("an answer");
    // The sender ends once the server closes (or the write times out).
    drop(stream);
    sender.join().expect("the sender thread");
    r
}

/// Reads one answer from `stream` until the server closes it (or resets
/// it: what arrived before counts), for at most the stream's read
/// timeout per read.
pub fn read_response(stream: &mut TcpStream, head: bool) -> io::Result<Response> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A server that stops reading a body it refused may reset the
            // connection after answering.
            Err(e) if !raw.is_empty() && e.kind() == io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e),
        }
    }
    parse_response(&raw, head)
        .map_err(|why| io::Error::new(io::ErrorKind::InvalidData, format!("{why}: {raw:?}")))
}

/// `fields` as an `application/x-www-form-urlencoded` body.
pub fn form_urlencode(fields: &[(&str, &str)]) -> String {
    let encode = |s: &str| {
        let mut out = String::with_capacity(s.len());
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

impl Response {
    /// Every `Set-Cookie` header's value, in order.
    pub fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// One keep-alive HTTP/1.1 connection: requests one after another on the
/// same socket (load without a new port per request), answers read by
/// their `Content-Length`.
pub struct KeepAlive {
    stream: TcpStream,
    /// Bytes read past the last answer.
    buf: Vec<u8>,
    port: u16,
}

impl KeepAlive {
    /// Connects to `127.0.0.1:port` with the usual I/O timeouts.
    pub fn connect(port: u16) -> io::Result<KeepAlive> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(KeepAlive {
            stream,
            buf: Vec::new(),
            port,
        })
    }

    /// The socket, e.g. to change its read timeout.
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Sends `GET target` with extra headers, without waiting for the answer.
    pub fn send(&mut self, target: &str, headers: &[(&str, &str)]) -> io::Result<()> {
        let mut request = format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n", self.port);
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        self.stream.write_all(request.as_bytes())
    }

    /// Reads the next answer (a read timeout is an error of kind
    /// `WouldBlock` or `TimedOut`; what arrived so far is kept).
    pub fn receive(&mut self) -> io::Result<Response> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = parse_response(&self.buf[..end + 4], true).map_err(|why| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("{why}: {:?}", self.buf))
                })?;
                let len = head
                    .header("content-length")
                    .map_or(Ok(0), str::parse::<usize>)
                    .map_err(|_| {
                        io::Error::new(io::ErrorKind::InvalidData, "bad Content-Length")
                    })?;
                if self.buf.len() >= end + 4 + len {
                    let rest = self.buf.split_off(end + 4 + len);
                    let raw = std::mem::replace(&mut self.buf, rest);
                    return parse_response(&raw, false).map_err(|why| {
                        io::Error::new(io::ErrorKind::InvalidData, format!("{why}: {raw:?}"))
                    });
                }
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("closed before a whole answer: {:?}", self.buf),
                    ));
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// `GET target` and its answer.
    pub fn get(&mut self, target: &str) -> io::Result<Response> {
        self.send(target, &[])?;
        self.receive()
    }
}

// ----- the admin pages -----

/// Logs `user` in on the admin pages with `password` (the login form and
/// its CSRF token); the session cookie (`bouncer_session=…`).
pub fn admin_session(port: u16, user: &str, password: &str) -> String {
    let page = http(port, "GET", "/admin/login", &[]);
    assert_eq!(page.status, 200, "the login page: {page:?}");
    let marker = "name=\"csrf\" value=\"";
    let start = page.body.find(marker).expect("the login form's token") + marker.len();
    let token = &page.body[start..start + page.body[start..].find('"').unwrap()];
    let login_cookie = page
        .set_cookies()
        .into_iter()
        .find_map(|c| {
            c.split(';')
                .next()
                .filter(|c| c.starts_with("bouncer_login="))
        })
        .expect("a bouncer_login cookie")
        .to_string();
    let body = form_urlencode(&[
        ("csrf", token),
        ("next", "/admin/"),
        ("user", user),
        ("password", password),
    ]);
    let r = http_body(
        port,
        "POST",
        "/admin/login",
        &[
            ("Cookie", &login_cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        body.as_bytes(),
    );
    assert_eq!(r.status, 303, "login as {user}: {r:?}");
    r.set_cookies()
        .into_iter()
        .find_map(|c| {
            c.split(';')
                .next()
                .filter(|c| c.starts_with("bouncer_session="))
        })
        .expect("a session cookie")
        .to_string()
}

/// The text of an HTML fragment, tags dropped, a few entities decoded.
fn text_of(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.trim()
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

/// The newest page of the audit log's rows whose actor starts with
/// `actor`, newest first, read with an admin `session`: (actor, action,
/// detail) of each (its age, which changes as time passes, left out).
pub fn audit(port: u16, session: &str, actor: &str) -> Vec<(String, String, String)> {
    let r = http(
        port,
        "GET",
        &format!("/admin/audit?{}", form_urlencode(&[("actor", actor)])),
        &[("Cookie", session)],
    );
    assert_eq!(r.status, 200, "the audit log: {r:?}");
    r.body
        .split("<tr")
        .skip(1)
        .filter_map(|row| {
            let row = &row[..row.find("</tr>").unwrap_or(row.len())];
            let cells: Vec<String> = row
                .split("<td")
                .skip(1)
                .map(|c| {
                    let c = &c[c.find('>').map_or(0, |i| i + 1)..];
                    text_of(&c[..c.find("</td>").unwrap_or(c.len())])
                })
                .collect();
            (cells.len() >= 4).then(|| (cells[1].clone(), cells[2].clone(), cells[3].clone()))
        })
        .collect()
}
