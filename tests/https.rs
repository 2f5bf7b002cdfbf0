//! SPEC §12 with certificate files: `serve --tls-cert --tls-key` answers
//! over HTTP/2 and HTTP/1.1 (curl), counts TLS requests as HTTPS (https
//! mirrors only, as behind a proxy), gives admin answers HSTS and `Secure`
//! cookies; the plain listener redirects the admin pages and the API to
//! HTTPS and still serves redirects; a changed certificate is served to
//! new connections while an open one keeps working; bad files stop the
//! start with the reason. And `bouncer demo --tls`: every example it
//! prints, run with curl, gives the answer it states.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::https::{TlsClient, curl, curl_missing, https_port};
use crate::common::mirror::{Behaviour, Mirror};
use crate::common::tls::{Ca, TlsMirror};
use crate::common::{Env, Server, net, poll};

const PLAIN: &str = "plain";
const SECURE: &str = "sec";
const PATH: &str = "/p/win/en-US/setup.exe";

/// A certificate and key from `ca` for 127.0.0.1 and localhost, written
/// as `NAME-cert.pem` and `NAME-key.pem` in `dir`.
fn write_pair(ca: &Ca, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = ca.server_pem();
    let (c, k) = (
        dir.join(format!("{name}-cert.pem")),
        dir.join(format!("{name}-key.pem")),
    );
    std::fs::write(&c, cert).unwrap();
    std::fs::write(&k, key).unwrap();
    (c, k)
}

/// A network with an http mirror and an https one (trusted through `ca`),
/// both up and holding the file of an ordinary product and of an
/// https-only one.
fn network(ca: &Ca) -> (Env, Mirror, TlsMirror, PathBuf) {
    let files = net::files([PATH]);
    let http = Mirror::start(&files, Behaviour::Healthy);
    let https = TlsMirror::start(&files, ca);
    let env = Env::new();
    let dir = env.temp_dir().to_path_buf();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    env.ok(&["product", "add", PLAIN, "--lang", "en-US"]);
    env.ok(&["product", "add", SECURE, "--lang", "en-US", "--ssl-only"]);
    env.ok(&["location", "add", PLAIN, "win", PATH]);
    env.ok(&["location", "add", SECURE, "win", PATH]);
    env.ok(&["mirror", "add", "http-mirror", &http.url]);
    env.ok(&["mirror", "add", "https-mirror", &https.url]);
    let out = env.run_env(
        &["sentry", "--all", "--timeout", "5"],
        &[
            ("SSL_CERT_FILE", Some(ca_file.as_os_str())),
            ("SSL_CERT_DIR", None),
        ],
    );
    assert_eq!(out.code, 0, "{out:?}");
    let list = env.mirror_list();
    assert_eq!(list["https-mirror"].0, "up", "{list:?}\n{out:?}");
    assert_eq!(list["http-mirror"].0, "up", "{list:?}\n{out:?}");
    (env, http, https, ca_file)
}

