//! Test mirrors for sentry: tiny threaded HTTP/1.1 servers on 127.0.0.1 (or ::1)
//! (std::net only) serving files from memory, each with a behaviour a test
//! picks and may change while it runs (break a mirror, repair it).
//!
//! Every connection gets its own thread (at most [`MAX_CONNECTIONS`] at
//! once) and one answer (`Connection: close`). A [`Behaviour::Slow`] mirror
//! holds its answers until it is dropped: no sleeps, the test's end
//! releases them.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Connections served at once, at most; further ones wait to be accepted.
const MAX_CONNECTIONS: usize = 64;
/// The longest request head read.
const MAX_HEAD: usize = 16 * 1024;
/// How long a connection may stay silent.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a [`Behaviour::Gathering`] answer waits, at most: well within
/// the tests' sentry timeouts.
pub const GATHER_LIMIT: Duration = Duration::from_secs(2);

/// A base URL whose host never resolves (RFC 6761 reserves `.invalid`).
pub const UNRESOLVABLE: &str = "http://mirror.invalid";

/// Path from the mirror's root → content.
pub type Files = Arc<BTreeMap<String, Vec<u8>>>;

/// How a mirror answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Serves its files (HEAD, GET, `Range`) as `application/octet-stream`
    /// with `Content-Length`; 404 for anything else.
    Healthy,
    /// Healthy, except that these paths answer 404 (a partial sync).
    Missing(Vec<String>),
    /// 500 for everything.
    Broken,
    /// Reads each request and answers only once the mirror is dropped.
    Slow,
    /// `200 text/html` for everything: an error page instead of the file.
    ErrorPage,
    /// Files one byte longer than they should be.
    WrongSize,
    /// Files of the right size with other bytes.
    WrongContent,
    /// Accepts connections and drops them with the request unread (a reset).
    Reset,
    /// Files redirect to themselves; the root answers normally.
    RedirectLoop,
    /// HEAD is refused with 405; GET, ranged or not, works.
    HeadRefused,
    /// Healthy, but every answer waits until this many requests have been
    /// in flight at once (an event, not a delay: on a loaded machine the
    /// checker's concurrent requests still meet), or at most
    /// [`GATHER_LIMIT`], so a client that never sends that many at once
    /// gets its answers and the test sees a lower [`Mirror::max_in_flight`].
    Gathering(usize),
}

struct Shared {
    files: Files,
    behaviour: Mutex<Behaviour>,
    /// Set when the mirror is dropped: slow answers go out, accepting ends.
    released: Mutex<bool>,
    release: Condvar,
    /// Connections being served.
    active: Mutex<usize>,
    slot_freed: Condvar,
    /// Requests received (reset connections: an empty method).
    seen: Mutex<Vec<Seen>>,
    /// Requests read and not yet answered, and the most there were at once.
    in_flight: Mutex<(usize, usize)>,
    /// Notified whenever a request comes in flight.
    arrived: Condvar,
    stop: AtomicBool,
}

