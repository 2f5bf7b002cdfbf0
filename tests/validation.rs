//! Issue 15: the input rules every entry point shares — mirror contacts
//! (one bare address), location paths (a length cap; no encoded slash or
//! NUL, no `..;`, no overlong UTF-8) and names (no bidirectional
//! controls) — seen from outside: the CLI, the release API, the admin
//! pages and `bouncer import` each refuse the same input with an error
//! saying what is wrong, and store nothing; `bouncer load` skips such
//! lines of a checksum file, naming them.

use base64::Engine as _;
use serde_json::Value;

use crate::common::{Env, Response, Server, admin_session, form_urlencode, http, http_body};

/// Passwords of the test users (`user add` reads them from stdin).
const PASSWORD: &str = "correct-horse-battery-staple";

/// Contacts that are no single bare address, with a piece of the error
/// that names what is wrong.
const BAD_CONTACTS: &[(&str, &str)] = &[
    (
        "ops@m.example.org\r\nBcc: everyone@example.org",
        "control character",
    ),
    ("ops@m.example.org\nx", "control character"),
    ("a@m.example.org, b@m.example.org", "exactly one address"),
    ("a@m.example.org;b@m.example.org", "exactly one address"),
    ("javascript:alert(1)//@m.example.org", "javascript: URL"),
    ("mailto:ops@m.example.org", "mailto: URL"),
    ("Ops <ops@m.example.org>", "bare address"),
    ("ops.m.example.org", "no '@'"),
    ("ops@localhost", "host name with a dot"),
];

/// Paths the loader would never produce, with a piece of the error.
const BAD_PATHS: &[(&str, &str)] = &[
    ("/fx/%2f%2fevil.example/a.exe", "encoded slash"),
    ("/fx/a%2Fb.exe", "encoded slash"),
    ("/fx/a.exe%00.txt", "encoded NUL"),
    ("/fx/..;/etc/passwd", "'..' segments"),
    ("/fx/%2e%2e;x/a.exe", "'..' segments"),
    ("/fx/%c0%ae%c0%ae/a.exe", "UTF-8"),
    ("/fx/%ff.exe", "UTF-8"),
];

/// A name with each bidirectional control in turn.
fn bidi_names(base: &str) -> Vec<String> {
    ('\u{202A}'..='\u{202E}')
        .chain('\u{2066}'..='\u{2069}')
        .map(|c| format!("{base}{c}exe"))
        .collect()
}

/// A path template `len` bytes long.
fn long_path(len: usize) -> String {
    let head = "/fx/:lang/";
    format!("{head}{}", "a".repeat(len - head.len()))
}

/// A network with a product `fx` (a win location), a mirror `m1`, a
/// region `eu`, an admin `ann` and a release user `rel`.
fn network() -> Env {
    let env = Env::new();
    env.setup(&[
        "product add fx --lang de",
        "location add fx win /fx/:lang/setup.exe",
        "mirror add m1 http://127.0.0.1:9/m1 --contact ops@m1.example.org",
        "region add eu --country DE",
    ]);
    env.add_user_with("ann", "admin", PASSWORD);
    env.add_user_with("rel", "release", PASSWORD);
    env
}

/// Runs a command that must be refused; returns its error output.
fn refused(env: &Env, args: &[&str]) -> String {
    let out = env.run(args);
    assert_ne!(out.code, 0, "`bouncer {args:?}` was accepted: {out:?}");
    out.stderr
}

/// `POST /api/{route}` as the release user.
fn api_post(server: &Server, route: &str, fields: &[(&str, &str)]) -> Response {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("rel:{PASSWORD}"));
    http_body(
        server.port,
        "POST",
        &format!("/api/{route}"),
        &[
            ("Authorization", &format!("Basic {token}")),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        form_urlencode(fields).as_bytes(),
    )
}

/// Asserts that an API answer is error 103 whose message contains `why`.
fn api_refused(r: &Response, why: &str) {
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("number=\"103\""), "{r:?}");
    assert!(r.body.contains(why), "expected {why:?} in {r:?}");
}