fn serve_tls(env: &Env, cert: &Path, key: &Path, extra: &[&str]) -> (Server, u16) {
    let mut args = vec![
        "--tls-listen",
        "127.0.0.1:0",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let server = env.serve(&args);
    let port = https_port(&server);
    (server, port)
}

#[test]
fn https_serves_http2_and_http1_never_downgrades_and_secures_the_admin() {
    if curl_missing() {
        return;
    }
    let ca = Ca::new("Bouncer HTTPS test CA");
    let (env, http, https, ca_file) = network(&ca);
    let (cert, key) = write_pair(&ca, env.temp_dir(), "server");
    // Behind a trusted proxy (the test), each X-Forwarded-For is a client
    // of its own, so plain redirects spread over both mirrors.
    let (server, port) = serve_tls(&env, &cert, &key, &["--trusted-proxy", "127.0.0.1"]);
    let ca_arg = ca_file.to_str().unwrap();
    let url = |target: &str| format!("https://localhost:{port}{target}");
    let bounce = format!("/?product={PLAIN}&os=win&lang=en-US");

    // HTTP/2 and HTTP/1.1 by ALPN; over TLS the ordinary product goes to
    // the https mirror only, as behind a proxy saying X-Forwarded-Proto.
    for (flag, version) in [("--http2", "2"), ("--http1.1", "1.1")] {
        for _ in 0..10 {
            let (code, out, err) = curl(&[
                "--cacert",
                ca_arg,
                flag,
                "-o",
                "/dev/null",
                "-w",
                "%{http_version} %{http_code} %{redirect_url}",
                &url(&bounce),
            ]);
            assert_eq!(code, 0, "{err}");
            let expected = format!("{version} 302 {}{PATH}", https.url);
            assert_eq!(out, expected, "curl {flag}");
        }
    }
    // The plain listener serves the same redirect to either mirror, and
    // the https-only product to the https mirror only.
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..40 {
        let r = server.get_with(&bounce, &[("X-Forwarded-For", &format!("10.0.0.{i}"))]);
        assert_eq!(r.status, 302, "{r:?}");
        seen.insert(r.location().to_string());
        let r = server.get_redirect(&format!("/?product={SECURE}&os=win&lang=en-US"));
        assert_eq!(r.location(), format!("{}{PATH}", https.url), "{r:?}");
    }
    assert!(
        seen.iter().any(|l| l.starts_with(&http.url)),
        "plain requests are not HTTPS: the http mirror gets its share: {seen:?}"
    );

    // Admin pages and the API: over TLS, with HSTS for a client that came
    // by the default port (HSTS holds for the host on 443); the plain
    // listener sends them to HTTPS.
    let admin_head = |host: Option<&str>| {
        let header = host.map(|h| format!("Host: {h}"));
        let mut args = vec!["--cacert", ca_arg, "-D", "-", "-o", "/dev/null"];
        if let Some(h) = &header {
            args.extend(["-H", h]);
        }
        let target = url("/admin/login");
        args.push(&target);
        let (code, head, err) = curl(&args);
        assert_eq!(code, 0, "{err}");
        assert!(head.starts_with("HTTP/2 200"), "{head}");
        head
    };
    let head = admin_head(Some("localhost"));
    assert!(
        head.contains("strict-transport-security: max-age=31536000"),
        "{head}"
    );
    let head = admin_head(None);
    assert!(
        !head.contains("strict-transport-security"),
        "not for a client on port {port}: {head}"
    );
    for target in ["/admin/", "/admin/mirrors?q=a", "/api/mirror_list"] {
        let r = server.get(target);
        assert_eq!(r.status, 308, "{target}: {r:?}");
        assert_eq!(
            r.header("location"),
            Some(format!("https://127.0.0.1:{port}{target}").as_str()),
            "{target}"
        );
    }
    // From the default port, where admin answers carry HSTS, redirects
    // do not.
    let (code, head, _) = curl(&[
        "--cacert",
        ca_arg,
        "-H",
        "Host: localhost",
        "-D",
        "-",
        "-o",
        "/dev/null",
        &url(&bounce),
    ]);
    assert_eq!(code, 0);
    assert!(
        !head.contains("strict-transport-security"),
        "redirects carry no HSTS: {head}"
    );

    // Logging in over TLS gives a Secure __Host- session cookie.
    env.add_user_with("root", "admin", "correct horse battery");
    let jar = env.temp_dir().join("cookies.txt");
    let jar = jar.to_str().unwrap();
    let (code, page, err) = curl(&["--cacert", ca_arg, "-c", jar, &url("/admin/login")]);
    assert_eq!(code, 0, "{err}");
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).expect("the login form's token") + marker.len();
    let csrf = &page[start..start + page[start..].find('"').unwrap()];
    let (code, head, err) = curl(&[
        "--cacert",
        ca_arg,
        "-b",
        jar,
        "-D",
        "-",
        "-o",
        "/dev/null",
        "--data-urlencode",
        &format!("csrf={csrf}"),
        "--data-urlencode",
        "next=/admin/",
        "--data-urlencode",
        "user=root",
        "--data-urlencode",
        "password=correct horse battery",
        &url("/admin/login"),
    ]);
    assert_eq!(code, 0, "{err}");
    let session = head
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: __host-bouncer_session=")
        })
        .unwrap_or_else(|| panic!("no session cookie: {head}"));
    assert!(session.contains("; Secure"), "{session}");

    // The heartbeat tells the certificate's names and expiry.
    let (_, beat, _) = curl(&["--cacert", ca_arg, &url("/__heartbeat__")]);
    let beat: serde_json::Value = serde_json::from_str(&beat).unwrap();
    assert_eq!(beat["tls"]["source"], "files", "{beat}");
    assert_eq!(beat["tls"]["names"][0], "localhost", "{beat}");
    assert!(beat["tls"]["days_left"].as_f64().unwrap() > 300.0, "{beat}");
    let (status, log) = server.stop();
    assert!(status.success(), "{status:?}: {log}");
}

