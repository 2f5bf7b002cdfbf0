//! SPEC §12, ACME: bouncer obtains its certificate from a real ACME server
//! ([`Pebble`], with a mock DNS that resolves every name to 127.0.0.1) by
//! TLS-ALPN-01 on its HTTPS listener or HTTP-01 on its plain one, serves
//! redirects with it (verified against the server's issuing root, over
//! HTTP/2 and HTTP/1.1), renews it without dropping an open connection,
//! keeps account and certificate owner-only beside the database and
//! reuses them after a restart; a directory that does not answer is
//! logged, shown and retried while the plain listener serves on.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::common::https::{TlsClient, curl, curl_missing};
use crate::common::pebble::Pebble;
use crate::common::{Env, Server, poll};

/// The name bouncer's certificate is for (the mock DNS answers 127.0.0.1).
const NAME: &str = "bouncer.test";
const PRODUCT: &str = "fx";
const PATH: &str = "/fx/win/setup.exe";
/// Where downloads go when no mirror serves (an https origin).
const ORIGIN: &str = "https://origin.example.org";

/// The plain and the TLS listener's ports on 127.0.0.1, held until
/// bouncer binds them ([`Ports::release`]): told to pebble first.
struct Ports {
    held: Vec<TcpListener>,
    http: u16,
    tls: u16,
}

impl Ports {
    fn new() -> Ports {
        let held: Vec<TcpListener> = (0..2)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let port = |i: usize| held[i].local_addr().unwrap().port();
        let (http, tls) = (port(0), port(1));
        Ports { held, http, tls }
    }

    /// Frees both ports for the server about to bind them.
    fn release(&mut self) -> (u16, u16) {
        self.held.clear();
        (self.http, self.tls)
    }
}

/// A network with one product and no mirror: its redirect goes to the
/// https origin.
fn env() -> Env {
    let env = Env::new();
    env.ok(&["product", "add", PRODUCT, "--lang", "en-US"]);
    env.ok(&["location", "add", PRODUCT, "win", PATH]);
    env
}

