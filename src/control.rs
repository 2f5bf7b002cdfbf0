//! The local control socket. redb lets one process open a database, so
//! while `bouncer serve` runs, other `bouncer` commands on the same
//! database send their arguments here and print the server's answer: the
//! same code runs either way, so the output is identical.
//!
//! The socket lives beside the database (`<db>.sock`) and is readable and
//! writable by its owner only. Wire format, all lengths u32 big-endian:
//! request = `BNC1`, argument count, each argument (length, bytes), input
//! flag (u8), input (length, bytes); reply = exit code (u8), stdout
//! (length, bytes), stderr (length, bytes).
//!
//! Bounded: [`MAX_CONNECTIONS`] connections are served at once (one
//! thread each; more are told the server is busy), a request must arrive
//! within [`REQUEST_TIMEOUT`], an argument is at most [`MAX_ARGUMENT`]
//! bytes, and memory grows with the bytes that really arrive, never with
//! a length a client merely claims.

use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use argh::FromArgs;

use crate::cli::Bouncer;
use crate::commands::{Context, Outcome, execute};
use crate::error::{Error, Result};
use crate::store::Place;

const MAGIC: &[u8; 4] = b"BNC1";
/// Largest input accepted (a checksum file or an export forwarded as
/// input fits).
const MAX_FIELD: u32 = 256 * 1024 * 1024;
/// Longest argument accepted (a name, a URL, a path).
pub const MAX_ARGUMENT: u32 = 64 * 1024;
/// Arguments accepted at most.
const MAX_ARGUMENTS: u32 = 1024;
/// Connections served at once, at most.
pub const MAX_CONNECTIONS: usize = 16;
/// How long a client may take to send its request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A command line to run in the server.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Request {
    /// Arguments after the program name, without `--db`.
    pub args: Vec<String>,
    /// What the user piped in, if the command needs it.
    pub input: Option<Vec<u8>>,
}

/// Where the control socket of the database at `db` lives.
pub fn socket_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(".sock");
    PathBuf::from(s)
}

/// The longest socket path the kernel takes (`sun_path`, less the NUL).
const MAX_SOCKET_PATH: usize = 107;

/// A socket path short enough for the kernel. A longer one is reached
/// through `/proc/self/fd/N/NAME`, where N is an open handle on its
/// directory; the handle must live while the path is used.
fn reachable(path: &Path) -> io::Result<(PathBuf, Option<std::fs::File>)> {
    if path.as_os_str().len() <= MAX_SOCKET_PATH {
        return Ok((path.to_path_buf(), None));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "socket path has no file name")
    })?;
    let handle = std::fs::File::open(dir)?;
    use std::os::fd::AsRawFd;
    let short = PathBuf::from(format!("/proc/self/fd/{}", handle.as_raw_fd())).join(name);
    if short.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the database's file name is too long for a control socket; use a shorter name",
        ));
    }
    Ok((short, Some(handle)))
}

fn connect(path: &Path) -> io::Result<UnixStream> {
    let (short, _dir) = reachable(path)?;
    UnixStream::connect(short)
}

/// Sends `request` to the server holding `db`. `Ok(None)` when no server
/// listens (no socket, or a stale one left by a crash).
pub fn forward(db: &Place, request: &Request) -> Result<Option<Outcome>> {
    // A PostgreSQL network has no socket: commands work on the database,
    // which every node watches.
    let Some(db) = db.file() else {
        return Ok(None);
    };
    let path = socket_path(db);
    let mut stream = match connect(&path) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(Error::io(format!("cannot reach {}", path.display()), e)),
    };
    let talk = |stream: &mut UnixStream| -> io::Result<Outcome> {
        let mut buf = Vec::new();
        buf.extend_from_slice(MAGIC);
        put_u32(&mut buf, request.args.len() as u32);
        for a in &request.args {
            put_bytes(&mut buf, a.as_bytes());
        }
        buf.push(request.input.is_some() as u8);
        put_bytes(&mut buf, request.input.as_deref().unwrap_or(b""));
        // A busy server answers without reading: its answer counts even
        // when the request could not all be written.
        let written = stream.write_all(&buf).and_then(|()| stream.flush());
        let mut code = [0u8; 1];
        if let Err(e) = stream.read_exact(&mut code) {
            return Err(written.err().unwrap_or(e));
        }
        Ok(Outcome {
            code: code[0],
            stdout: read_string(stream)?,
            stderr: read_string(stream)?,
        })
    };
    talk(&mut stream).map(Some).map_err(|e| {
        Error::io(
            format!("the server at {} did not answer", path.display()),
            e,
        )
    })
}

