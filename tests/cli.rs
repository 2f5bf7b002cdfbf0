//! SPEC §9: exit codes (0 ok, 1 failure, 2 usage), `--help`, and errors
//! that name the problem. No server runs here: commands open the database.

use crate::common::{Env, first_column};

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
    // A command that adds something creates the database.
    env.ok(&["product", "add", "firefox"]);
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

/// The error of a command that must fail with exit 1 and print nothing.
fn refused(env: &Env, args: &[&str]) -> String {
    let out = env.run(args);
    assert_eq!(out.code, 1, "{args:?}: {out:?}");
    assert_eq!(out.stdout, "", "{args:?}");
    assert!(out.stderr.starts_with("error: "), "{args:?}: {out:?}");
    out.stderr
}

#[test]
fn product_remove_takes_the_aliases_pointing_at_it_and_names_them() {
    let env = Env::new();
    env.setup(&[
        "product add fx-1.0 --lang de",
        "location add fx-1.0 win /fx/1.0/:lang/setup.exe",
        "product add fx-2.0",
        "alias set fx-latest fx-1.0",
        "alias set FX-stable fx-1.0",
        "alias set fx-beta fx-2.0",
    ]);
    assert_eq!(
        env.ok(&["product", "remove", "FX-1.0"]),
        "removed product fx-1.0, its locations and its alias(es) fx-latest, FX-stable\n"
    );
    assert_eq!(first_column(&env.ok(&["alias", "list"])), ["fx-beta"]);
    assert_eq!(first_column(&env.ok(&["product", "list"])), ["fx-2.0"]);
    assert_eq!(
        first_column(&env.ok(&["location", "list"])),
        Vec::<String>::new()
    );
    // Without aliases the message is as before.
    env.ok(&["alias", "remove", "fx-beta"]);
    assert_eq!(
        env.ok(&["product", "remove", "fx-2.0"]),
        "removed product fx-2.0 and its locations\n"
    );
    // The freed names may be used again.
    env.setup(&["product add fx-latest", "alias set fx-stable fx-latest"]);
}

#[test]
fn a_second_mirror_at_the_same_base_url_is_refused_naming_the_first() {
    let env = Env::new();
    env.setup(&[
        "mirror add m1 https://mirror.example/pub",
        "mirror add m2 https://other.example/pub",
    ]);
    for url in [
        "https://mirror.example/pub",
        "https://Mirror.EXAMPLE/pub/",
        "https://mirror.example:443/pub",
    ] {
        let err = refused(&env, &["mirror", "add", "m3", url]);
        assert!(
            err.contains("mirror \"m1\" has the base URL https://mirror.example/pub already")
                && err.contains("bouncer mirror set m1"),
            "{url}: {err}"
        );
    }
    let err = refused(
        &env,
        &[
            "mirror",
            "set",
            "m2",
            "--base-url",
            "https://MIRROR.example/pub/",
        ],
    );
    assert!(err.contains("mirror \"m1\""), "{err}");
    assert_eq!(first_column(&env.ok(&["mirror", "list"])), ["m1", "m2"]);
    assert!(
        env.ok(&["mirror", "list"])
            .contains("https://other.example/pub")
    );
    // Another scheme, port or path is another mirror; a mirror keeps its
    // own address however it is spelled.
    env.setup(&[
        "mirror add m1-http http://mirror.example/pub",
        "mirror add m1-port https://mirror.example:8443/pub",
        "mirror add m1-sub https://mirror.example/pub/sub",
        "mirror set m1 --base-url https://Mirror.Example:443/pub/ --rating 7",
    ]);
}

#[test]
fn a_language_that_is_no_locale_code_is_refused_with_an_example() {
    let env = Env::new();
    for args in [
        &["product", "add", "p", "--lang", "de", "--lang", "english"][..],
        &["product", "add", "p", "--lang", "en_US"][..],
    ] {
        let err = refused(&env, args);
        assert!(
            err.contains("invalid language") && err.contains("e.g. de, en-US"),
            "{args:?}: {err}"
        );
    }
    assert!(first_column(&env.ok(&["product", "list"])).is_empty());
    env.ok(&[
        "product",
        "add",
        "p",
        "--lang",
        "de",
        "--lang",
        "ja-JP-mac",
        "--lang",
        "multi",
    ]);
    let err = refused(&env, &["product", "set", "p", "--add-lang", "english"]);
    assert!(err.contains("\"english\" is not a locale code"), "{err}");
    env.ok(&[
        "product",
        "set",
        "p",
        "--add-lang",
        "sr-Latn",
        "--add-lang",
        "ast",
    ]);
    let listed = env.ok(&["product", "list"]);
    assert!(
        listed.contains("de,ja-JP-mac,multi,sr-Latn,ast"),
        "{listed}"
    );
}

