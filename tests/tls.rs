//! SPEC §3 "TLS": sentry verifies https mirrors against the platform's
//! trust store, honouring `SSL_CERT_FILE`, so a mirror whose certificate
//! comes from a private CA can be checked. The test makes its own CA and a
//! server certificate for 127.0.0.1 and localhost (rcgen), serves files
//! over rustls on 127.0.0.1, and runs `bouncer sentry` with `SSL_CERT_FILE`
//! set on the child only: to the private CA (the mirror is up), then to an
//! unrelated CA (the mirror is down, for a TLS reason).

use std::ffi::OsStr;
use std::path::Path;

use crate::common::mirror::{Behaviour, Files, Mirror};
use crate::common::net;
use crate::common::tls::{Ca, TlsMirror};
use crate::common::{Env, Out};

/// The product only https mirrors may serve.
const PRODUCT: &str = "sec";
const LOCATIONS: [(&str, &str); 2] = [
    ("win", "/sec/win/en-US/Setup%20sec.exe"),
    ("linux", "/sec/linux/en-US/sec.tar.bz2"),
];
/// Bounces sampled for the https-only product.
const SAMPLES: usize = 40;

/// Each location's file, with its own content.
fn files() -> Files {
    net::files(LOCATIONS.iter().map(|(_, path)| *path))
}

/// `status list --mirror NAME`: its rows.
fn status_of(env: &Env, name: &str) -> Vec<String> {
    env.ok(&["status", "list", "--mirror", name])
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

/// `bouncer sentry --all --timeout 2` trusting only the CAs in `ca_file`
/// (`SSL_CERT_FILE` on the child; `SSL_CERT_DIR` removed), which must
/// succeed.
fn sentry_trusting(env: &Env, ca_file: &Path) -> String {
    let out: Out = env.run_env(
        &["sentry", "--all", "--timeout", "2"],
        &[
            ("SSL_CERT_FILE", Some(ca_file.as_os_str())),
            ("SSL_CERT_DIR", None::<&OsStr>),
        ],
    );
    assert_eq!(out.code, 0, "bouncer sentry failed: {out:?}");
    out.stdout
}

#[test]
fn an_https_mirror_with_a_private_ca_is_checked_against_ssl_cert_file() {
    let ca = Ca::new("Bouncer test mirror CA");
    let stranger = Ca::new("Some other CA");
    let files = files();
    let https = TlsMirror::start(&files, &ca);
    let http = Mirror::start(&files, Behaviour::Healthy);

    let env = Env::new();
    let dir = env.db.parent().expect("the database's directory");
    let ca_file = dir.join("private-ca.pem");
    let stranger_file = dir.join("other-ca.pem");
    std::fs::write(&ca_file, &ca.pem).expect("write the CA's PEM");
    std::fs::write(&stranger_file, &stranger.pem).expect("write the other CA's PEM");
    env.ok(&["product", "add", PRODUCT, "--lang", "en-US", "--ssl-only"]);
    for (os, path) in LOCATIONS {
        env.ok(&["location", "add", PRODUCT, os, path]);
    }
    env.ok(&["mirror", "add", "secure", &https.url]);
    env.ok(&["mirror", "add", "plain", &http.url]);

    // 1. Trusting the private CA: the https mirror is up and has the files,
    // which it was asked for over TLS.
    let out = sentry_trusting(&env, &ca_file);
    assert!(!out.contains(" is down"), "{out}");
    let list = env.mirror_list();
    assert_eq!(list["secure"], ("up".to_string(), 2), "{list:#?}\n{out}");
    assert_eq!(list["plain"], ("up".to_string(), 2), "{list:#?}\n{out}");
    let rows = status_of(&env, "secure");
    assert_eq!(rows.len(), 2, "{rows:#?}");
    for row in &rows {
        assert!(row.contains(" present "), "{row}");
    }
    let asked = https.requests();
    for (_, path) in LOCATIONS {
        assert!(
            asked.iter().any(|r| r.ends_with(&format!(" {path}"))),
            "{path} not requested over TLS: {asked:#?}; failures: {:#?}",
            https.failures()
        );
    }

    // 3. The https-only product goes to the https mirror, never the plain
    // one.
    let server = env.serve(&[]);
    let expected = format!("{}{}", https.url, LOCATIONS[1].1);
    for _ in 0..SAMPLES {
        let r = server.get(&format!(
            "/?product={PRODUCT}&os=linux&lang=en-US&print=yes"
        ));
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.body.trim_end(), expected, "{r:?}");
    }
    let (status, log) = server.stop();
    assert!(status.success(), "{status:?}: {log}");

    // 2. Trusting only an unrelated CA (SSL_CERT_FILE set, so the
    // machine's own store is not read): the https mirror is down because
    // its certificate is not trusted; no request got through.
    let before = https.requests().len();
    let out = sentry_trusting(&env, &stranger_file);
    assert!(out.contains("  secure is down: "), "{out}");
    let list = env.mirror_list();
    let health = &list["secure"].0;
    assert!(
        health.contains("TLS") || health.contains("certificate"),
        "no TLS reason in {health:?}: {list:#?}"
    );
    assert_eq!(list["plain"], ("up".to_string(), 2), "{list:#?}");
    assert_eq!(https.requests().len(), before, "{:#?}", https.requests());
    // Down, it gets no traffic: the https-only product has no mirror left.
    let server = env.serve(&[]);
    let r = server.get(&format!(
        "/?product={PRODUCT}&os=linux&lang=en-US&print=yes"
    ));
    assert_eq!(r.status, 503, "{r:?}");
    let (status, log) = server.stop();
    assert!(status.success(), "{status:?}: {log}");
    // The failure is classified as a TLS one (`Failure::Tls`: "TLS handshake
    // or certificate problem", shown as "TLS failed"), not as a refused or
    // dropped connection.
    assert!(
        health.starts_with("down: TLS failed"),
        "a certificate failure classified as {health:?}"
    );
}
