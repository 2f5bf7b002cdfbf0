//! A throwaway PostgreSQL server for tests: `initdb` into a fresh directory
//! under the temporary directory, listening only on a Unix socket in that
//! directory, with durability off (the data is thrown away anyway).
//!
//! Tests share one server per process ([`TestPostgres::shared`]) and each
//! takes its own empty database ([`TestPostgres::database`]); a test that
//! stops and restarts the server starts its own ([`TestPostgres::start`]).
//!
//! Nothing runs destructors for statics, and a test process may die of a
//! signal, so every server has a watchdog: a shell, in its own process
//! group, blocked reading a pipe whose only writer is the test process.
//! When the test process exits, however it exits, the kernel closes the
//! pipe and the watchdog stops the server and removes its directory.
//! Dropping an owned server closes the pipe early.

use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Once, OnceLock};
use std::time::Duration;

use postgres::NoTls;

/// How a missing PostgreSQL is fixed, for error messages.
const INSTALL_HINT: &str = "apt-get install postgresql";
/// The superuser `initdb` creates; every connection uses it (trust auth).
const USER: &str = "bouncer";
/// What a server's directory name starts with: `bouncer-pg-<pid>-<n>`.
const DIR_PREFIX: &str = "bouncer-pg-";
/// The longest Unix socket path the kernel takes (`sun_path` is 108 bytes,
/// with a terminating NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Numbers server directories, so one process's servers never share one.
static NEXT_SERVER: AtomicU64 = AtomicU64::new(0);
/// Numbers databases; servers belong to one process, so this is unique.
static NEXT_DATABASE: AtomicU64 = AtomicU64::new(0);

/// A throwaway PostgreSQL server for tests, on a Unix socket in its own
/// directory (PostgreSQL 15 where installed, else another installed version).
pub struct TestPostgres {
    /// The data directory, which also holds the socket and `log`.
    dir: PathBuf,
    /// Names the socket file (`.s.PGSQL.<port>`); there is no TCP listener.
    port: u16,
    tools: Tools,
    /// The shared server must not be stopped: other tests are using it.
    shared: bool,
    /// `None` only once dropped.
    watchdog: Option<Watchdog>,
    /// The certificate and key PEM of a server that also listens on
    /// 127.0.0.1 with TLS ([`TestPostgres::start_tls`]).
    tls: Option<(String, String)>,
}

