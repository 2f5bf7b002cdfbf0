//! The one network setup the black-box tests share: a database ([`Env`])
//! and test mirrors ([`Mirror`]) serving [`Files`], every mirror added with
//! `bouncer mirror add`, and the files' hashes and sizes stored through the
//! real CLI (`bouncer load`, then `bouncer import`), never written into the
//! database behind the binary's back. Topic modules add their own methods
//! in `impl Net` blocks of their own (sentry's runs, geo's tallies).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::mirror::{Behaviour, Files, Mirror};
use super::{Env, sha256_hex};

/// Files at `paths` (as mirrors and redirects spell them, percent-encoded),
/// the i-th holding its own path repeated `100 + 7 * i` times: no two share
/// a size or content, so a check that reads the wrong one notices.
pub fn files<S: AsRef<str>>(paths: impl IntoIterator<Item = S>) -> Files {
    let files = paths
        .into_iter()
        .enumerate()
        .map(|(i, path)| {
            let path = path.as_ref().to_string();
            let content = format!("{path}\n").repeat(100 + 7 * i).into_bytes();
            (path, content)
        })
        .collect();
    Arc::new(files)
}

/// `template` with `:lang` replaced by each of `langs`.
pub fn expand(template: &str, langs: &[&str]) -> Vec<String> {
    langs
        .iter()
        .map(|lang| template.replace(":lang", lang))
        .collect()
}

/// A database and the test mirrors of its network, by name.
pub struct Net {
    pub env: Env,
    /// What the test mirrors serve.
    pub files: Files,
    /// Name → running test mirror.
    pub mirrors: BTreeMap<String, Mirror>,
    /// Every mirror's (name, base URL), test mirror or not, in the order
    /// added.
    urls: Vec<(String, String)>,
}

impl Net {
    /// A network on `env` (products and locations already added) whose
    /// test mirrors will serve `files`.
    pub fn new(env: Env, files: Files) -> Net {
        Net {
            env,
            files,
            urls: Vec::new(),
            mirrors: BTreeMap::new(),
        }
    }

    /// Starts a test mirror behaving as `behaviour` and adds it
    /// (`mirror add NAME URL extra…`).
    pub fn add(&mut self, name: &str, behaviour: Behaviour, extra: &[&str]) -> &Mirror {
        let mirror = Mirror::start(&self.files, behaviour);
        self.add_url(name, &mirror.url.clone(), extra);
        self.mirrors.insert(name.to_string(), mirror);
        &self.mirrors[name]
    }

    /// [`Net::add`], then `status set NAME present`: serving everything at
    /// once, as if sentry had checked it (sentry stays off).
    pub fn add_present(&mut self, name: &str, behaviour: Behaviour, extra: &[&str]) -> &Mirror {
        self.add(name, behaviour, extra);
        self.env.ok(&["status", "set", name, "present"]);
        &self.mirrors[name]
    }

    /// Adds a mirror at `url` (nothing of ours listens there).
    pub fn add_url(&mut self, name: &str, url: &str, extra: &[&str]) {
        let mut args = vec!["mirror", "add", name, url];
        args.extend_from_slice(extra);
        self.env.ok(&args);
        self.urls.push((name.to_string(), url.to_string()));
    }

    /// The running test mirror `name`.
    pub fn mirror(&self, name: &str) -> &Mirror {
        &self.mirrors[name]
    }

    /// The mirror whose base URL, followed by `path`, is `url` (a
    /// redirect's Location).
    pub fn name_of(&self, url: &str, path: &str) -> String {
        let base = url
            .strip_suffix(path)
            .unwrap_or_else(|| panic!("{url} does not end in {path}"));
        self.urls
            .iter()
            .find(|(_, u)| u == base)
            .map(|(n, _)| n.clone())
            .unwrap_or_else(|| panic!("{url} is on no known mirror"))
    }

    /// Stores the SHA-256 and size of each of `paths` (files of
    /// [`Net::files`], under `prefix`, the platform directory of each
    /// named by `os_map` as `bouncer load --os-map` takes it) as a release
    /// manager would: see [`Env::load_files`].
    pub fn load_checksums(&self, product: &str, prefix: &str, os_map: &str, paths: &[String]) {
        let files: Vec<(&str, &[u8])> = paths
            .iter()
            .map(|p| (p.as_str(), self.files[p].as_slice()))
            .collect();
        self.env.load_files(product, prefix, os_map, &files);
    }
}

impl Env {
    /// Stores the SHA-256 and size of each file `(path, content)` of
    /// `product` through the real CLI: `bouncer load` reads a SHA256SUMS
    /// of the files under `prefix` (with `--os-map os_map`) and stores
    /// their hashes; a checksum file carries no sizes, so `bouncer export`,
    /// the sizes added to its files, and `bouncer import --replace` store
    /// those. Every file must already be in a location of `product`.
    pub fn load_files(&self, product: &str, prefix: &str, os_map: &str, files: &[(&str, &[u8])]) {
        assert!(!files.is_empty(), "no files to load");
        let mut sums = String::new();
        for (path, content) in files {
            let relative = path
                .strip_prefix(prefix)
                .and_then(|p| p.strip_prefix('/'))
                .unwrap_or_else(|| panic!("{path} is not under {prefix}"));
            sums.push_str(&format!(
                "{}  {}\n",
                sha256_hex(content),
                percent_decode(relative)
            ));
        }
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let sums_file = dir.path().join("SHA256SUMS");
        std::fs::write(&sums_file, sums).expect("write SHA256SUMS");
        let out = self.ok(&[
            "load",
            sums_file.to_str().expect("a UTF-8 path"),
            "--product",
            product,
            "--prefix",
            prefix,
            "--os-map",
            os_map,
        ]);
        assert!(
            out.contains(&format!("{} file(s);", files.len())),
            "bouncer load stored other files than asked: {out}"
        );

        let sizes: BTreeMap<&str, u64> = files
            .iter()
            .map(|(path, content)| (*path, content.len() as u64))
            .collect();
        let mut export: serde_json::Value =
            serde_json::from_str(&self.ok(&["export"])).expect("the export is JSON");
        let mut sized = 0;
        for p in export["products"].as_array_mut().expect("products") {
            if p["name"] != product {
                continue;
            }
            for location in p["locations"].as_array_mut().expect("locations") {
                for file in location["files"].as_array_mut().expect("files") {
                    let path = file["path"].as_str().expect("a file's path");
                    if let Some(size) = sizes.get(path) {
                        file["size"] = (*size).into();
                        sized += 1;
                    }
                }
            }
        }
        assert_eq!(sized, files.len(), "files missing from the export");
        let export_file = dir.path().join("export.json");
        std::fs::write(&export_file, export.to_string()).expect("write the export");
        self.ok(&[
            "import",
            export_file.to_str().expect("a UTF-8 path"),
            "--replace",
        ]);
    }
}

/// `%XX` escapes decoded (paths of test files are ASCII).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("decoded paths are UTF-8")
}