/// `bouncer serve` ordering its certificate from `pebble`.
fn serve(env: &Env, pebble: &Pebble, (http, tls): (u16, u16), extra: &[&str]) -> Server {
    let mut args = vec![
        "--tls-listen".to_string(),
        format!("127.0.0.1:{tls}"),
        "--acme".into(),
        NAME.into(),
        "--acme-contact".into(),
        "ops@example.org".into(),
        "--acme-directory".into(),
        pebble.directory(),
        "--acme-ca".into(),
        pebble.ca_file().display().to_string(),
        "--fallback-url".into(),
        ORIGIN.into(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    env.serve_at(&format!("127.0.0.1:{http}"), &args)
}

/// Waits for the HTTPS listener to present a certificate the issuing
/// root verifies for [`NAME`] other than `not`: its fingerprint.
fn served_certificate(server: &Server, pebble: &Pebble, tls: u16, not: Option<&str>) -> String {
    let root = pebble.issuing_root();
    let found = poll(Duration::from_secs(60), Duration::from_millis(100), || {
        let fingerprint = TlsClient::connect(tls, NAME, &root).ok()?.fingerprint();
        (Some(fingerprint.as_str()) != not).then_some(fingerprint)
    });
    found.unwrap_or_else(|| {
        panic!(
            "no (new) certificate for {NAME}:\n{}\npebble:\n{}",
            server.log(),
            pebble.log()
        )
    })
}

/// A redirect over HTTPS, verified against pebble's issuing root.
fn bounce_over_https(pebble: &Pebble, tls: u16, flag: &str) -> String {
    let root = pebble.issuing_root_file();
    let (code, out, err) = curl(&[
        flag,
        "--cacert",
        root.to_str().unwrap(),
        "--resolve",
        &format!("{NAME}:{tls}:127.0.0.1"),
        "-o",
        "/dev/null",
        "-w",
        "%{http_version} %{http_code} %{redirect_url}",
        &format!("https://{NAME}:{tls}/?product={PRODUCT}&os=win&lang=en-US"),
    ]);
    assert_eq!(code, 0, "curl {flag}: {err}");
    out
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_certificate_by_tls_alpn_serves_redirects_and_is_renewed_under_an_open_connection() {
    if curl_missing() {
        return;
    }
    let mut held = Ports::new();
    let Some(pebble) = Pebble::start(held.http, held.tls) else {
        return;
    };
    let ports = held.release();
    let env = env();
    let server = serve(&env, &pebble, ports, &["--acme-renew-after", "3"]);
    let first = served_certificate(&server, &pebble, ports.1, None);
    for (flag, version) in [("--http2", "2"), ("--http1.1", "1.1")] {
        assert_eq!(
            bounce_over_https(&pebble, ports.1, flag),
            format!("{version} 302 {ORIGIN}{PATH}")
        );
    }
    let mut open = TlsClient::connect(ports.1, NAME, &pebble.issuing_root()).unwrap();
    assert_eq!(open.get("/__lbheartbeat__").unwrap().body, "ok\n");

    // Renewed (3 s after it was put in place, as told): new connections
    // get the new certificate, the open one goes on.
    served_certificate(&server, &pebble, ports.1, Some(&first));
    let r = open
        .get(&format!("/?product={PRODUCT}&os=win&lang=en-US"))
        .unwrap();
    assert_eq!(r.status, 302, "{r:?}");
    assert_eq!(
        r.header("location"),
        Some(format!("{ORIGIN}{PATH}").as_str())
    );
    let beat: serde_json::Value = serde_json::from_str(&server.get("/__heartbeat__").body).unwrap();
    assert_eq!(beat["tls"]["source"], "acme", "{beat}");
    assert_eq!(beat["tls"]["names"], serde_json::json!([NAME]), "{beat}");
    assert!(beat["tls"]["days_left"].as_f64().unwrap() > 300.0, "{beat}");
    assert!(beat["tls"]["next_renewal"].as_i64().is_some(), "{beat}");
    let log = server.log();
    assert!(log.contains("ACME account registered"), "{log}");
    assert!(
        log.matches("ACME certificate obtained and in use").count() >= 2,
        "{log}"
    );
    let (status, log) = server.stop();
    assert!(status.success(), "{status:?}: {log}");

    // Kept beside the database, owner-only; a restart serves the kept
    // certificate at once and orders nothing.
    let dir = env.db.parent().unwrap().join("acme");
    assert_eq!(mode(&dir), 0o700);
    for file in ["account.json", "certificate.pem", "certificate.key"] {
        assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
    }
    let kept = std::fs::read_to_string(dir.join("certificate.pem")).unwrap();
    let kept = CertificateDer::pem_slice_iter(kept.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    let kept = bouncer::tls::fingerprint(kept.as_ref());
    assert_ne!(kept, first, "the renewed certificate was written");
    let server = serve(&env, &pebble, ports, &[]);
    let again = served_certificate(&server, &pebble, ports.1, None);
    assert_eq!(again, kept);
    assert!(
        server.log().contains("ACME certificate from"),
        "{}",
        server.log()
    );
    for ordering in [
        "ACME account registered",
        "ordering an ACME certificate",
        "obtained",
    ] {
        assert!(
            !server.log().contains(ordering),
            "{ordering}: {}",
            server.log()
        );
    }
    let (status, log) = server.stop();
    assert!(status.success(), "{status:?}: {log}");
}

#[test]
fn a_certificate_by_http01_on_the_plain_listener() {
    if curl_missing() {
        return;
    }
    let mut held = Ports::new();
    let Some(pebble) = Pebble::start(held.http, held.tls) else {
        return;
    };
    let ports = held.release();
    let env = env();
    let server = serve(&env, &pebble, ports, &["--acme-challenge", "http-01"]);
    served_certificate(&server, &pebble, ports.1, None);
    assert_eq!(
        bounce_over_https(&pebble, ports.1, "--http2"),
        format!("2 302 {ORIGIN}{PATH}")
    );
    // The plain listener answers HTTP-01 itself (not the redirects' 404):
    // no order waits now, so no token is known.
    let r = server.get("/.well-known/acme-challenge/anything");
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(r.body, "404 no ACME challenge is waiting for this token\n");
    let (status, log) = server.stop();
    assert!(status.success(), "{status:?}: {log}");
}

#[test]
fn a_directory_that_does_not_answer_is_logged_shown_and_retried_while_plain_http_serves() {
    let (http, tls) = Ports::new().release();
    // A port bound but not listening: connections to it are refused.
    let unused = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    unused
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let dead = unused.local_addr().unwrap().as_socket().unwrap().port();
    let env = env();
    let server = env.serve_at(
        &format!("127.0.0.1:{http}"),
        &[
            "--tls-listen",
            &format!("127.0.0.1:{tls}"),
            "--acme",
            NAME,
            "--acme-contact",
            "ops@example.org",
            "--acme-directory",
            &format!("https://127.0.0.1:{dead}/dir"),
            "--fallback-url",
            ORIGIN,
        ],
    );
    let logged = poll(Duration::from_secs(30), Duration::from_millis(50), || {
        server
            .log()
            .contains("could not obtain an ACME certificate")
            .then_some(())
    });
    assert!(logged.is_some(), "{}", server.log());
    assert!(
        server.log().contains("Connection refused"),
        "{}",
        server.log()
    );
    // Plain HTTP serves on; the heartbeat says what failed and when the
    // next attempt is; /metrics counts the failure.
    let r = server.get_redirect(&format!("/?product={PRODUCT}&os=win&lang=en-US"));
    assert_eq!(r.location(), format!("{ORIGIN}{PATH}"));
    let beat: serde_json::Value = serde_json::from_str(&server.get("/__heartbeat__").body).unwrap();
    assert_eq!(beat["status"], "ok", "{beat}");
    assert_eq!(beat["tls"]["failures"], 1, "{beat}");
    assert_eq!(beat["tls"]["not_after"], serde_json::Value::Null, "{beat}");
    let error = beat["tls"]["error"].as_str().unwrap_or_default();
    assert!(error.contains(&format!("127.0.0.1:{dead}")), "{beat}");
    let next = beat["tls"]["next_renewal"].as_i64().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (now + 30..=now + 61).contains(&next),
        "retried in a minute: {beat}"
    );
    // The admin pages are HTTPS only, and HTTPS has no certificate: the
    // plain listener says so rather than redirecting nowhere.
    let r = server.get("/admin/");
    assert_eq!(r.status, 503, "{r:?}");
    assert!(
        r.body.contains("HTTPS has no usable certificate yet"),
        "{r:?}"
    );
    assert!(r.body.contains(&format!("127.0.0.1:{dead}")), "{r:?}");
    let metrics = server.get("/metrics").body;
    assert!(
        metrics.contains("bouncer_tls_certificate_failures 1"),
        "{metrics}"
    );
    // The HTTPS listener has no certificate to offer yet.
    assert!(TlsClient::connect(tls, NAME, &pebble_less_root()).is_err());
    let (status, log) = server.stop();
    assert!(status.success(), "{status:?}: {log}");
}

/// Any root: the handshake fails before verification (no certificate).
fn pebble_less_root() -> String {
    let ca = crate::common::tls::Ca::new("unrelated");
    ca.pem
}

/// The harness starts pebble, whose directory lists the ACME resources and
/// whose issuing root is one certificate.
#[test]
fn pebble_harness_serves_a_directory() {
    // Bound for the test's length, so nothing else takes them.
    let http = TcpListener::bind("127.0.0.1:0").unwrap();
    let tls = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = |l: &TcpListener| l.local_addr().unwrap().port();
    let Some(pebble) = Pebble::start(port(&http), port(&tls)) else {
        return;
    };
    let directory = pebble.directory();
    let base = directory
        .strip_suffix("/dir")
        .expect("a directory URL ending /dir");
    assert!(base.starts_with("https://127.0.0.1:"), "{directory}");

    let out = std::process::Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "10", "--cacert"])
        .arg(pebble.ca_file())
        .arg(&directory)
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl {directory}: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        pebble.log()
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON directory");
    for resource in ["newAccount", "newOrder", "newNonce"] {
        let url = json[resource].as_str().unwrap_or_default();
        assert!(
            url.starts_with(&format!("{base}/")),
            "{resource}: {url:?} in {json}"
        );
    }

    let root = pebble.issuing_root();
    let certs: Vec<_> = CertificateDer::pem_slice_iter(root.as_bytes())
        .collect::<Result<_, _>>()
        .expect("PEM certificates");
    assert_eq!(certs.len(), 1, "{root}");
    assert_eq!(
        std::fs::read_to_string(pebble.issuing_root_file()).unwrap(),
        root
    );
    assert!(
        pebble.log().contains("Starting Pebble ACME server"),
        "{}",
        pebble.log()
    );
}