impl TestPostgres {
    /// The server shared by this process's tests, started on first use.
    /// `Err` says what is missing and how to install it, or why the server
    /// did not start; later calls return the same `Err` without retrying.
    pub fn shared() -> Result<&'static TestPostgres, String> {
        static SHARED: OnceLock<Result<TestPostgres, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| TestPostgres::launch(true, None))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// [`TestPostgres::shared`], or `None` (with `skipping: …` on stderr)
    /// where PostgreSQL is not installed. Panics if it is installed but does
    /// not start, and where it is missing in CI (see
    /// [`super::tool_missing`]).
    pub fn shared_or_skip() -> Option<&'static TestPostgres> {
        if let Err(why) = bindir() {
            super::tool_missing(&why);
            return None;
        }
        match TestPostgres::shared() {
            Ok(server) => Some(server),
            Err(why) => panic!("{why}"),
        }
    }

    /// A server of the caller's own, for tests that stop and restart it;
    /// stopped and its directory removed on drop.
    pub fn start() -> Result<TestPostgres, String> {
        TestPostgres::launch(false, None)
    }

    /// A server of the caller's own that also listens on 127.0.0.1 over
    /// TCP, with TLS only (`hostssl`), presenting the certificate `cert`
    /// (PEM, for 127.0.0.1) with its key `key`; see
    /// [`TestPostgres::tcp_database`]. `None` where PostgreSQL is not
    /// installed, on the terms of [`TestPostgres::shared_or_skip`].
    pub fn start_tls_or_skip(cert: &str, key: &str) -> Option<TestPostgres> {
        if let Err(why) = bindir() {
            super::tool_missing(&why);
            return None;
        }
        match TestPostgres::launch(false, Some((cert.to_string(), key.to_string()))) {
            Ok(server) => Some(server),
            Err(why) => panic!("{why}"),
        }
    }

    /// A new, empty database on a [`TestPostgres::start_tls_or_skip`] server, as a
    /// URL over TCP that insists on TLS:
    /// `postgresql://bouncer@127.0.0.1:<port>/t_<n>?sslmode=require`.
    pub fn tcp_database(&self) -> String {
        assert!(self.tls.is_some(), "a server started without TLS");
        let url = self.database();
        let name = url
            .split('?')
            .next()
            .and_then(|u| u.rsplit('/').next())
            .expect("a database name");
        format!(
            "postgresql://{USER}@127.0.0.1:{}/{name}?sslmode=require",
            self.port
        )
    }

    /// [`TestPostgres::start`], or `None` where PostgreSQL is not installed,
    /// on the terms of [`TestPostgres::shared_or_skip`].
    pub fn start_or_skip() -> Option<TestPostgres> {
        if let Err(why) = bindir() {
            super::tool_missing(&why);
            return None;
        }
        match TestPostgres::start() {
            Ok(server) => Some(server),
            Err(why) => panic!("{why}"),
        }
    }

    /// A new, empty database on this server, as a URL that both the
    /// `postgres` crate and libpq accept:
    /// `postgresql://bouncer@/t_<n>?host=<dir>&port=<port>`. Panics if the
    /// server does not create it. Callable from async code too.
    pub fn database(&self) -> String {
        let name = format!("t_{}", NEXT_DATABASE.fetch_add(1, Ordering::Relaxed));
        let mut config = postgres::Config::new();
        config
            .host_path(&self.dir)
            .port(self.port)
            .user(USER)
            .dbname("postgres")
            .connect_timeout(Duration::from_secs(10));
        let create = || -> Result<(), postgres::Error> {
            let mut client = config.connect(NoTls)?;
            client.batch_execute(&format!("CREATE DATABASE {name}"))
        };
        // The blocking client runs its own Tokio runtime, which panics inside
        // another one (an async test); a thread of its own has none.
        let created = std::thread::scope(|scope| scope.spawn(create).join());
        match created {
            Ok(Ok(())) => self.url(&name),
            Ok(Err(e)) => panic!(
                "creating database {name} in {}: {e}\n{}",
                self.dir.display(),
                self.log_tail()
            ),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Stops the server (fast shutdown: open connections are cut), keeping
    /// its data; [`TestPostgres::resume`] starts it again on the same
    /// directory and port, so URLs stay valid. Panics on the shared server,
    /// which other tests are using, and if `pg_ctl` fails.
    pub fn stop(&self) {
        assert!(
            !self.shared,
            "the shared test server cannot be stopped: use TestPostgres::start"
        );
        let mut stop = self.pg_ctl();
        stop.args(["-m", "fast", "-w", "stop"]);
        if let Err(e) = run(stop) {
            panic!("{e}\n{}", self.log_tail());
        }
    }

    /// Starts a server stopped by [`TestPostgres::stop`] again, returning
    /// once it accepts connections. Panics if it does not start.
    pub fn resume(&self) {
        if let Err(e) = self.pg_ctl_start() {
            panic!("{e}");
        }
    }

    /// Creates the directory, the cluster and the watchdog, and starts the
    /// server. On error whatever was made is dropped, and so removed.
    fn launch(shared: bool, tls: Option<(String, String)>) -> Result<TestPostgres, String> {
        let bin = bindir()?;
        let pid = std::process::id();
        let tmp = std::env::temp_dir();
        let (dir, n) = loop {
            let n = NEXT_SERVER.fetch_add(1, Ordering::Relaxed);
            let dir = tmp.join(format!("{DIR_PREFIX}{pid}-{n}"));
            // 0700: PostgreSQL refuses a data directory others can read.
            match fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => break (dir, n),
                // Left by an earlier process with the same pid.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(format!("cannot create {}: {e}", dir.display())),
            }
        };
        // The port only names the socket file, which is alone in its own
        // directory, so ports cannot clash; PostgreSQL also derives its
        // System V shared memory key from it and steps past keys in use, so
        // distinct ports merely save it the probing.
        let mut port = 20_000 + ((u64::from(pid) * 16 + n) % 40_000) as u16;
        if tls.is_some() {
            // It listens on TCP too: a port nothing else holds.
            port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .map_err(|e| format!("cannot find a free port: {e}"))?;
        }
        let socket = dir.join(format!(".s.PGSQL.{port}"));
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            let _ = fs::remove_dir(&dir);
            return Err(format!(
                "the test PostgreSQL socket path {} is longer than {MAX_SOCKET_PATH} bytes: \
                 set TMPDIR to a shorter directory",
                socket.display()
            ));
        }
        // Our own new directory is owned by our effective uid: no libc needed.
        let root = match fs::metadata(&dir) {
            Ok(meta) => meta.uid() == 0,
            Err(e) => return Err(format!("cannot stat {}: {e}", dir.display())),
        };
        let tools = Tools::new(bin, root);
        let watchdog = match Watchdog::spawn(&dir, &tools) {
            Ok(watchdog) => watchdog,
            Err(e) => {
                let _ = fs::remove_dir(&dir);
                return Err(e);
            }
        };
        // From here on, dropping `server` stops and removes everything.
        let server = TestPostgres {
            dir,
            port,
            tools,
            shared,
            watchdog: Some(watchdog),
            tls,
        };
        static STALE: Once = Once::new();
        STALE.call_once(|| remove_stale(&tmp, &server.tools));

        if root {
            // initdb and postgres refuse to run as root.
            let mut chown = Command::new("chown");
            chown.arg("postgres:postgres").arg(&server.dir);
            run(chown).map_err(|e| {
                format!("{e} (as root, PostgreSQL runs as the postgres user, which `{INSTALL_HINT}` creates)")
            })?;
        }
        let mut initdb = server.tools.command("initdb");
        initdb
            .arg("-D")
            .arg(&server.dir)
            .args(["-U", USER, "--auth=trust", "--no-locale", "--encoding=UTF8"])
            // Nothing here has to survive a crash.
            .arg("--no-sync");
        run(initdb).map_err(|e| {
            if root {
                format!(
                    "{e}\n(as root, PostgreSQL runs as the postgres user, \
                     which must be able to reach {})",
                    server.dir.display()
                )
            } else {
                e
            }
        })?;
        server.configure()?;
        server.pg_ctl_start()?;
        Ok(server)
    }

    /// Appends the test settings to `postgresql.conf`: in the file rather
    /// than `pg_ctl -o`, which goes through a shell and so would need the
    /// directory quoted, and so that `resume` gets them too.
    fn configure(&self) -> Result<(), String> {
        let quoted = self.dir.to_string_lossy().replace('\'', "''");
        let settings = format!(
            "\n# bouncer::testing::postgres\n\
             listen_addresses = ''\n\
             unix_socket_directories = '{quoted}'\n\
             port = {port}\n\
             # Throwaway data: durability only costs time.\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n\
             # Parallel tests, each with a pool or several nodes' pools.\n\
             max_connections = 200\n",
            port = self.port
        );
        let conf = self.dir.join("postgresql.conf");
        fs::OpenOptions::new()
            .append(true)
            .open(&conf)
            .and_then(|mut file| file.write_all(settings.as_bytes()))
            .map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
        let Some((cert, key)) = &self.tls else {
            return Ok(());
        };
        // TLS on 127.0.0.1 only: `hostssl` admits TLS connections, and
        // plain TCP ones find no entry and are refused.
        let write = |name: &str, text: &str, mode: u32| {
            let path = self.dir.join(name);
            fs::write(&path, text)
                .and_then(|()| fs::set_permissions(&path, fs::Permissions::from_mode(mode)))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))
        };
        write("server.crt", cert, 0o644)?;
        write("server.key", key, 0o600)?;
        write(
            "pg_hba.conf",
            &format!("local all all trust\nhostssl all {USER} 127.0.0.1/32 trust\n"),
            0o600,
        )?;
        if self.tools.runuser.is_some() {
            let mut chown = Command::new("chown");
            chown
                .arg("postgres:postgres")
                .arg(self.dir.join("server.crt"))
                .arg(self.dir.join("server.key"))
                .arg(self.dir.join("pg_hba.conf"));
            run(chown)?;
        }
        fs::OpenOptions::new()
            .append(true)
            .open(&conf)
            .and_then(|mut file| {
                file.write_all(
                    b"listen_addresses = '127.0.0.1'\nssl = on\n\
                      ssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n",
                )
            })
            .map_err(|e| format!("cannot write {}: {e}", conf.display()))
    }

    /// Starts the server and waits until it accepts connections.
    fn pg_ctl_start(&self) -> Result<(), String> {
        let mut start = self.pg_ctl();
        start
            .arg("-l")
            .arg(self.dir.join("log"))
            .args(["-w", "-t", "60", "start"]);
        run(start).map_err(|e| format!("{e}\n{}", self.log_tail()))
    }

    /// `pg_ctl -D <dir>`, as the user that owns the server.
    fn pg_ctl(&self) -> Command {
        let mut pg_ctl = self.tools.command("pg_ctl");
        pg_ctl.arg("-D").arg(&self.dir);
        pg_ctl
    }

    /// The URL of database `name` on this server. The socket directory is a
    /// query parameter, percent-encoded where needed: in the host part it
    /// would need every `/` encoded.
    fn url(&self, name: &str) -> String {
        let mut host = String::new();
        for &b in self.dir.as_os_str().as_bytes() {
            if b.is_ascii_alphanumeric() || b"/._-~".contains(&b) {
                host.push(char::from(b));
            } else {
                host.push_str(&format!("%{b:02X}"));
            }
        }
        format!("postgresql://{USER}@/{name}?host={host}&port={}", self.port)
    }

    /// The end of the server's log, for error messages.
    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.dir.join("log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        format!("server log ({}):\n{tail}", self.dir.join("log").display())
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        if let Some(watchdog) = self.watchdog.take() {
            watchdog.finish();
        }
    }
}

