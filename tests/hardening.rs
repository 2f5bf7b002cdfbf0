//! Issue 15: files that hold password hashes are owner-only, the report
//! viewer follows no links, and every HTML answer carries the security
//! headers. The real binary; files are created under umask 022, the usual
//! default that made them world-readable.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::{Env, Out, Response, admin_session, http, run_bounded};

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_bouncer");
/// How long a command may take.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// `bouncer --db DB args…` run under umask 022 (whatever the test's own).
fn umask_022(env: &Env, args: &[&str]) -> Command {
    let mut cmd = Command::new("sh");
    cmd.env_remove("BOUNCER_DB")
        .arg("-c")
        .arg(r#"umask 022 && exec "$0" "$@""#)
        .arg(BIN)
        .arg("--db")
        .arg(&env.db)
        .args(args);
    cmd
}

/// Runs a command under umask 022 that must succeed.
fn ok_022(env: &Env, args: &[&str]) -> Out {
    let out: Out = run_bounded(&mut umask_022(env, args), EXIT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"))
        .into();
    assert_eq!(out.code, 0, "`bouncer {}`: {out:?}", args.join(" "));
    out
}

/// The permission bits of `path`.
fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn database_backup_and_export_are_created_owner_only_under_umask_022() {
    let env = Env::new();
    // A command that adds something creates the database.
    ok_022(&env, &["product", "add", "firefox"]);
    assert_eq!(mode(&env.db), 0o600, "the database");
    let dir = env.db.parent().unwrap();
    let backup = dir.join("copy.redb");
    ok_022(&env, &["backup", backup.to_str().unwrap()]);
    assert_eq!(mode(&backup), 0o600, "the backup");
    let export = dir.join("config.json");
    // An old export of another mode is replaced by an owner-only one.
    std::fs::write(&export, "{}").unwrap();
    std::fs::set_permissions(&export, std::fs::Permissions::from_mode(0o644)).unwrap();
    ok_022(&env, &["export", export.to_str().unwrap()]);
    assert_eq!(mode(&export), 0o600, "the export");
    assert!(
        std::fs::read_to_string(&export)
            .unwrap()
            .contains("firefox")
    );
    // Neither left a partial file behind.
    assert!(!dir.join("copy.redb.partial").exists());
    assert!(!dir.join("config.json.partial").exists());
    // A database that exists keeps the mode the operator gave it.
    std::fs::set_permissions(&env.db, std::fs::Permissions::from_mode(0o640)).unwrap();
    ok_022(&env, &["product", "add", "thunderbird"]);
    assert_eq!(mode(&env.db), 0o640, "an existing database");
}

#[test]
fn files_created_by_a_running_server_are_owner_only() {
    let env = Env::new();
    assert!(!env.db.exists());
    let server = env.serve_through(umask_022(&env, &[]), &[]);
    assert_eq!(mode(&env.db), 0o600, "the database the server created");
    let dir = env.db.parent().unwrap();
    // Both go through the server's control socket (the server holds the
    // database): the server writes the backup, the client the export.
    ok_022(&env, &["product", "add", "firefox"]);
    let backup = dir.join("copy.redb");
    ok_022(&env, &["backup", backup.to_str().unwrap()]);
    assert_eq!(mode(&backup), 0o600, "the backup");
    let export = dir.join("config.json");
    ok_022(&env, &["export", export.to_str().unwrap()]);
    assert_eq!(mode(&export), 0o600, "the export");
    assert_eq!(
        http(server.port, "GET", "/__lbheartbeat__", &[]).status,
        200
    );
}

#[test]
fn report_viewer_refuses_a_link_to_a_file_outside_the_reports_directory() {
    let env = Env::new();
    env.add_user_with("ann", "admin", "ann-correct-horse");
    let dir = env.db.parent().unwrap();
    let reports = dir.join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    std::fs::write(
        reports.join("run-000001.html"),
        "<!DOCTYPE html><p>REGULAR REPORT</p>",
    )
    .unwrap();
    let outside = dir.join("outside-secret.txt");
    std::fs::write(&outside, "OUTSIDE SECRET").unwrap();
    std::os::unix::fs::symlink(&outside, reports.join("run-000002.html")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", reports.join("run-000003.html")).unwrap();

    let server = env.serve(&["--reports-dir", reports.to_str().unwrap()]);
    let session = admin_session(server.port, "ann", "ann-correct-horse");
    let get = |target: &str| http(server.port, "GET", target, &[("Cookie", &session)]);

    let r = get("/admin/reports/raw/run-000001.html");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("REGULAR REPORT"), "{r:?}");
    for name in ["run-000002.html", "run-000003.html"] {
        let r = get(&format!("/admin/reports/raw/{name}"));
        assert_eq!(r.status, 404, "{name}: {r:?}");
        assert!(
            !r.body.contains("OUTSIDE SECRET") && !r.body.contains("root:"),
            "{name}: {r:?}"
        );
        let r = get(&format!("/admin/reports/{name}"));
        assert_eq!(r.status, 404, "{name}: {r:?}");
        assert!(
            !r.body.contains(&format!("/admin/reports/raw/{name}")),
            "{r:?}"
        );
    }
}

/// Checks that `r` is HTML with a Content-Security-Policy and `nosniff`.
fn assert_html_headers(what: &str, r: &Response) {
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "{what}: not HTML: {r:?}"
    );
    let csp = r
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy: {r:?}"));
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{what}: {csp}"
    );
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{what}: {r:?}"
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{what}: {r:?}");
}

#[test]
fn every_html_answer_carries_csp_and_nosniff() {
    let env = Env::new();
    env.setup(&[
        "product add firefox --lang de",
        "location add firefox win /firefox/:lang/setup.exe",
        "mirror add m1 http://127.0.0.1:9/pub",
        "status set m1 present",
        // Added after the status: no mirror has it.
        "product add lonely",
        "location add lonely win /lonely/setup.exe",
    ]);
    env.add_user_with("ann", "admin", "ann-correct-horse");
    let server = env.serve(&[]);
    let browser = [("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")];
    for (what, target, status) in [
        ("404 page", "/no/such/page", 404),
        ("404 page of a bounce", "/?product=nosuch&os=win", 404),
        (
            "mirror list",
            "/?product=firefox&os=win&lang=de&mirrorlist",
            200,
        ),
        ("503 page", "/?product=lonely&os=win", 503),
        ("download form", "/download", 200),
        ("mirrors page", "/mirrors", 200),
        ("stats page", "/stats", 200),
        ("admin login", "/admin/login", 200),
    ] {
        let r = http(server.port, "GET", target, &browser);
        assert_eq!(r.status, status, "{what}: {r:?}");
        assert_html_headers(what, &r);
    }
    // The admin's pages keep their stricter headers.
    let session = admin_session(server.port, "ann", "ann-correct-horse");
    for (what, target, status) in [
        ("admin overview", "/admin/", 200),
        ("admin 404", "/admin/no-such-page", 404),
    ] {
        let r = http(
            server.port,
            "GET",
            target,
            &[browser[0], ("Cookie", &session)],
        );
        assert_eq!(r.status, status, "{what}: {r:?}");
        assert_html_headers(what, &r);
        let csp = r.header("content-security-policy").unwrap();
        assert!(csp.contains("form-action 'self';"), "{what}: {csp}");
        assert_eq!(r.header("referrer-policy"), Some("same-origin"), "{what}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "{what}");
    }
}
