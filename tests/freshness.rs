//! SPEC §13, freshness: a mirror's trace file says when it last synced;
//! sentry reads it, `/metrics` and the admin show the lag, and a product
//! that may be only so stale leaves out mirrors lagging more, for its own
//! files only.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::common::mirror::{Behaviour, Files, Mirror};
use crate::common::{Env, http};

const FX: &str = "/fx/setup.exe";
const TB: &str = "/tb/setup.exe";

/// The two products' files, and a trace file in `form`.
fn files(trace_path: &str, trace: String) -> Files {
    Arc::new(BTreeMap::from([
        (FX.to_string(), b"fx".repeat(100)),
        (TB.to_string(), b"tb".repeat(100)),
        (trace_path.to_string(), trace.into_bytes()),
    ]))
}

/// `date -u` as Debian's trace files have it.
fn debian_date(t: u64) -> String {
    let days = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d) = bouncer::model::civil(t);
    let s = t % 86_400;
    format!(
        "{} {} {d:>2} {:02}:{:02}:{:02} UTC {y}\n",
        days[(t / 86_400 % 7) as usize],
        months[m as usize - 1],
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

#[test]
fn a_lagging_mirror_leaves_only_the_products_that_limit_lag() {
    let t = bouncer::model::now();
    // Arch-style: Unix seconds; Debian-style: `date -u`, two hours old.
    let fresh = Mirror::start(&files("/lastsync", format!("{t}\n")), Behaviour::Healthy);
    let stale = Mirror::start(
        &files("/project/trace/master", debian_date(t - 7200)),
        Behaviour::Healthy,
    );
    let env = Env::new();
    env.setup(&[
        "product add fx",
        &format!("location add fx win {FX}"),
        "product add tb",
        &format!("location add tb win {TB}"),
        "product set fx --max-lag 60",
    ]);
    env.ok(&["mirror", "add", "fresh", &fresh.url, "--trace", "/lastsync"]);
    env.ok(&[
        "mirror",
        "add",
        "stale",
        &stale.url,
        "--trace",
        "/project/trace/master",
    ]);
    let out = env.ok(&["sentry", "--all", "--timeout", "3"]);
    assert!(!out.contains("ALARM"), "{out}");
    let server = env.serve(&["--no-sentry"]);
    let picks = |target: &str| -> BTreeSet<String> {
        server
            .locations(target, &[], 60)
            .iter()
            .map(|l| {
                if l.starts_with(&fresh.url) {
                    "fresh".to_string()
                } else if l.starts_with(&stale.url) {
                    "stale".to_string()
                } else {
                    panic!("{l}")
                }
            })
            .collect()
    };
    let set =
        |names: &[&str]| -> BTreeSet<String> { names.iter().map(|n| n.to_string()).collect() };
    assert_eq!(picks("/?product=fx&os=win"), set(&["fresh"]));
    assert_eq!(picks("/?product=tb&os=win"), set(&["fresh", "stale"]));
    // /metrics: the stale mirror two hours behind the freshest.
    let text = http(server.port, "GET", "/metrics", &[]).body;
    let lag = |name: &str| -> f64 {
        let prefix = format!("bouncer_mirror_lag_seconds{{mirror=\"{name}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no lag of {name}\n{text}"))
            .parse()
            .unwrap()
    };
    assert_eq!(lag("fresh"), 0.0);
    assert_eq!(lag("stale"), 7200.0);

    // Lifted while it runs: the stale mirror serves fx again.
    env.ok(&["product", "set", "fx", "--max-lag", "none"]);
    assert_eq!(picks("/?product=fx&os=win"), set(&["fresh", "stale"]));
    // A wrong limit is refused and changes nothing.
    let out = env.run(&["product", "set", "fx", "--max-lag", "soon"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        out.stderr.contains("whole minutes from 1 to 10080"),
        "{out:?}"
    );
    server.stop();
}

#[test]
fn an_unreadable_trace_file_counts_as_stale_and_a_bad_path_is_refused() {
    let t = bouncer::model::now();
    let m = Mirror::start(&files("/lastsync", format!("{t}\n")), Behaviour::Healthy);
    let env = Env::new();
    env.setup(&[
        "product add fx",
        &format!("location add fx win {FX}"),
        "product set fx --max-lag 60",
    ]);
    env.ok(&["mirror", "add", "m", &m.url, "--trace", "/missing-trace"]);
    env.ok(&["sentry", "--all", "--timeout", "3"]);
    let server = env.serve(&[
        "--no-sentry",
        "--fallback-url",
        "https://origin.example/pub",
    ]);
    let r = server.get_redirect("/?product=fx&os=win");
    assert!(
        r.location().starts_with("https://origin.example/pub"),
        "{r:?}"
    );
    server.stop();
    let out = env.run(&["mirror", "set", "m", "--trace", "lastsync"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("starting with /"), "{out:?}");
}
