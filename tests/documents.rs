//! SPEC §2: the documents about a file, over the real binary: the Metalink
//! v4 document (`?metalink`, RFC 5854) and the HTML mirror list
//! (`?mirrorlist`), on a network of real test mirrors with the file's size
//! and SHA-256 loaded through `bouncer load`. Every URL they name is
//! fetched: the mirrors really serve the bytes.

use std::collections::BTreeMap;

use crate::common::mirror::Behaviour;
use crate::common::net::{self, Net, expand};
use crate::common::{Env, Server, get_url, sha256_hex};

const TEMPLATE: &str = "/pub/tb/1.0/:lang/Tb%20Setup%201.0.exe";
/// The bounce of the file in `de`.
const BOUNCE: &str = "/?product=tb&os=win&lang=de";

/// Product `tb` (de, fr) on win; mirrors `heavy` (rating 90), `light` (10)
/// serving it and `idle` (rating 0, out of rotation); hashes and sizes loaded;
/// the server.
fn network() -> (Net, Server) {
    let env = Env::new();
    env.setup(&[
        "product add tb --lang de --lang fr",
        &format!("location add tb win {TEMPLATE}"),
    ]);
    let mut net = Net::new(env, net::files(expand(TEMPLATE, &["de", "fr"])));
    net.add_present("heavy", Behaviour::Healthy, &["--rating", "90"]);
    net.add_present("light", Behaviour::Healthy, &["--rating", "10"]);
    net.add_present("idle", Behaviour::Healthy, &["--rating", "0"]);
    net.load_checksums("tb", "/pub/tb", "1.0=win", &expand(TEMPLATE, &["de", "fr"]));
    let server = net.env.serve(&[]);
    (net, server)
}

fn de() -> String {
    TEMPLATE.replace(":lang", "de")
}

#[test]
fn the_metalink_names_the_file_its_hash_and_size_and_every_serving_mirror_by_weight() {
    let (net, server) = network();
    let content = &net.files[&de()];
    for target in [
        format!("{BOUNCE}&metalink"),
        format!("/files{}?metalink", de()),
    ] {
        let r = server.get(&target);
        assert_eq!(r.status, 200, "{target}: {r:?}");
        assert_eq!(
            r.header("content-type"),
            Some("application/metalink4+xml"),
            "{target}"
        );
        let doc = roxmltree::Document::parse(&r.body).expect("a well-formed Metalink");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "metalink");
        assert_eq!(
            root.tag_name().namespace(),
            Some("urn:ietf:params:xml:ns:metalink")
        );
        let files: Vec<_> = root.children().filter(|n| n.has_tag_name("file")).collect();
        assert_eq!(files.len(), 1, "{}", r.body);
        let file = files[0];
        assert_eq!(file.attribute("name"), Some("Tb Setup 1.0.exe"));
        let text = |tag: &str| -> Vec<(Option<&str>, &str)> {
            file.children()
                .filter(|n| n.has_tag_name(tag))
                .map(|n| (n.attribute("type"), n.text().unwrap_or("")))
                .collect()
        };
        assert_eq!(text("size"), [(None, content.len().to_string().as_str())]);
        assert_eq!(
            text("hash"),
            [(Some("sha-256"), sha256_hex(content).as_str())],
            "{}",
            r.body
        );
        // The mirrors in rotation, heaviest first; the idle one (rating 0)
        // is not offered.
        let urls: Vec<(&str, &str)> = file
            .children()
            .filter(|n| n.has_tag_name("url"))
            .map(|n| {
                (
                    n.attribute("priority").unwrap_or(""),
                    n.text().unwrap_or(""),
                )
            })
            .collect();
        let named: Vec<String> = urls.iter().map(|(_, u)| net.name_of(u, &de())).collect();
        assert_eq!(named, ["heavy", "light"], "{}", r.body);
        assert_eq!(urls[0].0, "1", "{}", r.body);
        for (_, url) in &urls {
            let got = get_url(url);
            assert_eq!(got.status, 200, "{url}: {got:?}");
            assert!(got.body.as_bytes() == content.as_slice(), "{url}");
        }
    }
    // A Metalink is no download: nothing counted.
    assert_eq!(net.env.stats().total, 0);
}

#[test]
fn the_mirror_list_shows_the_file_and_each_mirror_with_its_state() {
    let (net, server) = network();
    let content = &net.files[&de()];
    let r = server.get(&format!("{BOUNCE}&mirrorlist"));
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "{r:?}"
    );
    let page = &r.body;
    assert!(page.contains("Mirrors of Tb Setup 1.0.exe"), "{page}");
    assert!(page.contains(&sha256_hex(content)), "{page}");
    assert!(page.contains(&format!("{} bytes", content.len())), "{page}");
    // Every mirror is listed by name with its URL of the file; the idle
    // one says why it gets nothing.
    let mut listed = BTreeMap::new();
    for (name, mirror) in &net.mirrors {
        let url = format!("{}{}", mirror.url, de());
        listed.insert(name.as_str(), page.contains(&url));
        assert!(page.contains(&format!(">{name}<")), "{name}: {page}");
    }
    assert!(listed.values().all(|&l| l), "{listed:?}: {page}");
    assert!(page.contains("out of rotation (rating 0)"), "{page}");
    // Its link to the Metalink works.
    assert!(page.contains("metalink"), "{page}");
    // The list is no download either.
    assert_eq!(net.env.stats().total, 0);
}
