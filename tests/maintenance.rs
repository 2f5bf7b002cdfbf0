//! SPEC §13, maintenance windows: an announced window takes a mirror out of
//! rotation for its time without checks (so never "down", never mailed
//! about), and the mirror comes back only after a check passes once the
//! window has ended. The CLI, the admin form and the API announce them.

use std::collections::BTreeSet;

use crate::common::mirror::{Behaviour, Mirror};
use crate::common::{Env, net};

const FILE: &str = "/tb/setup.exe";
const TB: &str = "/?product=tb&os=win";

/// `YYYY-MM-DDTHH:MM:SSZ` of a Unix time.
fn iso(t: u64) -> String {
    let (y, m, d) = bouncer::model::civil(t);
    let s = t % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[test]
fn a_window_takes_a_mirror_out_unchecked_and_it_returns_after_a_passing_check() {
    let files = net::files([FILE]);
    let m1 = Mirror::start(&files, Behaviour::Healthy);
    let m2 = Mirror::start(&files, Behaviour::Healthy);
    let env = Env::new();
    env.setup(&["product add tb", &format!("location add tb win {FILE}")]);
    env.ok(&["mirror", "add", "m1", &m1.url]);
    env.ok(&["mirror", "add", "m2", &m2.url]);
    env.setup(&["status set m1 present", "status set m2 present"]);
    // A window that ended ten minutes ago, and no check since: still out.
    let ended = format!("{}/5m", iso(bouncer::model::now() - 900));
    env.ok(&["mirror", "set", "m1", "--maintenance", &ended]);
    let server = env.serve(&["--no-sentry"]);
    let hosts = |n| -> BTreeSet<String> {
        server
            .locations(TB, &[], n)
            .iter()
            .map(|l| {
                if l.starts_with(&m1.url) {
                    "m1"
                } else if l.starts_with(&m2.url) {
                    "m2"
                } else {
                    panic!("{l}")
                }
                .to_string()
            })
            .collect()
    };
    let set =
        |names: &[&str]| -> BTreeSet<String> { names.iter().map(|n| n.to_string()).collect() };
    assert_eq!(hosts(40), set(&["m2"]));
    // A passing check brings it back.
    let out = env.ok(&["sentry", "--all", "--timeout", "3"]);
    assert!(!out.contains("ALARM"), "{out}");
    assert_eq!(hosts(100), set(&["m1", "m2"]));

    // Announced through the API: away now, for two hours.
    env.add_user_with("rel", "release", "correct horse battery");
    let api = |body: &str| {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode("rel:correct horse battery");
        let auth = format!("Basic {token}");
        crate::common::http_body(
            server.port,
            "POST",
            "/api/mirror_maintenance",
            &[
                ("Authorization", auth.as_str()),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            body.as_bytes(),
        )
    };
    let r = api("mirror=m1&window=now/2h");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("is away for maintenance"), "{r:?}");
    assert_eq!(hosts(40), set(&["m2"]));
    // It breaks meanwhile: sentry leaves it alone, so it is not "down".
    m1.set(Behaviour::Broken);
    let before = m1.requests();
    let out = env.ok(&["sentry", "--all", "--timeout", "3"]);
    assert!(!out.contains("ALARM"), "{out}");
    assert_eq!(m1.requests(), before, "not checked during its window");
    let row = env
        .mirror_rows()
        .into_iter()
        .find(|r| r[0] == "m1")
        .unwrap();
    assert_eq!(row[4], "up", "{row:?}");
    // A bad window is refused with the way to write it; none cancels.
    let r = api("mirror=m1&window=tomorrow");
    assert!(r.body.contains("e.g. now/2h"), "{r:?}");
    let out = env.run(&["mirror", "set", "m1", "--maintenance", "now/99d"]);
    assert!(out.stderr.contains("from 1 minute to 30 days"), "{out:?}");
    m1.set(Behaviour::Healthy);
    env.ok(&["mirror", "set", "m1", "--maintenance", "none"]);
    assert_eq!(hosts(100), set(&["m1", "m2"]));
    server.stop();
}

#[test]
fn a_mailed_link_lets_the_mirrors_admins_announce_a_window_and_nobody_is_mailed() {
    use crate::common::smtp::Smtp;
    let files = net::files([FILE]);
    let m1 = Mirror::start(&files, Behaviour::Healthy);
    let m2 = Mirror::start(&files, Behaviour::Healthy);
    let env = Env::new();
    env.setup(&["product add tb", &format!("location add tb win {FILE}")]);
    env.ok(&[
        "mirror",
        "add",
        "m1",
        &m1.url,
        "--contact",
        "ops@m1.example",
    ]);
    env.ok(&["mirror", "add", "m2", &m2.url]);
    let smtp = Smtp::start();
    let port = smtp.port.to_string();
    env.ok(&[
        "mail",
        "set",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--tls",
        "none",
        "--from",
        "bouncer@b.example",
        "--to",
        "ops@b.example",
        "--contacts",
        "true",
    ]);
    env.ok(&["sentry", "--all", "--timeout", "3"]);
    let server = env.serve(&["--no-sentry"]);
    let site = format!("http://127.0.0.1:{}", server.port);
    let out = env.ok(&[
        "mirror",
        "maintenance-link",
        "m1",
        "--site",
        &site,
        "--mail",
    ]);
    let link = out.trim().rsplit(' ').next().unwrap().to_string();
    let mail = smtp.next();
    assert_eq!(mail.to, vec!["ops@m1.example"], "{mail:#?}");
    // Quoted-printable: soft line breaks undone, the link is whole.
    assert!(mail.data.replace("=\n", "").contains(&link), "{mail:#?}");
    let path = link.strip_prefix(&site).unwrap();
    let page = crate::common::http(server.port, "GET", path, &[]);
    assert_eq!(page.status, 200, "{page:?}");
    assert!(
        page.body.contains("Maintenance of mirror m1"),
        "{}",
        page.body
    );
    // The mirror's admins announce a window: no account, no CSRF token.
    let r = crate::common::http_body(
        server.port,
        "POST",
        path,
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"window=now%2F3h",
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.body.contains("Announced: away for maintenance"),
        "{}",
        r.body
    );
    let names: BTreeSet<bool> = server
        .locations(TB, &[], 40)
        .iter()
        .map(|l| l.starts_with(&m2.url))
        .collect();
    assert_eq!(names, [true].into(), "only m2 now");
    // It breaks during the window: no check, no "down", no mail.
    m1.set(Behaviour::Broken);
    let out = env.ok(&["sentry", "--all", "--timeout", "3"]);
    assert!(!out.contains("ALARM"), "{out}");
    let pending = smtp.pending();
    assert!(pending.is_empty(), "unexpected mail: {pending:#?}");
    // A forged token or a changed address voids the link.
    let forged = format!("{}0", &path[..path.len() - 1]);
    assert_eq!(
        crate::common::http(server.port, "GET", &forged, &[]).status,
        404
    );
    env.ok(&[
        "mirror",
        "set",
        "m1",
        "--base-url",
        &m2.url.replace("127.0.0.1", "localhost"),
    ]);
    assert_eq!(
        crate::common::http(server.port, "GET", path, &[]).status,
        404
    );
    server.stop();
}
