//! SPEC §13, CDNs: a mirror of kind `cdn` is always complete (sentry only
//! probes it), takes new files until enough mirrors have them, and takes
//! everyone no mirror can serve, before the origin.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::common::Env;
use crate::common::mirror::{Behaviour, Mirror};

const FILE: &str = "/tb/setup.exe";
const TB: &str = "/?product=tb&os=win";

#[test]
fn a_cdn_takes_new_files_until_enough_mirrors_have_them_then_backs_them_up() {
    // A real CDN with no files at all: sentry must not look for them.
    let cdn = Mirror::start(&Arc::new(BTreeMap::new()), Behaviour::Healthy);
    let env = Env::new();
    env.setup(&[
        "product add tb",
        &format!("location add tb win {FILE}"),
        "mirror add m1 http://m1.example/pub --rating 50",
        "mirror add m2 http://m2.example/pub",
    ]);
    env.ok(&["mirror", "add", "cdn", &cdn.url, "--kind", "cdn"]);
    let out = env.ok(&["sentry", "--all", "--mirror", "cdn", "--timeout", "3"]);
    assert!(!out.contains("ALARM"), "{out}");
    let paths: BTreeSet<String> = cdn.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(paths, ["/".to_string()].into(), "only probed");
    let row = env
        .mirror_rows()
        .into_iter()
        .find(|r| r[0] == "cdn")
        .unwrap();
    assert_eq!(row[4], "up", "{row:?}");

    // The file is new and only m1 has it (50 of the mirrors' 150): the CDN.
    env.setup(&["status set m1 present"]);
    let server = env.serve(&[
        "--no-sentry",
        "--fallback-url",
        "https://origin.example/pub",
    ]);
    let hosts = |n| -> BTreeSet<String> {
        server
            .locations(TB, &[], n)
            .iter()
            .map(|l| {
                if l.starts_with(&cdn.url) {
                    "cdn".to_string()
                } else {
                    l.split('/')
                        .nth(2)
                        .unwrap()
                        .split('.')
                        .next()
                        .unwrap()
                        .to_string()
                }
            })
            .collect()
    };
    let set =
        |names: &[&str]| -> BTreeSet<String> { names.iter().map(|n| n.to_string()).collect() };
    assert_eq!(hosts(60), set(&["cdn"]));
    // m2 has it too: enough (150 of 150); the mirrors take it from the CDN.
    env.ok(&["status", "set", "m2", "present"]);
    assert_eq!(hosts(100), set(&["m1", "m2"]));
    // A file is new for `cdn.new_minutes` only: with 0, m1 alone keeps it.
    env.ok(&["status", "set", "m2", "missing"]);
    assert_eq!(hosts(60), set(&["cdn"]));
    env.ok(&["settings", "set", "cdn.new_minutes", "0"]);
    assert_eq!(hosts(60), set(&["m1"]));
    // No mirror left: the CDN, before the origin.
    env.ok(&["mirror", "set", "m1", "--active", "false"]);
    assert_eq!(hosts(60), set(&["cdn"]));
    env.ok(&["mirror", "set", "cdn", "--active", "false"]);
    let r = server.get_redirect(TB);
    assert!(
        r.location().starts_with("https://origin.example/pub"),
        "{r:?}"
    );
    server.stop();
}
