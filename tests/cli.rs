//! SPEC §9: exit codes (0 ok, 1 failure, 2 usage), `--help`, and errors
//! that name the problem. No server runs here: commands open the database.

use crate::common::Env;

#[test]
fn help_exits_0_everywhere() {
    let env = Env::new();
    for args in [
        &["--help"][..],
        &["help"][..],
        &["serve", "--help"][..],
        &["mirror", "--help"][..],
        &["mirror", "add", "--help"][..],
        &["product", "add", "--help"][..],
        &["status", "set", "--help"][..],
        &["user", "add", "--help"][..],
        &["stats", "--help"][..],
    ] {
        let out = env.run(args);
        assert_eq!(out.code, 0, "{args:?}: {out:?}");
        assert!(out.stdout.contains("Usage:"), "{args:?}: {out:?}");
        assert_eq!(out.stderr, "", "{args:?}");
    }
    // Help does not create the database.
    assert!(!env.db.exists());
}

#[test]
fn usage_errors_exit_2() {
    let env = Env::new();
    for args in [
        &[][..],
        &["frobnicate"][..],
        &["mirror"][..],
        &["mirror", "add", "only-a-name"][..],
        &["mirror", "add", "m", "http://m.example", "--rating", "many"][..],
        &["mirror", "add", "m", "http://m.example", "--bogus"][..],
        &["product", "set", "p", "--active", "maybe"][..],
        &["serve", "--threads", "-1"][..],
        &["stats", "--days"][..],
    ] {
        let out = env.run(args);
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert_eq!(out.stdout, "", "{args:?}");
        assert!(!out.stderr.trim().is_empty(), "{args:?}: {out:?}");
    }
}

#[test]
fn failures_exit_1_with_a_message_naming_the_problem() {
    let env = Env::new();
    env.setup(&[
        "product add firefox-120.0 --lang de",
        "mirror add m1 http://127.0.0.1:9/m1",
    ]);
    let cases: &[(&[&str], &str)] = &[
        (&["mirror", "add", "m2", "ftp://m.example"], "base URL"),
        (&["mirror", "add", "m2", "https://u@m.example"], "base URL"),
        (
            &["mirror", "add", "m1", "http://127.0.0.1:9/again"],
            "exists already",
        ),
        (&["mirror", "remove", "nope"], "\"nope\""),
        (&["mirror", "set", "nope", "--rating", "3"], "\"nope\""),
        (&["product", "add", "firefox-120.0"], "exists already"),
        (&["product", "add", "FIREFOX-120.0"], "exists already"),
        (&["product", "add", "bad", "--lang", "../x"], "language"),
        (&["product", "add", "has space"], "product"),
        (&["location", "add", "nope", "win", "/x"], "\"nope\""),
        (
            &["location", "add", "firefox-120.0", "beos", "/x"],
            "operating system",
        ),
        (&["location", "add", "firefox-120.0", "win", "x/y"], "path"),
        (
            &["location", "add", "firefox-120.0", "win", "/a/../b"],
            "path",
        ),
        (
            &[
                "location",
                "add",
                "firefox-120.0",
                "win",
                "//evil.example/x",
            ],
            "path",
        ),
        (
            &["alias", "set", "firefox-120.0", "firefox-120.0"],
            "firefox-120.0",
        ),
        (&["status", "set", "m1", "sideways"], "present or missing"),
        (&["status", "set", "nope", "present"], "\"nope\""),
        (&["user", "add", "bob", "--role", "boss"], "role"),
        (&["user", "add", "bob", "--role", "admin"], "password"),
    ];
    for (args, needle) in cases {
        let out = env.run(args);
        assert_eq!(out.code, 1, "{args:?}: {out:?}");
        assert_eq!(out.stdout, "", "{args:?}");
        assert!(out.stderr.starts_with("error: "), "{args:?}: {out:?}");
        assert!(
            out.stderr.contains(needle),
            "{args:?} should name {needle:?}: {out:?}"
        );
    }
    let out = env.run_input(&["user", "add", "bob", "--role", "admin"], "short\n");
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("8 characters"), "{out:?}");
    // Nothing of that was stored.
    assert!(!env.ok(&["user", "list"]).contains("bob"));
    assert!(!env.ok(&["mirror", "list"]).contains("m2"));
}

#[test]
fn serve_with_bad_settings_exits_1_naming_the_setting() {
    let env = Env::new();
    let listen = ["serve", "--listen", "127.0.0.1:0"];
    for (args, needle) in [
        (vec!["serve", "--listen", "nowhere"], "listen address"),
        (
            [&listen[..], &["--fallback-url", "ftp://origin.example"]].concat(),
            "base URL",
        ),
        (
            [&listen[..], &["--default-lang", "../x"]].concat(),
            "language",
        ),
        (
            [&listen[..], &["--default-os", "a/b"]].concat(),
            "operating system",
        ),
    ] {
        let out = env.run(&args);
        assert_eq!(out.code, 1, "{args:?}: {out:?}");
        assert!(
            out.stderr.contains(needle),
            "{args:?} should name {needle:?}: {out:?}"
        );
    }
}

#[test]
fn a_new_database_lists_the_default_operating_systems() {
    let env = Env::new();
    let mut listed: Vec<String> = env.ok(&["os", "list"]).lines().map(String::from).collect();
    listed.sort();
    let mut expected = [
        "win",
        "win64",
        "win64-aarch64",
        "osx",
        "linux",
        "linux64",
        "linux64-aarch64",
        "android",
    ]
    .map(String::from)
    .to_vec();
    expected.sort();
    assert_eq!(listed, expected);
}

#[test]
fn a_database_that_cannot_be_opened_is_named_in_the_error() {
    let env = Env::new();
    std::fs::write(&env.db, "not a database").unwrap();
    let db = env.db.display().to_string();
    for args in [
        &["mirror", "list"][..],
        &["serve", "--listen", "127.0.0.1:0"][..],
    ] {
        let out = env.run(args);
        assert_eq!(out.code, 1, "{args:?}: {out:?}");
        assert!(out.stderr.starts_with("error: "), "{out:?}");
        assert!(
            out.stderr.contains(&db),
            "{args:?} should name {db}: {out:?}"
        );
    }
    // Nothing was overwritten.
    assert_eq!(std::fs::read_to_string(&env.db).unwrap(), "not a database");
}