/// The PostgreSQL programs, and whether to run them as the `postgres` user.
struct Tools {
    bin: PathBuf,
    /// `runuser`, when running as root.
    runuser: Option<PathBuf>,
}

impl Tools {
    fn new(bin: PathBuf, root: bool) -> Tools {
        let runuser = root.then(|| {
            ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
                .iter()
                .map(PathBuf::from)
                .find(|p| p.is_file())
                .unwrap_or_else(|| PathBuf::from("runuser"))
        });
        Tools { bin, runuser }
    }

    /// A command running `tool` from the PostgreSQL directory.
    fn command(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        let mut command = match &self.runuser {
            Some(runuser) => {
                let mut command = Command::new(runuser);
                command.args(["-u", "postgres", "--"]).arg(program);
                command
            }
            None => Command::new(program),
        };
        // The postgres user may not be able to reach the caller's directory.
        command.current_dir("/");
        command
    }
}

/// The shell that stops a server and removes its directory once its pipe
/// from the test process closes.
struct Watchdog {
    child: Child,
    /// Held, never written: closing it is the signal.
    pipe: ChildStdin,
}

impl Watchdog {
    fn spawn(dir: &Path, tools: &Tools) -> Result<Watchdog, String> {
        let mut stop = tools.command("pg_ctl");
        stop.arg("-D").arg(dir).args(["-m", "immediate", "stop"]);
        // `read` returns at end of file: when every copy of the write end is
        // closed. Rust opens pipes close-on-exec, so no other child (pg_ctl,
        // the postmaster, a `bouncer serve`) holds a copy.
        let script = r#"read -r _; dir=$1; shift; "$@" >/dev/null 2>&1; rm -rf -- "$dir""#;
        let mut child = Command::new("sh")
            .args(["-c", script, "bouncer-pg-watchdog"])
            .arg(dir)
            .arg(stop.get_program())
            .args(stop.get_args())
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: a Ctrl-C aimed at the tests must not
            // kill it before it has cleaned up.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start the watchdog shell (sh): {e}"))?;
        match child.stdin.take() {
            Some(pipe) => Ok(Watchdog { child, pipe }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err("the watchdog shell has no stdin pipe".into())
            }
        }
    }

