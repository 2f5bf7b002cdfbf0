//! A serving process's life, over the real binary: a request in flight
//! when SIGTERM comes is answered before the server exits (graceful
//! shutdown), and a database written by a newer Bouncer is refused with
//! advice, and not migrated, by every command and by `serve`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine;

use crate::common::{Env, form_urlencode, password, read_response};

/// How long one step of a request may take.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn a_request_in_flight_at_sigterm_is_answered_before_the_server_exits() {
    let env = Env::new();
    env.add_user("rel", "release");
    let server = env.serve(&[]);
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("rel:{}", password("rel")));
    let body = form_urlencode(&[("product", "Late-1.0"), ("languages", "de")]);
    let head = format!(
        "POST /api/product_add/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Authorization: Basic {auth}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Expect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.write_all(head.as_bytes()).expect("send the head");
    // `100 Continue` is the event: the server has taken the request and
    // is reading its body.
    let mut interim = Vec::new();
    let mut byte = [0u8; 1];
    while !interim.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).expect("the interim answer");
        assert_eq!(n, 1, "closed before 100 Continue: {interim:?}");
        interim.push(byte[0]);
    }
    let interim = String::from_utf8_lossy(&interim);
    assert!(interim.starts_with("HTTP/1.1 100 "), "{interim}");

    server.terminate();
    stream.write_all(body.as_bytes()).expect("send the body");
    let r = read_response(&mut stream, false).expect("the answer, after SIGTERM");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("Late-1.0"), "{r:?}");
    let (status, log) = server.wait_exit();
    assert!(status.success(), "{status:?}\n{log}");
    // The write it answered is there.
    let products = env.ok(&["product", "list"]);
    assert!(products.contains("Late-1.0"), "{products}");
}

#[test]
fn a_database_from_a_newer_bouncer_is_refused_with_advice_and_not_migrated() {
    let env = Env::new();
    env.setup(&["product add tb", "mirror add m1 http://127.0.0.1:9/m1"]);
    // A newer Bouncer's mark: the binary cannot write it, so it is
    // written with redb into the table where the version lives
    // (`store::tables::META`, private to the store).
    let meta = redb::TableDefinition::<&str, u64>::new("meta");
    let newer = bouncer::store::SCHEMA_VERSION + 1;
    {
        let db = redb::Database::open(&env.db).expect("open the database with redb");
        let txn = db.begin_write().unwrap();
        txn.open_table(meta)
            .unwrap()
            .insert("schema_version", newer)
            .unwrap();
        txn.commit().unwrap();
    }
    for args in [
        &["product", "list"][..],
        &["mirror", "add", "m2", "http://127.0.0.1:9/m2"],
        &["export"],
        &["serve", "--listen", "127.0.0.1:0", "--no-sentry"],
    ] {
        let out = env.run(args);
        assert_eq!(out.code, 1, "{args:?}: {out:?}");
        for says in [
            "newer Bouncer",
            "upgrade bouncer",
            &format!("schema {newer}"),
        ] {
            assert!(out.stderr.contains(says), "{args:?}: {says:?}: {out:?}");
        }
    }
    // Refused, not migrated down: the version is still the newer one.
    // (redb itself may rewrite its header on open, so bytes are no test.)
    let db = redb::Database::open(&env.db).expect("open the database with redb");
    let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
    let version = txn.open_table(meta).unwrap().get("schema_version").unwrap();
    assert_eq!(version.map(|v| v.value()), Some(newer));
}
