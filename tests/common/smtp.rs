//! A tiny SMTP server on 127.0.0.1 (std::net only, one thread per
//! connection) that accepts every message and hands it to the test.
//! A message is recorded before its `250` goes out, so once the command
//! that sent it has exited, it is waiting in [`Smtp::next`].

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

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

/// A running SMTP server; stopped when dropped.
pub struct Smtp {
    pub port: u16,
    addr: SocketAddr,
    received: Receiver<Mail>,
    stop: std::sync::Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Smtp {
    pub fn start() -> Smtp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the SMTP server");
        let addr = listener.local_addr().expect("SMTP server address");
        let (tx, received) = mpsc::channel();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let accept = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let tx = tx.clone();
                    std::thread::spawn(move || {
                        let _ = session(stream, &tx);
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

fn session(stream: TcpStream, received: &Sender<Mail>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut out = stream.try_clone()?;
    let mut input = BufReader::new(stream);
    out.write_all(b"220 smtp.test ESMTP ready\r\n")?;
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_ascii_uppercase();
        let verb = command.split([' ', ':']).next().unwrap_or("");
        match verb {
            "EHLO" | "HELO" => out.write_all(b"250 smtp.test\r\n")?,
            "MAIL" => {
                to.clear();
                out.write_all(b"250 OK\r\n")?;
            }
            "RCPT" => {
                let address = line
                    .split_once('<')
                    .and_then(|(_, rest)| rest.split_once('>'))
                    .map_or("", |(a, _)| a);
                to.push(address.to_string());
                out.write_all(b"250 OK\r\n")?;
            }
            "DATA" => {
                out.write_all(b"354 end with <CRLF>.<CRLF>\r\n")?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if input.read_line(&mut line)? == 0 {
                        return Ok(());
                    }
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
                });
                out.write_all(b"250 OK: queued\r\n")?;
            }
            "QUIT" => {
                out.write_all(b"221 bye\r\n")?;
                return Ok(());
            }
            "RSET" | "NOOP" => out.write_all(b"250 OK\r\n")?,
            _ => out.write_all(b"502 not implemented\r\n")?,
        }
    }
}