    /// Closes the pipe and waits while the watchdog stops the server and
    /// removes its directory.
    fn finish(self) {
        let Watchdog { mut child, pipe } = self;
        drop(pipe);
        let _ = child.wait();
    }
}

/// The directory holding `initdb`, `pg_ctl` and `postgres`: Debian's
/// PostgreSQL 15, else `pg_config --bindir`, else the newest Debian
/// PostgreSQL. `Err` says how to install it.
fn bindir() -> Result<PathBuf, String> {
    let complete = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|tool| dir.join(tool).is_file())
    };
    let debian15 = PathBuf::from("/usr/lib/postgresql/15/bin");
    if complete(&debian15) {
        return Ok(debian15);
    }
    // pg_config may come with the client library alone (Debian's
    // libpq-dev), naming a directory without the server.
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if complete(&dir) {
            return Ok(dir);
        }
    }
    let newest = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            complete(&bin).then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version);
    match newest {
        Some((_, bin)) => Ok(bin),
        None => Err(format!(
            "PostgreSQL is not installed (no initdb, pg_ctl and postgres in \
             /usr/lib/postgresql/*/bin or `pg_config --bindir`): {INSTALL_HINT}"
        )),
    }
}

/// Removes the directories of servers whose test process is gone and
/// whose watchdog did not clean up (it was killed too), stopping their
/// server first if it still runs. Best effort: errors are ignored.
fn remove_stale(tmp: &Path, tools: &Tools) {
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(owner) = name
            .to_str()
            .and_then(|name| name.strip_prefix(DIR_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if alive(owner) {
            continue;
        }
        let dir = entry.path();
        if postmaster_running(&dir) {
            let mut stop = tools.command("pg_ctl");
            stop.arg("-D").arg(&dir).args(["-m", "immediate", "stop"]);
            if run(stop).is_err() {
                // Not ours to stop (another user's): leave it be.
                continue;
            }
        }
        let _ = fs::remove_dir_all(&dir);
    }
}

/// Whether a postmaster runs on data directory `dir`. The pid in
/// `postmaster.pid` counts only if that process works in `dir`, as a
/// postmaster works in its data directory: pids get reused, and `pg_ctl
/// stop` would signal whatever process has it now.
fn postmaster_running(dir: &Path) -> bool {
    let pid = fs::read_to_string(dir.join("postmaster.pid"))
        .ok()
        .and_then(|file| file.lines().next()?.trim().parse::<u32>().ok());
    pid.and_then(|pid| fs::read_link(format!("/proc/{pid}/cwd")).ok())
        .is_some_and(|cwd| cwd == dir)
}

/// Whether process `pid` exists.
fn alive(pid: u32) -> bool {
    if Path::new("/proc/self").exists() {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        Command::new("kill")
            .args(["-0", &pid.to_string()])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }
}

/// Runs `command` to completion; `Err` has its output.
fn run(mut command: Command) -> Result<(), String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{command:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use postgres::Client;
    use postgres::config::Host;

    /// Runs `SELECT 1` on `url`, and says which database it reached.
    fn current_database(url: &str) -> String {
        let mut client = Client::connect(url, NoTls).expect("connect");
        let one: i32 = client.query_one("SELECT 1", &[]).unwrap().get(0);
        assert_eq!(one, 1);
        client
            .query_one("SELECT current_database()::text", &[])
            .unwrap()
            .get(0)
    }

    #[test]
    fn shared_server_starts_once() {
        let Some(first) = TestPostgres::shared_or_skip() else {
            return;
        };
        let second = TestPostgres::shared().unwrap();
        assert!(std::ptr::eq(first, second));
        assert!(first.dir.is_dir());
    }

    #[test]
    fn databases_are_distinct_empty_and_connectable() {
        let Some(pg) = TestPostgres::shared_or_skip() else {
            return;
        };
        let (a, b) = (pg.database(), pg.database());
        assert_ne!(a, b);
        for url in [&a, &b] {
            let name = url.parse::<postgres::Config>().unwrap();
            assert_eq!(Some(current_database(url).as_str()), name.get_dbname());
            let mut client = Client::connect(url, NoTls).unwrap();
            let tables: i64 = client
                .query_one(
                    "SELECT count(*) FROM pg_catalog.pg_tables \
                     WHERE schemaname NOT IN ('pg_catalog', 'information_schema')",
                    &[],
                )
                .unwrap()
                .get(0);
            assert_eq!(tables, 0, "{url} is not empty");
        }
        // A table made in one is not in the other.
        Client::connect(&a, NoTls)
            .unwrap()
            .batch_execute("CREATE TABLE only_in_a (x int)")
            .unwrap();
        let mut other = Client::connect(&b, NoTls).unwrap();
        assert!(other.batch_execute("SELECT * FROM only_in_a").is_err());
    }

    #[test]
    fn url_parses_to_the_socket_directory_and_port() {
        let Some(pg) = TestPostgres::shared_or_skip() else {
            return;
        };
        let url = pg.database();
        let config = url.parse::<postgres::Config>().unwrap();
        assert_eq!(config.get_hosts(), [Host::Unix(pg.dir.clone())]);
        assert_eq!(config.get_ports(), [pg.port]);
        assert_eq!(config.get_user(), Some(USER));
        assert!(config.get_dbname().unwrap().starts_with("t_"));
    }

    #[test]
    fn database_works_inside_an_async_runtime() {
        let Some(pg) = TestPostgres::shared_or_skip() else {
            return;
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let url = runtime.block_on(async { pg.database() });
        current_database(&url);
    }

    #[test]
    fn owned_server_stops_resumes_and_is_removed_on_drop() {
        let Some(pg) = TestPostgres::start_or_skip() else {
            return;
        };
        let url = pg.database();
        let mut client = Client::connect(&url, NoTls).unwrap();
        client
            .batch_execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)")
            .unwrap();

        pg.stop();
        assert!(client.query_one("SELECT 1", &[]).is_err());
        assert!(Client::connect(&url, NoTls).is_err());

        pg.resume();
        let mut client = Client::connect(&url, NoTls).unwrap();
        let x: i32 = client.query_one("SELECT x FROM kept", &[]).unwrap().get(0);
        assert_eq!(x, 7);

        let dir = pg.dir.clone();
        drop(client);
        drop(pg);
        assert!(!dir.exists(), "{} was not removed", dir.display());
        assert!(Client::connect(&url, NoTls).is_err());
    }

    #[test]
    fn socket_directory_is_percent_encoded_in_the_url() {
        let pg = TestPostgres {
            dir: PathBuf::from("/tmp/a b&c%d?e=f"),
            port: 20_001,
            tools: Tools::new(PathBuf::from("/nonexistent"), false),
            shared: true,
            watchdog: None,
            tls: None,
        };
        let url = pg.url("t_9");
        assert_eq!(
            url,
            "postgresql://bouncer@/t_9?host=/tmp/a%20b%26c%25d%3Fe%3Df&port=20001"
        );
        let config = url.parse::<postgres::Config>().unwrap();
        assert_eq!(config.get_hosts(), [Host::Unix(pg.dir.clone())]);
        assert_eq!(config.get_ports(), [20_001]);
        assert_eq!(config.get_dbname(), Some("t_9"));
    }
}