/// An admin logged in on a running server.
struct Admin {
    port: u16,
    cookie: String,
    csrf: String,
}

impl Admin {
    fn login(server: &Server) -> Admin {
        let cookie = admin_session(server.port, "ann", PASSWORD);
        let page = http(server.port, "GET", "/admin/", &[("Cookie", &cookie)]);
        assert_eq!(page.status, 200, "{page:?}");
        let marker = "name=\"csrf\" value=\"";
        let start = page.body.find(marker).expect("a CSRF token") + marker.len();
        let csrf = page.body[start..start + page.body[start..].find('"').unwrap()].to_string();
        Admin {
            port: server.port,
            cookie,
            csrf,
        }
    }

    fn post(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let mut all = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        http_body(
            self.port,
            "POST",
            path,
            &[
                ("Cookie", &self.cookie),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            form_urlencode(&all).as_bytes(),
        )
    }

    /// Posts a form that must be refused with `why` (HTML-escaped) on the
    /// page shown again.
    fn refused(&self, path: &str, fields: &[(&str, &str)], why: &str) {
        let r = self.post(path, fields);
        assert_ne!(r.status, 303, "{path} {fields:?} was accepted: {r:?}");
        let why = why.replace('\'', "&#39;");
        let body = r.body.replace("&#x27;", "&#39;").replace('\'', "&#39;");
        assert!(
            body.contains(&why),
            "expected {why:?} for {fields:?}:\n{body}"
        );
    }
}

/// The export of `env` as JSON.
fn export(env: &Env) -> Value {
    serde_json::from_str(&env.ok(&["export"])).expect("an export is JSON")
}

/// Every mirror's (name, contact), from an export.
fn contacts(env: &Env) -> Vec<(String, String)> {
    export(env)["mirrors"]
        .as_array()
        .expect("a list of mirrors")
        .iter()
        .map(|m| {
            let field = |key: &str| m[key].as_str().unwrap_or_default().to_string();
            (field("name"), field("contact"))
        })
        .collect()
}

/// Imports `doc` into a new database: it must be refused at `place` with
/// `why`, and that database stays empty.
fn import_refused(doc: &Value, place: &str, why: &str) {
    let env = Env::new();
    let file = env.db.with_file_name("import.json");
    std::fs::write(&file, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
    let err = refused(&env, &["import", file.to_str().unwrap()]);
    assert!(
        err.contains(place) && err.contains(why),
        "expected {place}: …{why}… in {err}"
    );
    assert!(!env.ok(&["product", "list"]).contains("fx"));
    assert!(!env.ok(&["mirror", "list"]).contains("m1"));
}

#[test]
fn mirror_contacts_must_be_one_bare_address_everywhere() {
    let env = network();
    // CLI: add and set.
    for (bad, why) in BAD_CONTACTS {
        let err = refused(
            &env,
            &[
                "mirror",
                "add",
                "m2",
                "http://127.0.0.1:9/m2",
                "--contact",
                bad,
            ],
        );
        assert!(
            err.contains("invalid contact") && err.contains(why),
            "{bad:?}: {err}"
        );
        let err = refused(&env, &["mirror", "set", "m1", "--contact", bad]);
        assert!(err.contains(why), "{bad:?}: {err}");
    }
    assert_eq!(contacts(&env), [("m1".into(), "ops@m1.example.org".into())]);
    // A good one is stored trimmed.
    env.ok(&[
        "mirror",
        "set",
        "m1",
        "--contact",
        " admins@m1.example.org ",
    ]);
    assert_eq!(
        contacts(&env),
        [("m1".into(), "admins@m1.example.org".into())]
    );

    // Admin: the add form and the mirror's own form.
    let server = env.serve(&[]);
    let admin = Admin::login(&server);
    for (bad, why) in BAD_CONTACTS {
        admin.refused(
            "/admin/mirrors",
            &[
                ("name", "m3"),
                ("base_url", "http://127.0.0.1:9/m3"),
                ("contact", bad),
            ],
            why,
        );
        admin.refused(
            "/admin/mirrors/m1",
            &[
                ("base_url", "http://127.0.0.1:9/m1"),
                ("rating", "100"),
                ("contact", bad),
                ("active", "on"),
            ],
            why,
        );
    }
    drop(server);
    assert_eq!(
        contacts(&env),
        [("m1".into(), "admins@m1.example.org".into())]
    );

    // Import: the place of the bad contact is named.
    let doc = export(&env);
    for (bad, why) in BAD_CONTACTS {
        let mut doc = doc.clone();
        doc["mirrors"][0]["contact"] = Value::from(*bad);
        import_refused(&doc, "mirrors[0].contact", why);
    }
}

#[test]
fn location_paths_with_encoded_tricks_are_refused_everywhere() {
    let env = network();
    // CLI: add and set.
    for (bad, why) in BAD_PATHS {
        let err = refused(&env, &["location", "add", "fx", "linux", bad]);
        assert!(
            err.contains("invalid path") && err.contains(why),
            "{bad}: {err}"
        );
        let err = refused(&env, &["location", "set", "fx", "win", bad]);
        assert!(err.contains(why), "{bad}: {err}");
    }

    // The API: location_add and location_modify.
    let server = env.serve(&[]);
    for (bad, why) in BAD_PATHS {
        let fields = [("product", "fx"), ("os", "linux"), ("path", *bad)];
        api_refused(&api_post(&server, "location_add/", &fields), why);
        let fields = [("product", "fx"), ("os", "win"), ("path", *bad)];
        api_refused(&api_post(&server, "location_modify/", &fields), why);
    }

    // Admin: a new location and a changed one.
    let admin = Admin::login(&server);
    for (bad, why) in BAD_PATHS {
        admin.refused(
            "/admin/products/fx/locations",
            &[("os", "linux"), ("path", bad)],
            why,
        );
        admin.refused("/admin/products/fx/locations/win", &[("path", bad)], why);
    }
    drop(server);
    let list = env.ok(&["location", "list"]);
    assert!(
        list.contains("/fx/:lang/setup.exe") && !list.contains("linux"),
        "{list}"
    );

    // Import: the place of the bad path is named.
    let doc = export(&env);
    for (bad, why) in BAD_PATHS {
        let mut doc = doc.clone();
        doc["products"][0]["locations"][0]["path"] = Value::from(*bad);
        import_refused(&doc, "products[0].locations[0].path", why);
    }
}

#[test]
fn location_paths_longer_than_1024_bytes_are_refused_everywhere() {
    let env = network();
    let why = "at most 1024";
    let long = long_path(100 * 1024);
    let over = long_path(1025);
    // CLI: the longest allowed path is stored, one byte more is not.
    env.ok(&["location", "add", "fx", "osx", &long_path(1024)]);
    for bad in [&over, &long] {
        let err = refused(&env, &["location", "add", "fx", "linux", bad]);
        assert!(err.contains(why), "{err}");
        // The error quotes the start of the path, not all of it.
        assert!(err.len() < 1000, "{err}");
        assert!(refused(&env, &["location", "set", "fx", "win", bad]).contains(why));
    }

    let server = env.serve(&[]);
    let fields = [("product", "fx"), ("os", "linux"), ("path", long.as_str())];
    api_refused(&api_post(&server, "location_add/", &fields), why);
    let fields = [("product", "fx"), ("os", "win"), ("path", over.as_str())];
    api_refused(&api_post(&server, "location_modify/", &fields), why);
    let admin = Admin::login(&server);
    admin.refused(
        "/admin/products/fx/locations",
        &[("os", "linux"), ("path", &over)],
        why,
    );
    admin.refused("/admin/products/fx/locations/win", &[("path", &over)], why);
    drop(server);
    let list = env.ok(&["location", "list"]);
    assert!(
        list.contains("/fx/:lang/setup.exe") && !list.contains("linux"),
        "{list}"
    );

    let mut doc = export(&env);
    doc["products"][0]["locations"][0]["path"] = Value::from(long);
    import_refused(&doc, "products[0].locations[0].path", why);
}

#[test]
fn names_with_bidi_controls_are_refused_everywhere() {
    let env = network();
    let why = "bidirectional control";
    for name in bidi_names("fx") {
        let name = name.as_str();
        for args in [
            &["product", "add", name][..],
            &["mirror", "add", name, "http://127.0.0.1:9/x"],
            &["region", "add", name, "--country", "FR"],
            &["alias", "set", name, "fx"],
            &["os", "add", name],
            &[
                "mirror",
                "add",
                "m9",
                "http://127.0.0.1:9/m9",
                "--region",
                name,
            ],
        ] {
            let err = refused(&env, args);
            assert!(err.contains(why), "{args:?}: {err}");
        }
        let out = env.run_input(
            &["user", "add", name, "--role", "viewer"],
            &format!("{PASSWORD}\n"),
        );
        assert!(out.code != 0 && out.stderr.contains(why), "{out:?}");
    }
    for what in ["product", "mirror", "region", "alias", "os", "user"] {
        let list = env.ok(&[what, "list"]);
        assert!(
            !list.contains("exe"),
            "a {what} with a bidi control was stored:\n{list}"
        );
    }

    let server = env.serve(&[]);
    for name in bidi_names("fx") {
        api_refused(
            &api_post(&server, "product_add/", &[("product", &name)]),
            why,
        );
        let r = api_post(
            &server,
            "create_update_alias/",
            &[("alias", &name), ("related_product", "fx")],
        );
        assert!(r.status == 400 && r.body.contains(why), "{r:?}");
    }
    let admin = Admin::login(&server);
    for name in bidi_names("fx") {
        admin.refused("/admin/products", &[("name", &name)], why);
        admin.refused(
            "/admin/mirrors",
            &[("name", &name), ("base_url", "http://127.0.0.1:9/x")],
            why,
        );
        admin.refused(
            "/admin/regions",
            &[("name", &name), ("countries", "FR")],
            why,
        );
    }
    drop(server);
    for what in ["product", "mirror", "region", "alias"] {
        assert!(!env.ok(&[what, "list"]).contains("exe"), "{what}");
    }

    let doc = export(&env);
    let name = &bidi_names("fx")[4];
    for (place, set) in [
        ("products[0].name", &["products", "0", "name"][..]),
        ("mirrors[0].name", &["mirrors", "0", "name"]),
        ("regions[0].name", &["regions", "0", "name"]),
    ] {
        let mut doc = doc.clone();
        let mut at = &mut doc;
        for key in set {
            at = match key.parse::<usize>() {
                Ok(i) => &mut at[i],
                Err(_) => &mut at[*key],
            };
        }
        *at = Value::from(name.as_str());
        import_refused(&doc, place, why);
    }
}

#[test]
fn the_loader_skips_lines_whose_paths_break_the_path_rules() {
    let env = network();
    let hash = "a".repeat(64);
    let long = "a".repeat(1100);
    let sums = env.db.with_file_name("SHA256SUMS");
    std::fs::write(
        &sums,
        format!(
            "{hash}  win32/de/setup.exe\n{hash}  linux-x86_64/..;x/de/evil.tar.bz2\n{hash}  mac/de/{long}.dmg\n"
        ),
    )
    .unwrap();
    let out = env.ok(&[
        "load",
        sums.to_str().unwrap(),
        "--product",
        "fx2",
        "--prefix",
        "/pub/fx2",
    ]);
    assert!(
        out.contains("line 2: invalid path") && out.contains("\"..;x\""),
        "{out}"
    );
    assert!(
        out.contains("line 3: invalid path") && out.contains("at most 1024"),
        "{out}"
    );
    let list = env.ok(&["location", "list", "fx2"]);
    assert!(list.contains("/pub/fx2/win32/:lang/setup.exe"), "{list}");
    assert!(!list.contains("linux") && !list.contains("osx"), "{list}");
}