#[test]
fn a_new_certificate_reaches_new_connections_while_open_ones_go_on() {
    let ca = Ca::new("Bouncer reload test CA");
    let env = Env::new();
    env.ok(&["product", "add", PLAIN]);
    let dir = env.temp_dir().to_path_buf();
    let (cert, key) = write_pair(&ca, &dir, "live");
    let (server, port) = serve_tls(&env, &cert, &key, &[]);
    let mut open = TlsClient::connect(port, "localhost", &ca.pem).unwrap();
    let first = open.fingerprint();
    assert_eq!(open.get("/__lbheartbeat__").unwrap().status, 200);
    // A client offering acme-tls/1 among others is an ordinary client;
    // offered alone, with no order waiting, there is no certificate.
    let mixed =
        TlsClient::connect_offering(port, "localhost", &ca.pem, &[b"h2", b"acme-tls/1"]).unwrap();
    assert_eq!(mixed.fingerprint(), first);
    assert_eq!(mixed.alpn().as_deref(), Some(&b"h2"[..]));
    assert!(TlsClient::connect_offering(port, "localhost", &ca.pem, &[b"acme-tls/1"]).is_err());
    let in_use = |server: &Server| server.log().matches("TLS certificate in use").count();
    let not_reloaded = |server: &Server| server.log().matches("was not reloaded").count();

    // SIGHUP reads the files again, though they did not change.
    let before = in_use(&server);
    server.hang_up();
    let reread = poll(Duration::from_secs(30), Duration::from_millis(50), || {
        (in_use(&server) > before).then_some(())
    });
    assert!(reread.is_some(), "SIGHUP did not reload:\n{}", server.log());

    // Replaced in place (as certbot or an operator would): the files'
    // change is noticed without a signal.
    let (new_cert, new_key) = write_pair(&ca, &dir, "next");
    std::fs::rename(&new_key, &key).unwrap();
    std::fs::rename(&new_cert, &cert).unwrap();
    let second = poll(Duration::from_secs(30), Duration::from_millis(100), || {
        let fresh = TlsClient::connect(port, "localhost", &ca.pem)
            .ok()?
            .fingerprint();
        (fresh != first).then_some(fresh)
    })
    .unwrap_or_else(|| panic!("the new certificate was never served:\n{}", server.log()));
    let r = open.get("/__lbheartbeat__").unwrap();
    assert_eq!(r.status, 200, "the open connection still works: {r:?}");

    // A broken pair (a key of another certificate) is refused, logged,
    // and the certificate in use stays.
    let failures = not_reloaded(&server);
    let (_, stray_key) = write_pair(&ca, &dir, "stray");
    std::fs::rename(&stray_key, &key).unwrap();
    let logged = poll(Duration::from_secs(30), Duration::from_millis(100), || {
        (not_reloaded(&server) > failures).then_some(())
    });
    assert!(logged.is_some(), "{}", server.log());
    let last = server
        .log()
        .lines()
        .rfind(|l| l.contains("was not reloaded"))
        .unwrap()
        .to_string();
    assert!(
        last.contains("does not belong to the certificate"),
        "{last}"
    );
    let now = TlsClient::connect(port, "localhost", &ca.pem).unwrap();
    assert_eq!(now.fingerprint(), second);
    let beat = server.get("/__heartbeat__");
    assert!(
        beat.body.contains("does not belong to the certificate"),
        "{beat:?}"
    );
    let (status, log) = server.stop();
    assert!(status.success(), "{status:?}: {log}");
}

#[test]
fn idle_connections_are_closed_over_http2_as_over_http1() {
    let ca = Ca::new("Bouncer idle test CA");
    let env = Env::new();
    let (cert, key) = write_pair(&ca, env.temp_dir(), "idle");
    let (server, port) = serve_tls(&env, &cert, &key, &["--header-timeout", "1"]);
    for alpn in [&b"h2"[..], b"http/1.1"] {
        let client = TlsClient::connect_offering(port, "localhost", &ca.pem, &[alpn]).unwrap();
        assert_eq!(client.alpn().as_deref(), Some(alpn));
        assert!(
            client.closed_within(Duration::from_secs(30)),
            "an idle {} connection stayed open",
            String::from_utf8_lossy(alpn)
        );
    }
    let (status, log) = server.stop();
    assert!(status.success(), "{status:?}: {log}");
}

