//! ACME: bouncer's certificates from a real ACME server ([`Pebble`]).

use std::net::TcpListener;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::common::pebble::Pebble;

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
