//! A tiny SMTP server on 127.0.0.1 (std::net only, one thread per
//! connection) that accepts every message and hands it to the test.
//! A message is recorded before its `250` goes out, so once the command
//! that sent it has exited, it is waiting in [`Smtp::next`].
//!
//! Plain by default; [`Smtp::start_with`] makes it offer STARTTLS or speak
//! TLS from the first byte (rustls, a certificate from a test
//! [`Ca`](super::tls::Ca)), and require a login (AUTH PLAIN and/or LOGIN)
//! before it takes a message. Like a real submission server, it offers
//! AUTH only over TLS when it offers STARTTLS, and refuses `MAIL` until
//! the client has upgraded and logged in.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine as _;
use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// How long a test waits for a message that should come.
const WAIT: Duration = Duration::from_secs(20);
/// How long a connection may stay silent.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// One message as received.
#[derive(Debug, Clone)]
pub struct Mail {
    /// `RCPT TO` addresses, without angle brackets.
    pub to: Vec<String>,
    /// Headers and body, header continuation lines unfolded, dot-stuffing
    /// undone.
    pub data: String,
    /// Whether it came over TLS (STARTTLS or implicit).
    pub tls: bool,
    /// The user the client logged in as, and with which mechanism
    /// (`PLAIN` or `LOGIN`); `None` without a login.
    pub login: Option<(String, &'static str)>,
}

impl Mail {
    /// The `Subject` header's value.
    pub fn subject(&self) -> &str {
        self.data
            .lines()
            .take_while(|l| !l.is_empty())
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or("")
    }
}

/// How the server secures its connections.
#[derive(Clone, Default)]
pub enum Security {
    /// Plain text throughout.
    #[default]
    Plain,
    /// Plain at first, STARTTLS offered and required before AUTH and MAIL
    /// (submission, usually port 587).
    StartTls(Arc<ServerConfig>),
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls(Arc<ServerConfig>),
}

/// The login the server requires before it takes a message.
#[derive(Clone, Debug)]
pub struct Login {
    pub user: String,
    pub password: String,
    /// The mechanisms advertised and accepted: `PLAIN`, `LOGIN` or both
    /// (a client picks among them in its own order).
    pub mechanisms: Vec<&'static str>,
}

impl Login {
    /// `user` with `password`, over PLAIN or LOGIN.
    pub fn new(user: &str, password: &str) -> Login {
        Login {
            user: user.to_string(),
            password: password.to_string(),
            mechanisms: vec!["PLAIN", "LOGIN"],
        }
    }
}

/// What every connection of one server is set up with.
struct Setup {
    security: Security,
    login: Option<Login>,
}

/// A running SMTP server; stopped when dropped.
pub struct Smtp {
    pub port: u16,
    addr: SocketAddr,
    received: Receiver<Mail>,
    stop: std::sync::Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Smtp {
    /// A plain server that takes mail without a login.
    pub fn start() -> Smtp {
        Smtp::start_with(Security::Plain, None)
    }

    /// A server secured as `security`, requiring `login` if given.
    pub fn start_with(security: Security, login: Option<Login>) -> Smtp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the SMTP server");
        let addr = listener.local_addr().expect("SMTP server address");
        let (tx, received) = mpsc::channel();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let setup = Arc::new(Setup { security, login });
        let accept = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let (tx, setup) = (tx.clone(), setup.clone());
                    std::thread::spawn(move || {
                        let _ = session(stream, &setup, &tx);
                    });
                }
            })
        };
        Smtp {
            port: addr.port(),
            addr,
            received,
            stop,
            accept: Some(accept),
        }
    }

    /// The next message; fails the test if none comes within a bound.
    pub fn next(&self) -> Mail {
        match self.received.recv_timeout(WAIT) {
            Ok(mail) => mail,
            Err(RecvTimeoutError::Timeout) => panic!("no mail arrived within {WAIT:?}"),
            Err(RecvTimeoutError::Disconnected) => panic!("the SMTP server stopped"),
        }
    }

    /// Messages already received and not yet taken.
    pub fn pending(&self) -> Vec<Mail> {
        self.received.try_iter().collect()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, IO_TIMEOUT);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// A connection, before or after TLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Conn {
    /// This connection with TLS on top; reading runs the handshake.
    fn upgrade(self, config: &Arc<ServerConfig>) -> std::io::Result<Conn> {
        match self {
            Conn::Plain(tcp) => {
                let server =
                    ServerConnection::new(config.clone()).map_err(std::io::Error::other)?;
                Ok(Conn::Tls(Box::new(StreamOwned::new(server, tcp))))
            }
            Conn::Tls(_) => Err(std::io::Error::other("TLS twice")),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// Sends one reply line (CRLF added) and flushes it out of TLS's buffer.
fn reply(input: &mut BufReader<Conn>, line: &str) -> std::io::Result<()> {
    let conn = input.get_mut();
    conn.write_all(line.as_bytes())?;
    conn.write_all(b"\r\n")?;
    conn.flush()
}

/// The next line, CRLF included; `None` when the client has gone.
fn read_line(input: &mut BufReader<Conn>) -> std::io::Result<Option<String>> {
    let mut line = String::new();
    Ok((input.read_line(&mut line)? != 0).then_some(line))
}

fn base64_text(s: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// The SASL exchange after `AUTH <mechanism> [initial]`: the user and
/// password the client gave, or `None` if it cancelled or sent garbage.
fn sasl(
    input: &mut BufReader<Conn>,
    mechanism: &str,
    initial: Option<&str>,
) -> std::io::Result<Option<(String, String)>> {
    // The client's answer to a `334` challenge, or the initial response.
    let mut answer = |initial: Option<&str>, challenge: &str| -> std::io::Result<Option<String>> {
        if let Some(initial) = initial {
            return Ok(base64_text(initial));
        }
        reply(input, &format!("334 {challenge}"))?;
        Ok(read_line(input)?
            .filter(|l| l.trim() != "*")
            .and_then(|l| base64_text(&l)))
    };
    match mechanism {
        "PLAIN" => {
            let Some(text) = answer(initial, "")? else {
                return Ok(None);
            };
            // authzid NUL authcid NUL password
            let mut parts = text.split('\0');
            let (_authzid, user, password) = (parts.next(), parts.next(), parts.next());
            Ok(user
                .zip(password)
                .map(|(u, p)| (u.to_string(), p.to_string())))
        }
        "LOGIN" => {
            let user = answer(initial, "VXNlcm5hbWU6")?; // "Username:"
            let Some(user) = user else { return Ok(None) };
            let password = answer(None, "UGFzc3dvcmQ6")?; // "Password:"
            Ok(password.map(|p| (user, p)))
        }
        _ => Ok(None),
    }
}

fn session(stream: TcpStream, setup: &Setup, received: &Sender<Mail>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut conn = Conn::Plain(stream);
    let mut tls = false;
    if let Security::Tls(config) = &setup.security {
        conn = conn.upgrade(config)?;
        tls = true;
    }
    let starttls = match &setup.security {
        Security::StartTls(config) => Some(config),
        _ => None,
    };
    let mut input = BufReader::new(conn);
    reply(&mut input, "220 smtp.test ESMTP ready")?;
    let mut to = Vec::new();
    let mut login: Option<(String, &'static str)> = None;
    loop {
        let Some(line) = read_line(&mut input)? else {
            return Ok(());
        };
        let command = line.trim_end().to_ascii_uppercase();
        let verb = command.split([' ', ':']).next().unwrap_or("");
        // Submission rules: TLS first when offered, then the login.
        let needs_tls = starttls.is_some() && !tls;
        match verb {
            "EHLO" | "HELO" => {
                let mut lines = vec!["smtp.test".to_string()];
                if needs_tls {
                    lines.push("STARTTLS".to_string());
                } else if let Some(l) = &setup.login {
                    lines.push(format!("AUTH {}", l.mechanisms.join(" ")));
                }
                let last = lines.len() - 1;
                for (i, l) in lines.iter().enumerate() {
                    reply(
                        &mut input,
                        &format!("250{}{l}", if i == last { ' ' } else { '-' }),
                    )?;
                }
            }
            "STARTTLS" => match starttls {
                Some(config) if !tls => {
                    reply(&mut input, "220 2.0.0 ready to start TLS")?;
                    // A client must wait for the 220 before its handshake;
                    // anything read ahead would be a plain-text injection.
                    if !input.buffer().is_empty() {
                        return Err(std::io::Error::other("data pipelined after STARTTLS"));
                    }
                    input = BufReader::new(input.into_inner().upgrade(config)?);
                    tls = true;
                    // RFC 3207: everything learnt before TLS is forgotten.
                    to.clear();
                    login = None;
                }
                _ => reply(&mut input, "502 5.5.1 STARTTLS not offered")?,
            },
            "AUTH" => {
                let Some(expected) = &setup.login else {
                    reply(&mut input, "502 5.5.1 AUTH not offered")?;
                    continue;
                };
                if needs_tls {
                    reply(&mut input, "530 5.7.0 Must issue a STARTTLS command first")?;
                    continue;
                }
                if login.is_some() {
                    reply(&mut input, "503 5.5.1 already authenticated")?;
                    continue;
                }
                let mut words = line.split_whitespace().skip(1);
                let mechanism = words.next().unwrap_or("").to_ascii_uppercase();
                let Some(&mechanism) = expected.mechanisms.iter().find(|m| **m == mechanism) else {
                    reply(&mut input, "504 5.5.4 mechanism not supported")?;
                    continue;
                };
                match sasl(&mut input, mechanism, words.next())? {
                    Some((user, password))
                        if user == expected.user && password == expected.password =>
                    {
                        login = Some((user, mechanism));
                        reply(&mut input, "235 2.7.0 Authentication successful")?;
                    }
                    Some(_) => reply(&mut input, "535 5.7.8 Authentication credentials invalid")?,
                    None => reply(&mut input, "501 5.5.2 cannot decode the response")?,
                }
            }
            "MAIL" if needs_tls => {
                reply(&mut input, "530 5.7.0 Must issue a STARTTLS command first")?
            }
            "MAIL" if setup.login.is_some() && login.is_none() => {
                reply(&mut input, "530 5.7.0 Authentication required")?
            }
            "MAIL" => {
                to.clear();
                reply(&mut input, "250 OK")?;
            }
            "RCPT" => {
                let address = line
                    .split_once('<')
                    .and_then(|(_, rest)| rest.split_once('>'))
                    .map_or("", |(a, _)| a);
                to.push(address.to_string());
                reply(&mut input, "250 OK")?;
            }
            "DATA" => {
                reply(&mut input, "354 end with <CRLF>.<CRLF>")?;
                let mut data = String::new();
                loop {
                    let Some(line) = read_line(&mut input)? else {
                        return Ok(());
                    };
                    if line == ".\r\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                let (head, body) = data.split_once("\r\n\r\n").unwrap_or((&data, ""));
                let data = format!(
                    "{}\n\n{}",
                    head.replace("\r\n ", " ").replace("\r\n\t", " "),
                    body
                )
                .replace("\r\n", "\n");
                let _ = received.send(Mail {
                    to: std::mem::take(&mut to),
                    data,
                    tls,
                    login: login.clone(),
                });
                reply(&mut input, "250 OK: queued")?;
            }
            "QUIT" => {
                reply(&mut input, "221 bye")?;
                if let Conn::Tls(s) = input.get_mut() {
                    s.conn.send_close_notify();
                    let _ = s.flush();
                }
                return Ok(());
            }
            "RSET" | "NOOP" => reply(&mut input, "250 OK")?,
            _ => reply(&mut input, "502 not implemented")?,
        }
    }
}