/// A listening control socket; removes its file when dropped.
pub struct ControlSocket {
    path: PathBuf,
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Listens beside the context's database and runs each request against it
/// on its own thread.
pub fn listen(ctx: Arc<Context>) -> Result<ControlSocket> {
    listen_with(ctx, REQUEST_TIMEOUT)
}

/// [`listen`], giving clients `patience` to send their request.
fn listen_with(ctx: Arc<Context>, patience: Duration) -> Result<ControlSocket> {
    let Some(db) = ctx.db.file() else {
        return Err(Error::Internal(
            "no control socket for a PostgreSQL database".into(),
        ));
    };
    let path = socket_path(db);
    // A socket left by a crashed server: nobody answers, so replace it.
    if path.exists() && connect(&path).is_err() {
        let _ = std::fs::remove_file(&path);
    }
    // Bind inside a fresh owner-only directory, restrict the socket, then
    // move it into place: no one else can reach it at any moment.
    let dir = PathBuf::from(format!("{}.{}.d", path.display(), std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
    let tmp = dir.join("s");
    let bound = reachable(&tmp)
        .and_then(|(short, _dir)| UnixListener::bind(short))
        .and_then(|listener| {
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
            std::fs::rename(&tmp, &path)?;
            Ok(listener)
        });
    let _ = std::fs::remove_dir_all(&dir);
    let listener = bound.map_err(|e| {
        Error::io(
            format!("cannot set up control socket {}", path.display()),
            e,
        )
    })?;
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            let serving = Arc::new(AtomicUsize::new(0));
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                if serving.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
                    serving.fetch_sub(1, Ordering::AcqRel);
                    let busy = Outcome {
                        code: 1,
                        stdout: String::new(),
                        stderr: format!(
                            "error: the server is answering {MAX_CONNECTIONS} other commands; try again in a moment\n"
                        ),
                    };
                    let _ = stream.set_write_timeout(Some(patience));
                    let _ = stream.write_all(&reply_bytes(&busy));
                    continue;
                }
                let ctx = ctx.clone();
                let serving = serving.clone();
                let spawned = std::thread::Builder::new()
                    .name("control-conn".into())
                    .spawn({
                        let serving = serving.clone();
                        move || {
                            answer(stream, &ctx, patience);
                            serving.fetch_sub(1, Ordering::AcqRel);
                        }
                    });
                if spawned.is_err() {
                    serving.fetch_sub(1, Ordering::AcqRel);
                }
            }
        })
        .map_err(|e| Error::io("cannot start the control thread", e))?;
    Ok(ControlSocket { path })
}

fn answer(mut stream: UnixStream, ctx: &Context, patience: Duration) {
    let _ = stream.set_read_timeout(Some(patience));
    let outcome = match read_request(&mut stream) {
        Ok(request) => run(ctx, &request),
        Err(e) => Outcome {
            code: 2,
            stdout: String::new(),
            stderr: format!("error: malformed control request: {e}\n"),
        },
    };
    let _ = stream.write_all(&reply_bytes(&outcome));
}

/// An outcome as the wire carries it.
fn reply_bytes(outcome: &Outcome) -> Vec<u8> {
    let mut buf = vec![outcome.code];
    put_bytes(&mut buf, outcome.stdout.as_bytes());
    put_bytes(&mut buf, outcome.stderr.as_bytes());
    buf
}

/// Parses and runs a forwarded command line.
pub fn run(ctx: &Context, request: &Request) -> Outcome {
    let args: Vec<&str> = request.args.iter().map(String::as_str).collect();
    match Bouncer::from_args(&["bouncer"], &args) {
        Ok(cli) => execute(ctx, &cli.command, request.input.as_deref()),
        Err(early) => Outcome {
            code: if early.status.is_ok() { 0 } else { 2 },
            stdout: if early.status.is_ok() {
                early.output.clone()
            } else {
                String::new()
            },
            stderr: if early.status.is_ok() {
                String::new()
            } else {
                early.output
            },
        },
    }
}

fn read_request(stream: &mut UnixStream) -> io::Result<Request> {
    let mut magic = [0u8; 4];
    stream.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad magic (a different bouncer version?)",
        ));
    }
    let n = read_u32(stream)?;
    if n > MAX_ARGUMENTS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "too many arguments",
        ));
    }
    let mut args = Vec::with_capacity(n as usize);
    for _ in 0..n {
        args.push(read_string_at_most(stream, MAX_ARGUMENT)?);
    }
    let mut flag = [0u8; 1];
    stream.read_exact(&mut flag)?;
    let input = read_bytes(stream, MAX_FIELD)?;
    Ok(Request {
        args,
        input: (flag[0] == 1).then_some(input),
    })
}

fn put_u32(buf: &mut Vec<u8>, n: u32) {
    buf.extend_from_slice(&n.to_be_bytes());
}

fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_u32(buf, b.len() as u32);
    buf.extend_from_slice(b);
}

fn read_u32(r: &mut impl Read) -> io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_be_bytes(b))
}

