//! SPEC §13, machine-readable lists: `/mirrors.json` (the public mirrors
//! and regions) and `?mirrorlist&json` for one file (the candidates in the
//! order this client gets them), checked against the redirects the client
//! really gets.

use crate::common::{Env, http, sha256_hex};

const PATH: &str = "/tb/win/setup.exe";
const TB: &str = "/?product=tb&os=win";

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn network() -> Env {
    let env = Env::new();
    env.setup(&[
        "product add tb",
        "location add tb win /tb/win/setup.exe",
        "region add europe --country DE",
        "mirror add m1 http://m1.example/pub --region europe --rating 300",
        "mirror add m2 https://m2.example/pub --rating 100 --families ipv4",
        "mirror add m3 http://m3.example/pub --rating 100 --max-share 40 --alt-url https://m3.example/pub",
        "mirror add idle http://idle.example/pub --rating 0",
        "status set m1 present",
        "status set m2 present",
        "status set m3 present",
    ]);
    env.load_files("tb", "/tb", "win=win", &[(PATH, b"the installer")]);
    env
}

#[test]
fn the_mirrorlist_json_is_the_order_the_client_gets() {
    let env = network();
    let server = env.serve(&["--trusted-proxy", "127.0.0.1"]);
    for client in ["192.0.2.1", "192.0.2.77", "2001:db8::5"] {
        let from = [("X-Forwarded-For", client)];
        let r = server.get_with(&format!("{TB}&mirrorlist&json"), &from);
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        let list = json(&r.body);
        assert_eq!(list["version"], 1);
        assert_eq!(list["path"], PATH);
        assert_eq!(
            list["file"]["hashes"]["sha-256"],
            sha256_hex(b"the installer")
        );
        let family = if client.contains(':') { "ipv6" } else { "ipv4" };
        assert_eq!(list["client"]["family"], family);
        let urls: Vec<String> = list["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["url"].as_str().unwrap().to_string())
            .collect();
        // m2 serves IPv4 only.
        assert_eq!(urls.len(), if family == "ipv4" { 3 } else { 2 }, "{list:#}");
        assert!(
            list["candidates"][0]["why"]
                .as_str()
                .unwrap()
                .starts_with("first")
        );
        // The client's first request, then each retry, in that order.
        let got = server.locations(TB, &from, urls.len());
        assert_eq!(got, urls, "{client}: {list:#}");
        // Asking for the list again is no retry, and it counts nothing.
        let again = json(
            &server
                .get_with(&format!("{TB}&mirrorlist&json"), &from)
                .body,
        );
        assert_eq!(again["candidates"], list["candidates"]);
    }
    // Over https only: https roots, m3's other one included.
    let r = server.get(&format!("{TB}&mirrorlist&json&protocol=https"));
    let list = json(&r.body);
    let urls: Vec<&str> = list["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["url"].as_str().unwrap())
        .collect();
    assert!(urls.iter().all(|u| u.starts_with("https://")), "{urls:?}");
    assert!(
        urls.contains(&"https://m3.example/pub/tb/win/setup.exe"),
        "{urls:?}"
    );
    server.stop();
}

#[test]
fn mirrors_json_lists_the_public_mirrors_and_regions() {
    let env = network();
    let server = env.serve(&[]);
    let r = http(server.port, "GET", "/mirrors.json", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/json"));
    let list = json(&r.body);
    assert_eq!(list["version"], 1);
    let mirrors = list["mirrors"].as_array().unwrap();
    let names: Vec<&str> = mirrors
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
    let m = |name: &str| mirrors.iter().find(|m| m["name"] == name).unwrap().clone();
    assert_eq!(m("m1")["regions"], serde_json::json!(["europe"]));
    assert_eq!(m("m1")["rating_share_percent"], 60.0);
    assert_eq!(m("m2")["families"]["setting"], "ipv4");
    assert_eq!(m("m2")["families"]["serves_ipv6"], false);
    assert_eq!(m("m3")["max_share_percent"], 40);
    assert_eq!(m("m3")["other_url"], "https://m3.example/pub");
    assert_eq!(m("idle")["status"], "standby");
    assert_eq!(m("m1")["status"], "unchecked");
    assert!(m("m1")["lag_seconds"].is_null());
    let regions = list["regions"].as_array().unwrap();
    assert_eq!(regions[0]["name"], "europe");
    assert_eq!(regions[0]["countries"], serde_json::json!(["DE"]));
    // Every mirror has every documented field.
    for field in [
        "name",
        "url",
        "other_url",
        "kind",
        "regions",
        "only_countries",
        "never_countries",
        "families",
        "status",
        "checked_at",
        "down_since",
        "down_reason",
        "lag_seconds",
        "rating",
        "rating_share_percent",
        "max_share_percent",
        "downloads",
        "download_share_percent",
    ] {
        for mirror in mirrors {
            assert!(mirror.get(field).is_some(), "{field} missing in {mirror}");
        }
    }
    server.stop();
}