#[test]
fn bad_certificate_files_stop_the_start_with_the_reason() {
    let ca = Ca::new("Bouncer bad files CA");
    let env = Env::new();
    let dir = env.temp_dir().to_path_buf();
    let (cert, key) = write_pair(&ca, &dir, "one");
    let (_, other_key) = write_pair(&ca, &dir, "two");
    let expired = dir.join("expired.pem");
    let expired_key = dir.join("expired-key.pem");
    {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        let k = rcgen::KeyPair::generate().unwrap();
        let c = params.self_signed(&k).unwrap();
        std::fs::write(&expired, c.pem()).unwrap();
        std::fs::write(&expired_key, k.serialize_pem()).unwrap();
    }
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    let missing = dir.join("missing.pem");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let cases = [
        (
            s(&cert),
            s(&other_key),
            format!(
                "the key in {} does not belong to the certificate in {}",
                s(&other_key),
                s(&cert)
            ),
        ),
        (
            s(&expired),
            s(&expired_key),
            format!("the certificate in {} expired on 2021-01-01", s(&expired)),
        ),
        (
            s(&missing),
            s(&key),
            format!("cannot read the TLS certificate file {}", s(&missing)),
        ),
        (
            s(&garbage),
            s(&key),
            format!("{} holds no PEM certificate", s(&garbage)),
        ),
        (
            s(&cert),
            s(&garbage),
            format!("{} holds no PEM private key", s(&garbage)),
        ),
    ];
    for (c, k, expected) in cases {
        let out = env.run(&[
            "serve",
            "--no-sentry",
            "--listen",
            "127.0.0.1:0",
            "--tls-listen",
            "127.0.0.1:0",
            "--tls-cert",
            &c,
            "--tls-key",
            &k,
        ]);
        assert_eq!(out.code, 1, "{out:?}");
        assert!(
            out.stderr.contains(&expected),
            "expected {expected:?} in {:?}",
            out.stderr
        );
    }
    // Half a pair, or both kinds at once, is a usage error.
    let out = env.run(&["serve", "--tls-cert", &s(&cert)]);
    assert!(
        out.code != 0 && out.stderr.contains("--tls-cert needs --tls-key"),
        "{out:?}"
    );
    let out = env.run(&[
        "serve",
        "--tls-cert",
        &s(&cert),
        "--tls-key",
        &s(&key),
        "--acme",
        "a.example.org",
        "--acme-contact",
        "a@example.org",
    ]);
    assert!(out.code != 0 && out.stderr.contains("not both"), "{out:?}");
}

