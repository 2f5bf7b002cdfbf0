//! SPEC §8: the load balancer's endpoints, and methods other than GET/HEAD.

use crate::common::{Env, ONE_MIRROR, Response, Server};

/// GETs `target`, which must answer 200 with JSON; the answer and its body
/// without spaces and newlines.
fn get_json(server: &Server, target: &str) -> (Response, String) {
    let r = server.get(target);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "{r:?}"
    );
    let body = r.body.replace([' ', '\n'], "");
    (r, body)
}

#[test]
fn lbheartbeat_answers_200() {
    let env = Env::new();
    let server = env.serve(&[]);
    for method in ["GET", "HEAD"] {
        let r = server.request(method, "/__lbheartbeat__", &[]);
        assert_eq!(r.status, 200, "{method}: {r:?}");
    }
}

#[test]
fn heartbeat_answers_json_status_ok() {
    let env = Env::new();
    env.setup(&["product add tb", "location add tb win /tb/setup.exe"]);
    let server = env.serve(&[]);
    let (r, body) = get_json(&server, "/__heartbeat__");
    assert!(body.starts_with('{') && body.ends_with('}'), "{}", r.body);
    assert!(body.contains(r#""status":"ok""#), "{}", r.body);
}

#[test]
fn version_answers_json_with_the_version() {
    let env = Env::new();
    let server = env.serve(&[]);
    let (r, body) = get_json(&server, "/__version__");
    let version = format!(r#""version":"{}""#, env!("CARGO_PKG_VERSION"));
    assert!(body.contains(&version), "{}", r.body);
}

#[test]
fn methods_other_than_get_and_head_get_405() {
    let env = Env::new();
    env.setup(&ONE_MIRROR);
    let server = env.serve(&[]);
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        for target in [
            "/",
            "/?product=tb",
            "/__heartbeat__",
            "/__lbheartbeat__",
            "/files/tb/setup.exe",
        ] {
            let r = server.request(method, target, &[("Content-Length", "0")]);
            assert_eq!(r.status, 405, "{method} {target}: {r:?}");
            assert_eq!(r.header("location"), None, "{method} {target}");
            let allow = r.header("allow").unwrap_or("");
            assert!(allow.contains("GET"), "{method} {target}: {r:?}");
        }
    }
}