#[test]
fn import_refuses_twin_mirrors_and_languages_that_are_no_locale_codes() {
    let env = Env::new();
    env.setup(&[
        "product add fx --lang de",
        "mirror add old https://old.example/pub",
        "mirror add keep https://keep.example/pub",
    ]);
    let doc: serde_json::Value =
        serde_json::from_str(&env.ok(&["export"])).expect("an export document");
    let file = env.db.with_file_name("config.json");
    let import = |doc: &serde_json::Value| {
        std::fs::write(&file, serde_json::to_vec_pretty(doc).unwrap()).unwrap();
        env.run(&["import", file.to_str().unwrap(), "--replace"])
    };
    let before = env.ok(&["export"]);

    // Two mirrors of the document at one address.
    let mut twins = doc.clone();
    let mut twin = twins["mirrors"][0].clone();
    twin["name"] = "twin".into();
    twin["base_url"] = "https://KEEP.example:443/pub/".into();
    twins["mirrors"].as_array_mut().unwrap().push(twin);
    let out = import(&twins);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("mirrors[2].base_url")
            && out.stderr.contains("of mirror \"keep\" (mirrors[0])"),
        "{out:?}"
    );

    // A language that is no locale code, named by its place.
    let mut english = doc.clone();
    english["products"][0]["languages"] = serde_json::json!(["de", "english"]);
    let out = import(&english);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("products[0].languages[1]")
            && out.stderr.contains("\"english\" is not a locale code")
            && out.stderr.contains("e.g. de, en-US"),
        "{out:?}"
    );
    assert_eq!(
        env.ok(&["export"]),
        before,
        "a refused import changes nothing"
    );

    // A mirror may take the address of one the document drops, and two
    // mirrors may trade places along a chain.
    let mut moved = doc.clone();
    let mirrors = moved["mirrors"].as_array_mut().unwrap();
    mirrors.retain(|m| m["name"] != "old");
    mirrors[0]["base_url"] = "https://old.example/pub".into();
    let mut new = mirrors[0].clone();
    new["name"] = "new".into();
    new["base_url"] = "https://keep.example/pub".into();
    mirrors.push(new);
    let out = import(&moved);
    assert_eq!(out.code, 0, "{out:?}");
    let listed = env.ok(&["mirror", "list"]);
    assert_eq!(first_column(&listed), ["keep", "new"], "{listed}");
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("keep ") && l.contains("https://old.example/pub")),
        "{listed}"
    );
}

/// Issue 14: a command that only reads used to create an empty database
/// where none was, and then report on it as if all were well.
#[test]
fn a_command_that_only_reads_refuses_a_missing_database_and_creates_none() {
    let env = Env::new();
    let dir = env.db.parent().unwrap().to_path_buf();
    let elsewhere = tempfile::tempdir().unwrap();
    let sums = elsewhere.path().join("SHA256SUMS");
    std::fs::write(&sums, format!("{}  win32/de/setup.exe\n", "a".repeat(64))).unwrap();
    let sums = sums.to_str().unwrap();
    let backup = elsewhere.path().join("copy.redb");
    let export = elsewhere.path().join("export.json");
    let db = env.db.display().to_string();
    for args in [
        &["product", "list"][..],
        &["mirror", "list"][..],
        &["location", "list"][..],
        &["alias", "list"][..],
        &["os", "list"][..],
        &["user", "list"][..],
        &["status", "list"][..],
        &["region", "list"][..],
        &["settings", "list"][..],
        &["geoip", "status"][..],
        &["geoip", "lookup", "192.0.2.1"][..],
        &["mail", "show"][..],
        &["mail", "test"][..],
        &["stats"][..],
        &["uptake"][..],
        &["sentry"][..],
        &["export"][..],
        &["export", export.to_str().unwrap()][..],
        &["backup", backup.to_str().unwrap()][..],
        &["load", sums, "--product", "firefox", "--dry-run"][..],
    ] {
        let out = env.run(args);
        assert_eq!(out.code, 1, "{args:?}: {out:?}");
        assert_eq!(out.stdout, "", "{args:?}");
        assert!(
            out.stderr
                .starts_with(&format!("error: no database at {db}: ")),
            "{args:?}: {out:?}"
        );
        // What to do: the commands that make one, and how to name another.
        for advice in [
            &format!("`bouncer --db {db} serve`")[..],
            "product add",
            "--db PATH",
            "BOUNCER_DB",
        ] {
            assert!(
                out.stderr.contains(advice),
                "{args:?} should say {advice:?}: {out:?}"
            );
        }
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(left.is_empty(), "{args:?} created {left:?}");
    }
    assert!(!backup.exists() && !export.exists());

    // The database named by $BOUNCER_DB, and the default one, alike.
    for (env_db, named) in [(Some(db.as_str()), db.as_str()), (None, "bouncer.redb")] {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_bouncer"));
        command
            .current_dir(&dir)
            .env_remove("BOUNCER_DB")
            .args(["mirror", "list"]);
        if let Some(path) = env_db {
            command.env("BOUNCER_DB", path);
        }
        let out = command.output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with(&format!("error: no database at {named}: ")),
            "{stderr}"
        );
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    }
}

#[test]
fn a_command_that_adds_something_creates_the_database() {
    let env = Env::new();
    env.ok(&["mirror", "add", "m1", "http://127.0.0.1:9/m1"]);
    assert!(env.db.exists());
    assert!(env.ok(&["mirror", "list"]).contains("m1"));
    // Once it exists, reading it works however empty it is.
    let other = Env::new();
    other.ok(&["settings", "set", "bounce.link_headers", "true"]);
    assert!(other.ok(&["product", "list"]).starts_with("NAME"));
}