#[test]
fn every_example_demo_tls_prints_gives_the_answer_it_states() {
    if curl_missing() {
        return;
    }
    let log = tempfile::NamedTempFile::new().unwrap();
    let mut demo = Command::new(env!("CARGO_BIN_EXE_bouncer"))
        .args([
            "demo",
            "--tls",
            "--listen",
            "127.0.0.1:0",
            "--tls-listen",
            "127.0.0.1:0",
            "--threads",
            "2",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log.reopen().unwrap())
        .spawn()
        .expect("start bouncer demo --tls");
    let stdout = BufReader::new(demo.stdout.take().unwrap());
    // Stopped however the test ends.
    let demo = Stopped(demo);
    let mut guide = Vec::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        let done = line.starts_with("Ctrl-C stops the demo");
        guide.push(line);
        if done {
            break;
        }
    }
    let text = guide.join("\n");
    let fingerprint = text
        .split("(SHA-256 ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap_or_else(|| panic!("no fingerprint in the guide:\n{text}"));
    let curls: Vec<&str> = guide
        .iter()
        .map(|l| l.trim())
        .filter(|l| l.starts_with("curl --cacert "))
        .collect();
    assert!(curls.len() >= 8, "{text}");
    // The guide comes just before the server binds its ports.
    let port: u16 = curls[0]
        .split("https://localhost:")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("the HTTPS port");
    // Its own word that it listens, not a connection: until it binds, the
    // port it chose may briefly be another process's (a test's listener).
    let says = format!("listening on https://127.0.0.1:{port} ");
    let listening = poll(Duration::from_secs(20), Duration::from_millis(20), || {
        let stderr = std::fs::read_to_string(log.path()).ok()?;
        stderr.contains(&says).then_some(())
    });
    assert!(listening.is_some(), "the demo never listened on {port}");
    let mut failures = Vec::new();
    for line in &curls {
        let (command, answer) = line.split_once("  # ").expect("an answer");
        let words = shell_words(command);
        let mut args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        args.retain(|a| *a != "-I" && *a != "-i" && *a != "-sL");
        args.extend(["-o", "/dev/null", "-w", "%{http_code} %{redirect_url}"]);
        let (code, out, err) = curl(&args);
        let status = answer.get(..3).unwrap_or("");
        let follows = command.contains("-sL");
        let ok = code == 0
            && (out.starts_with(status) || (follows && out.starts_with("302 https://127.0.0.1:")));
        if !ok {
            failures.push(format!("{line}\n  -> exit {code}: {out} {err}"));
        }
    }
    // The certificate served is the one whose fingerprint was printed.
    let cert_file = shell_words(curls[0])[2].clone();
    let pem = std::fs::read_to_string(&cert_file).unwrap();
    let client = TlsClient::connect(port, "localhost", &pem).unwrap();
    assert_eq!(client.fingerprint(), fingerprint);
    drop(demo);
    let stderr = std::fs::read_to_string(log.path()).unwrap_or_default();
    assert!(
        failures.is_empty(),
        "{}\n\nguide:\n{text}\n\nstderr:\n{stderr}",
        failures.join("\n")
    );
}

/// A child process stopped (SIGTERM: the demo removes its files; SIGKILL
/// if it does not exit in 30 s) and reaped when dropped.
struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let exited = poll(Duration::from_secs(30), Duration::from_millis(50), || {
            self.0.try_wait().ok().flatten()
        });
        if exited.is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// `line` split into words as a POSIX shell would for the guide's
/// commands (single quotes only).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let (mut word, mut quoted, mut any) = (String::new(), false, false);
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any {
                    words.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(word);
    }
    words
}

#[test]
fn the_admin_listener_speaks_tls_too_unless_told_plain() {
    let ca = Ca::new("Bouncer admin listener CA");
    let env = Env::new();
    env.ok(&["product", "add", PLAIN]);
    let (cert, key) = write_pair(&ca, env.temp_dir(), "admin");
    let admin_port = |server: &Server, scheme: &str| -> u16 {
        let marker = format!("admin pages on {scheme}://127.0.0.1:");
        let found = poll(Duration::from_secs(20), Duration::from_millis(20), || {
            let log = server.log();
            let rest = log.split(&marker).nth(1)?;
            rest.split('/').next()?.parse().ok()
        });
        found.unwrap_or_else(|| panic!("no {marker} in the log:\n{}", server.log()))
    };
    let (server, https) = serve_tls(&env, &cert, &key, &["--admin-listen", "127.0.0.1:0"]);
    let admin = admin_port(&server, "https");
    let mut client = TlsClient::connect(admin, "localhost", &ca.pem).unwrap();
    let r = client.get("/admin/login").unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    // The public listeners have no admin pages.
    let mut public = TlsClient::connect(https, "localhost", &ca.pem).unwrap();
    assert_eq!(public.get("/admin/login").unwrap().status, 404);
    assert_eq!(server.get("/admin/login").status, 404);
    let (status, log) = server.stop();
    assert!(status.success(), "{status:?}: {log}");

    let (server, _) = serve_tls(
        &env,
        &cert,
        &key,
        &["--admin-listen", "127.0.0.1:0", "--admin-plain"],
    );
    let admin = admin_port(&server, "http");
    let r = crate::common::http(admin, "GET", "/admin/login", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.header("strict-transport-security").is_none(), "{r:?}");
    let (status, log) = server.stop();
    assert!(status.success(), "{status:?}: {log}");
    // --admin-plain without an admin listener is a usage error.
    let out = env.run(&[
        "serve",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--admin-plain",
    ]);
    assert!(
        out.code != 0 && out.stderr.contains("--admin-plain needs --admin-listen"),
        "{out:?}"
    );
}