/// A length-prefixed field of at most `max` bytes. The buffer grows with
/// what arrives, not with the length announced.
fn read_bytes(r: &mut impl Read, max: u32) -> io::Result<Vec<u8>> {
    let n = read_u32(r)?;
    if n > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a field of {n} bytes; at most {max} are accepted"),
        ));
    }
    let mut b = Vec::with_capacity((n as usize).min(64 * 1024));
    r.take(u64::from(n)).read_to_end(&mut b)?;
    if b.len() != n as usize {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the request ended early",
        ));
    }
    Ok(b)
}

fn read_string_at_most(r: &mut impl Read, max: u32) -> io::Result<String> {
    String::from_utf8(read_bytes(r, max)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8"))
}

/// A reply's text field (the server's own output: up to [`MAX_FIELD`]).
fn read_string(r: &mut impl Read) -> io::Result<String> {
    read_string_at_most(r, MAX_FIELD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip_through_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.redb");
        let network = Arc::new(crate::network::Network::open(&db, true).unwrap());
        let ctx = Arc::new(Context {
            network: network.clone(),
            db: Place::File(db.clone()),
            sentry: None,
        });
        let _socket = listen(ctx.clone()).unwrap();
        let mode = std::fs::metadata(socket_path(&db))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);

        let req = |args: &[&str]| Request {
            args: args.iter().map(|s| s.to_string()).collect(),
            input: None,
        };
        let out = forward(&Place::File(db.clone()), &req(&["os", "add", "BeOS"]))
            .unwrap()
            .unwrap();
        assert_eq!(
            (out.code, out.stdout.as_str()),
            (0, "added operating system beos\n")
        );
        // The server's index saw the change at once.
        assert!(
            network
                .snapshot()
                .unwrap()
                .oses
                .contains(&"beos".to_string())
        );
        let out = forward(&Place::File(db.clone()), &req(&["os", "add", "beos"]))
            .unwrap()
            .unwrap();
        assert_eq!(out.code, 1);
        assert!(out.stderr.contains("exists already"), "{}", out.stderr);
        let out = forward(&Place::File(db.clone()), &req(&["os", "frobnicate"]))
            .unwrap()
            .unwrap();
        assert_eq!(out.code, 2);
        // Same answer as running it here.
        let local = run(&ctx, &req(&["os", "list"]));
        let remote = forward(&Place::File(db.clone()), &req(&["os", "list"]))
            .unwrap()
            .unwrap();
        assert_eq!(local, remote);
    }

    /// `f`'s first `Some`, tried every 10 ms for at most 10 s.
    fn poll<T>(mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(std::time::Instant::now() < deadline, "not within 10 s");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn connections_and_arguments_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.redb");
        let network = Arc::new(crate::network::Network::open(&db, true).unwrap());
        let ctx = Arc::new(Context {
            network,
            db: Place::File(db.clone()),
            sentry: None,
        });
        // Idle clients are not timed out while the test runs.
        let _socket = listen_with(ctx, Duration::from_secs(3600)).unwrap();
        let list = Request {
            args: vec!["os".into(), "list".into()],
            input: None,
        };
        // A claimed 200 MiB argument is refused before anything that big
        // is kept.
        let mut s = connect(&socket_path(&db)).unwrap();
        let mut buf = MAGIC.to_vec();
        put_u32(&mut buf, 1);
        put_u32(&mut buf, 200 << 20);
        s.write_all(&buf).unwrap();
        let mut code = [0u8; 1];
        s.read_exact(&mut code).unwrap();
        assert_eq!(code[0], 2);
        let _ = read_string(&mut s).unwrap();
        let err = read_string(&mut s).unwrap();
        assert!(err.contains("at most 65536"), "{err}");
        // Idle connections up to the limit: the next command is told the
        // server is busy, not given a thread of its own.
        let idle: Vec<UnixStream> = (0..MAX_CONNECTIONS)
            .map(|_| connect(&socket_path(&db)).unwrap())
            .collect();
        let busy = poll(|| {
            let out = forward(&Place::File(db.clone()), &list).unwrap().unwrap();
            (out.code == 1).then_some(out)
        });
        assert!(busy.stderr.contains("try again"), "{}", busy.stderr);
        // Gone idle connections free their places.
        drop(idle);
        let ok = poll(|| {
            let out = forward(&Place::File(db.clone()), &list).unwrap().unwrap();
            (out.code == 0).then_some(out)
        });
        assert!(ok.stdout.contains("win"), "{}", ok.stdout);
    }

    #[test]
    fn no_server_means_none() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.redb");
        assert_eq!(
            forward(&Place::File(db.clone()), &Request::default()).unwrap(),
            None
        );
        // A stale socket file (server killed) also means none.
        drop(UnixListener::bind(socket_path(&db)).unwrap());
        assert_eq!(
            forward(&Place::File(db.clone()), &Request::default()).unwrap(),
            None
        );
    }
}