/// A running test mirror; stopped (and its slow answers released) when
/// dropped.
pub struct Mirror {
    /// Its base URL, `http://127.0.0.1:PORT` (or `http://[::1]:PORT`).
    pub url: String,
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl Mirror {
    /// Starts a mirror serving `files` the way `behaviour` says.
    pub fn start(files: &Files, behaviour: Behaviour) -> Mirror {
        Mirror::start_on("127.0.0.1:0", files, behaviour)
    }

    /// [`Mirror::start`] listening on `bind` only (`[::1]:0`: an
    /// IPv6-only mirror, `http://[::1]:PORT`).
    pub fn start_on(bind: &str, files: &Files, behaviour: Behaviour) -> Mirror {
        let listener = TcpListener::bind(bind).expect("bind a test mirror");
        let addr = listener.local_addr().expect("test mirror address");
        let shared = Arc::new(Shared {
            files: files.clone(),
            behaviour: Mutex::new(behaviour),
            released: Mutex::new(false),
            release: Condvar::new(),
            active: Mutex::new(0),
            slot_freed: Condvar::new(),
            seen: Mutex::new(Vec::new()),
            in_flight: Mutex::new((0, 0)),
            arrived: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let url = format!("http://{addr}");
        let accept = {
            let shared = shared.clone();
            let url = url.clone();
            std::thread::spawn(move || accept_loop(&listener, &shared, &url))
        };
        Mirror {
            url,
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// Changes how it answers from the next connection on.
    pub fn set(&self, behaviour: Behaviour) {
        *self.shared.behaviour.lock().unwrap() = behaviour;
    }

    /// How many requests it has received.
    pub fn requests(&self) -> usize {
        self.shared.seen.lock().unwrap().len()
    }

    /// The requests it has received, in order of arrival.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// The most requests it was answering at once.
    pub fn max_in_flight(&self) -> usize {
        self.shared.in_flight.lock().unwrap().1
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        *self.shared.released.lock().unwrap() = true;
        self.shared.release.notify_all();
        // Wake the accept loop (blocked in accept or waiting for a slot).
        self.shared.slot_freed.notify_all();
        let _ = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, url: &str) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        {
            let mut active = shared.active.lock().unwrap();
            while *active >= MAX_CONNECTIONS && !shared.stop.load(Ordering::SeqCst) {
                active = shared.slot_freed.wait(active).unwrap();
            }
            *active += 1;
        }
        let shared = shared.clone();
        let url = url.to_string();
        std::thread::spawn(move || {
            let _ = serve(stream, &shared, &url);
            *shared.active.lock().unwrap() -= 1;
            shared.slot_freed.notify_all();
        });
    }
}

/// A request as received: method, path (query dropped) and two headers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
    pub user_agent: Option<String>,
}

fn read_request(stream: &mut TcpStream) -> std::io::Result<Seen> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD || stream.read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_string();
    let target = first.next().unwrap_or("/");
    let path = target.split('?').next().unwrap_or("/").to_string();
    let headers: Vec<(&str, &str)> = lines.filter_map(|l| l.split_once(':')).collect();
    let header = |wanted: &str| {
        headers
            .iter()
            .find(|(name, _)| name.trim().eq_ignore_ascii_case(wanted))
            .map(|(_, value)| value.trim().to_string())
    };
    Ok(Seen {
        method,
        path,
        range: header("range"),
        user_agent: header("user-agent"),
    })
}

fn serve(mut stream: TcpStream, shared: &Shared, url: &str) -> std::io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let behaviour = shared.behaviour.lock().unwrap().clone();
    if behaviour == Behaviour::Reset {
        // Wait for the request, leave it unread and close: the kernel
        // answers with a reset.
        let _ = stream.peek(&mut [0u8; 1]);
        shared.seen.lock().unwrap().push(Seen::default());
        return Ok(());
    }
    let request = read_request(&mut stream)?;
    shared.seen.lock().unwrap().push(request.clone());
    {
        let mut in_flight = shared.in_flight.lock().unwrap();
        in_flight.0 += 1;
        in_flight.1 = in_flight.1.max(in_flight.0);
        shared.arrived.notify_all();
    }
    let reply = answer(&request, &behaviour, shared, url);
    // Counted out before the answer leaves: the client cannot have moved
    // on to its next request yet.
    shared.in_flight.lock().unwrap().0 -= 1;
    write_reply(&mut stream, &reply, request.method == "HEAD")
}

/// What `behaviour` answers to `request`.
fn answer(request: &Seen, behaviour: &Behaviour, shared: &Shared, url: &str) -> Reply {
    let head = request.method == "HEAD";
    if !head && request.method != "GET" {
        return Reply::text(405, "text/plain", "GET only");
    }
    match (behaviour, shared.files.get(&request.path)) {
        (Behaviour::Gathering(n), _) => {
            let in_flight = shared.in_flight.lock().unwrap();
            let _ = shared
                .arrived
                .wait_timeout_while(in_flight, GATHER_LIMIT, |f| f.1 < *n);
            answer(request, &Behaviour::Healthy, shared, url)
        }
        (Behaviour::Slow, _) => {
            let mut released = shared.released.lock().unwrap();
            while !*released {
                released = shared.release.wait(released).unwrap();
            }
            Reply::text(503, "text/plain", "released at the end of the test")
        }
        (Behaviour::Broken, _) => Reply::text(500, "text/plain", "internal error"),
        (Behaviour::ErrorPage, _) => Reply::text(
            200,
            "text/html; charset=utf-8",
            "<!doctype html><title>Not here</title><p>We moved.",
        ),
        (Behaviour::RedirectLoop, Some(_)) => Reply {
            status: 302,
            headers: vec![("Location".into(), format!("{url}{}", request.path))],
            body: Vec::new(),
        },
        (Behaviour::HeadRefused, _) if head => Reply {
            status: 405,
            headers: vec![("Allow".into(), "GET".into())],
            body: Vec::new(),
        },
        (Behaviour::Missing(paths), _) if paths.contains(&request.path) => {
            Reply::text(404, "text/plain", "not found")
        }
        (_, None) => Reply::text(404, "text/plain", "not found"),
        (_, Some(content)) => {
            let content = match behaviour {
                Behaviour::WrongSize => [content.as_slice(), b"!"].concat(),
                Behaviour::WrongContent => content.iter().map(|b| !b).collect(),
                _ => content.clone(),
            };
            file_reply(content, request.range.as_deref())
        }
    }
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn text(status: u16, content_type: &str, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.as_bytes().to_vec(),
        }
    }
}

/// The whole file, or the byte range asked for (`bytes=A-B`, `bytes=A-`).
fn file_reply(content: Vec<u8>, range: Option<&str>) -> Reply {
    let len = content.len();
    let mut headers = vec![("Content-Type".into(), "application/octet-stream".into())];
    let wanted = range
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split_once('-'))
        .and_then(|(a, b)| {
            let first: usize = a.trim().parse().ok()?;
            let last = match b.trim() {
                "" => len.checked_sub(1)?,
                b => b.parse::<usize>().ok()?.min(len.checked_sub(1)?),
            };
            (first <= last).then_some((first, last))
        });
    match wanted {
        Some((first, last)) => {
            headers.push((
                "Content-Range".into(),
                format!("bytes {first}-{last}/{len}"),
            ));
            Reply {
                status: 206,
                headers,
                body: content[first..=last].to_vec(),
            }
        }
        None => Reply {
            status: 200,
            headers,
            body: content,
        },
    }
}

fn write_reply(stream: &mut TcpStream, reply: &Reply, head: bool) -> std::io::Result<()> {
    let reason = match reply.status {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Whatever",
    };
    let mut out = format!("HTTP/1.1 {} {reason}\r\n", reply.status);
    for (name, value) in &reply.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        reply.body.len()
    ));
    let mut bytes = out.into_bytes();
    if !head {
        bytes.extend_from_slice(&reply.body);
    }
    stream.write_all(&bytes)?;
    stream.flush()
}
