//! Admin sessions and the login throttle's memory, on PostgreSQL: kept in
//! the database so that every node sharing it serves any admin request
//! and meets one count of a guesser's failures. (With redb, one node, both
//! stay in memory: `crate::admin::session` and `crate::auth` decide.)
//!
//! These are not configuration writes: no generation lock, no audit
//! entry, nothing a node's index depends on. The policy (when a session
//! is live, how long a client waits) stays with the callers; this file
//! only keeps rows, each change in one transaction.

use super::Store;
use super::postgres::{Db, PgTxn, SqlValue, from_sql_int, sql_int};
use crate::error::{Error, Result};

/// A session as stored (keyed by its token's hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSession {
    /// The user's name.
    pub user: String,
    /// The user's password hash at login.
    pub password_hash: String,
    /// The session's CSRF token.
    pub csrf: String,
    /// Unix seconds of login.
    pub created: u64,
    /// Unix seconds of the latest request (refreshed at most once a
    /// minute or so, as the caller decides).
    pub seen: u64,
    /// A message for the next page: (is an error, text).
    pub flash: Option<(bool, String)>,
}

/// Failed logins remembered for one key (a pair or a client).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoginFailures {
    /// How many.
    pub count: u32,
    /// Unix seconds of the latest.
    pub last: u64,
}

/// What the database remembers of one (account, client) pair.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoginRecord {
    /// The pair's failures.
    pub pair: LoginFailures,
    /// The client's failures over all accounts.
    pub client: LoginFailures,
    /// Unix seconds of the client's latest login to the account.
    pub known: Option<u64>,
}

/// Failures at or past a limit, for the admin's list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoginFailureRows {
    /// ((account, client), failures) of pairs.
    pub pairs: Vec<((String, String), LoginFailures)>,
    /// (client, failures) of clients over all accounts.
    pub clients: Vec<(String, LoginFailures)>,
}

const SESSION_COLUMNS: &str =
    "user_name, password_hash, csrf, created_at, seen_at, flash_error, flash";

fn session_row(row: &postgres::Row) -> StoredSession {
    let flash_error: bool = row.get(5);
    let flash: Option<String> = row.get(6);
    StoredSession {
        user: row.get(0),
        password_hash: row.get(1),
        csrf: row.get(2),
        created: from_sql_int(row.get(3)),
        seen: from_sql_int(row.get(4)),
        flash: flash.map(|text| (flash_error, text)),
    }
}

fn failures(count: i64, last: i64) -> LoginFailures {
    LoginFailures {
        count: u32::try_from(count).unwrap_or(u32::MAX),
        last: from_sql_int(last),
    }
}

impl Store {
    /// The PostgreSQL database that keeps sessions and the throttle
    /// (with redb they live in memory and never reach here).
    fn shared_db(&self) -> Result<&Db> {
        self.postgres().ok_or_else(|| {
            Error::Internal("sessions are kept in the database only on PostgreSQL".into())
        })
    }

    /// Stores a new session under its token's hash.
    pub fn session_insert(&self, token_hash: &str, s: &StoredSession) -> Result<()> {
        let txn = self.shared_db()?.read_write()?;
        txn.execute(
            &format!(
                "INSERT INTO sessions (token_hash, {SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            ),
            &[
                SqlValue::Text(token_hash.into()),
                SqlValue::Text(s.user.clone()),
                SqlValue::Text(s.password_hash.clone()),
                SqlValue::Text(s.csrf.clone()),
                SqlValue::Int(sql_int(s.created)),
                SqlValue::Int(sql_int(s.seen)),
                SqlValue::Bool(s.flash.as_ref().is_some_and(|f| f.0)),
                SqlValue::OptText(s.flash.as_ref().map(|f| f.1.clone())),
            ],
        )?;
        txn.commit()
    }

    /// The session stored under this hash, as it is (nothing written).
    pub fn session_get(&self, token_hash: &str) -> Result<Option<StoredSession>> {
        let txn = self.shared_db()?.read()?;
        session_get_in(&txn, token_hash)
    }

    /// The session stored under this hash, for a request at `now`: removed
    /// (and `None`) when `live` says it is not; its flash message taken out
    /// (by one request only, however many arrive at once); its `seen`
    /// refreshed when older than `refresh_after` seconds. A request that
    /// finds neither to do writes nothing. The session returned is seen
    /// `now`.
    pub fn session_touch(
        &self,
        token_hash: &str,
        now: u64,
        refresh_after: u64,
        live: impl Fn(&StoredSession) -> bool,
    ) -> Result<Option<StoredSession>> {
        let txn = self.shared_db()?.read_write()?;
        let Some(mut s) = session_get_in(&txn, token_hash)? else {
            return Ok(None);
        };
        if !live(&s) {
            txn.execute(
                "DELETE FROM sessions WHERE token_hash = $1",
                &[SqlValue::Text(token_hash.into())],
            )?;
            txn.commit()?;
            return Ok(None);
        }
        if let Some((_, text)) = &s.flash {
            // Cleared only if still the one read: the request that clears
            // it shows it, a concurrent one does not.
            let taken = txn.execute(
                "UPDATE sessions SET flash = NULL, flash_error = false, seen_at = GREATEST(seen_at, $2)
                 WHERE token_hash = $1 AND flash = $3",
                &[
                    SqlValue::Text(token_hash.into()),
                    SqlValue::Int(sql_int(now)),
                    SqlValue::Text(text.clone()),
                ],
            )?;
            if taken == 0 {
                s.flash = None;
            }
            txn.commit()?;
        } else if now.saturating_sub(s.seen) >= refresh_after {
            txn.execute(
                "UPDATE sessions SET seen_at = $2 WHERE token_hash = $1 AND seen_at < $2",
                &[
                    SqlValue::Text(token_hash.into()),
                    SqlValue::Int(sql_int(now)),
                ],
            )?;
            txn.commit()?;
        }
        s.seen = s.seen.max(now);
        Ok(Some(s))
    }

    /// Leaves a message for the session's next page.
    pub fn session_flash(&self, token_hash: &str, error: bool, text: &str) -> Result<()> {
        let txn = self.shared_db()?.read_write()?;
        txn.execute(
            "UPDATE sessions SET flash_error = $2, flash = $3 WHERE token_hash = $1",
            &[
                SqlValue::Text(token_hash.into()),
                SqlValue::Bool(error),
                SqlValue::OptText(Some(text.into())),
            ],
        )?;
        txn.commit()
    }

    /// Removes one session.
    pub fn session_delete(&self, token_hash: &str) -> Result<()> {
        let txn = self.shared_db()?.read_write()?;
        txn.execute(
            "DELETE FROM sessions WHERE token_hash = $1",
            &[SqlValue::Text(token_hash.into())],
        )?;
        txn.commit()
    }

    /// Removes every session of `user`, on every node.
    pub fn sessions_delete_user(&self, user: &str) -> Result<()> {
        let txn = self.shared_db()?.read_write()?;
        txn.execute(
            "DELETE FROM sessions WHERE user_name = $1",
            &[SqlValue::Text(user.into())],
        )?;
        txn.commit()
    }

    /// Removes the sessions idle since before `seen_before` or begun
    /// before `created_before`; how many.
    pub fn sessions_purge(&self, seen_before: u64, created_before: u64) -> Result<u64> {
        let txn = self.shared_db()?.read_write()?;
        let n = txn.execute(
            "DELETE FROM sessions WHERE seen_at < $1 OR created_at < $2",
            &[
                SqlValue::Int(sql_int(seen_before)),
                SqlValue::Int(sql_int(created_before)),
            ],
        )?;
        txn.commit()?;
        Ok(n)
    }

    /// How many sessions are stored.
    pub fn sessions_count(&self) -> Result<u64> {
        let txn = self.shared_db()?.read()?;
        let rows = txn.query("SELECT count(*) FROM sessions", &[])?;
        Ok(rows.first().map_or(0, |r| from_sql_int(r.get(0))))
    }

    /// What is remembered of `account` (lower case) and `client`, as it
    /// is (nothing locked or written).
    pub fn login_record(&self, account: &str, client: &str) -> Result<LoginRecord> {
        let txn = self.shared_db()?.read()?;
        login_record_in(&txn, account, client, "")
    }

    /// A login attempt of `account` (lower case) from `client`, decided in
    /// one transaction with the pair's and the client's rows locked, so
    /// that attempts arriving at once on several nodes are counted one
    /// after the other: `decide` sees what is remembered and returns its
    /// answer and, when the attempt counts, the pair's and the client's
    /// new failures to store.
    pub fn login_attempt<T>(
        &self,
        account: &str,
        client: &str,
        decide: impl FnOnce(&LoginRecord) -> (T, Option<(LoginFailures, LoginFailures)>),
    ) -> Result<T> {
        let txn = self.shared_db()?.read_write()?;
        let (a, c) = (
            SqlValue::Text(account.into()),
            SqlValue::Text(client.into()),
        );
        // Rows to lock even for a first attempt; always the pair's first,
        // then the client's, so that attempts never wait on each other in
        // a cycle. Rolled back with the rest when the attempt waits.
        txn.execute(
            "INSERT INTO login_failures (account, client, failures, last_at) VALUES ($1, $2, 0, 0)
             ON CONFLICT (account, client) DO NOTHING",
            &[a.clone(), c.clone()],
        )?;
        txn.execute(
            "INSERT INTO login_client_failures (client, failures, last_at) VALUES ($1, 0, 0)
             ON CONFLICT (client) DO NOTHING",
            std::slice::from_ref(&c),
        )?;
        let record = login_record_in(&txn, account, client, " FOR UPDATE")?;
        let (answer, store) = decide(&record);
        if let Some((pair, by_client)) = store {
            txn.execute(
                "UPDATE login_failures SET failures = $3, last_at = $4 WHERE account = $1 AND client = $2",
                &[
                    a,
                    c.clone(),
                    SqlValue::Int(i64::from(pair.count)),
                    SqlValue::Int(sql_int(pair.last)),
                ],
            )?;
            txn.execute(
                "UPDATE login_client_failures SET failures = $2, last_at = $3 WHERE client = $1",
                &[
                    c,
                    SqlValue::Int(i64::from(by_client.count)),
                    SqlValue::Int(sql_int(by_client.last)),
                ],
            )?;
            txn.commit()?;
        }
        Ok(answer)
    }

    /// A successful login of `account` (lower case) from `client`: the
    /// pair's failures forgotten, the client's attempt given back, the
    /// client remembered as the account's since `now`.
    pub fn login_succeeded(&self, account: &str, client: &str, now: u64) -> Result<()> {
        let txn = self.shared_db()?.read_write()?;
        let (a, c) = (
            SqlValue::Text(account.into()),
            SqlValue::Text(client.into()),
        );
        txn.execute(
            "DELETE FROM login_failures WHERE account = $1 AND client = $2",
            &[a.clone(), c.clone()],
        )?;
        txn.execute(
            "UPDATE login_client_failures SET failures = failures - 1 WHERE client = $1 AND failures > 0",
            std::slice::from_ref(&c),
        )?;
        txn.execute(
            "INSERT INTO login_known (account, client, at) VALUES ($1, $2, $3)
             ON CONFLICT (account, client) DO UPDATE SET at = EXCLUDED.at",
            &[a, c, SqlValue::Int(sql_int(now))],
        )?;
        txn.commit()
    }

    /// Pairs with at least `pair_limit` failures and clients with at least
    /// `client_limit`, whose latest failure is at or after `since`.
    pub fn login_failures_over(
        &self,
        pair_limit: u32,
        client_limit: u32,
        since: u64,
    ) -> Result<LoginFailureRows> {
        let txn = self.shared_db()?.read()?;
        let since = SqlValue::Int(sql_int(since));
        let pairs = txn
            .query(
                "SELECT account, client, failures, last_at FROM login_failures
                 WHERE failures >= $1 AND last_at >= $2",
                &[SqlValue::Int(i64::from(pair_limit)), since.clone()],
            )?
            .iter()
            .map(|r| ((r.get(0), r.get(1)), failures(r.get(2), r.get(3))))
            .collect();
        let clients = txn
            .query(
                "SELECT client, failures, last_at FROM login_client_failures
                 WHERE failures >= $1 AND last_at >= $2",
                &[SqlValue::Int(i64::from(client_limit)), since],
            )?
            .iter()
            .map(|r| (r.get(0), failures(r.get(1), r.get(2))))
            .collect();
        Ok(LoginFailureRows { pairs, clients })
    }

    /// Forgets failures older than `failures_before` and logins older
    /// than `known_before`.
    pub fn logins_purge(&self, failures_before: u64, known_before: u64) -> Result<()> {
        let txn = self.shared_db()?.read_write()?;
        let before = SqlValue::Int(sql_int(failures_before));
        txn.execute(
            "DELETE FROM login_failures WHERE last_at < $1",
            std::slice::from_ref(&before),
        )?;
        txn.execute(
            "DELETE FROM login_client_failures WHERE last_at < $1",
            &[before],
        )?;
        txn.execute(
            "DELETE FROM login_known WHERE at < $1",
            &[SqlValue::Int(sql_int(known_before))],
        )?;
        txn.commit()
    }
}

fn session_get_in(txn: &PgTxn, token_hash: &str) -> Result<Option<StoredSession>> {
    let rows = txn.query(
        &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash = $1"),
        &[SqlValue::Text(token_hash.into())],
    )?;
    Ok(rows.first().map(session_row))
}

/// The record of a pair; `lock` is `""` or `" FOR UPDATE"`.
fn login_record_in(txn: &PgTxn, account: &str, client: &str, lock: &str) -> Result<LoginRecord> {
    let (a, c) = (
        SqlValue::Text(account.into()),
        SqlValue::Text(client.into()),
    );
    let pair = txn.query(
        &format!(
            "SELECT failures, last_at FROM login_failures WHERE account = $1 AND client = $2{lock}"
        ),
        &[a.clone(), c.clone()],
    )?;
    let by_client = txn.query(
        &format!("SELECT failures, last_at FROM login_client_failures WHERE client = $1{lock}"),
        std::slice::from_ref(&c),
    )?;
    let known = txn.query(
        "SELECT at FROM login_known WHERE account = $1 AND client = $2",
        &[a, c],
    )?;
    Ok(LoginRecord {
        pair: pair
            .first()
            .map_or_else(LoginFailures::default, |r| failures(r.get(0), r.get(1))),
        client: by_client
            .first()
            .map_or_else(LoginFailures::default, |r| failures(r.get(0), r.get(1))),
        known: known.first().map(|r| from_sql_int(r.get(0))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg_store() -> Option<Store> {
        let server = crate::testing::postgres::TestPostgres::shared_or_skip()?;
        Some(Store::open_at(&super::super::Place::Postgres(server.database())).unwrap())
    }

    fn session(user: &str, at: u64) -> StoredSession {
        StoredSession {
            user: user.into(),
            password_hash: "h".into(),
            csrf: "c".into(),
            created: at,
            seen: at,
            flash: None,
        }
    }

    #[test]
    fn sessions_are_kept_touched_and_removed() {
        let Some(store) = pg_store() else { return };
        store.session_insert("a", &session("ann", 100)).unwrap();
        store.session_insert("b", &session("ann", 100)).unwrap();
        store.session_insert("c", &session("bob", 100)).unwrap();
        assert_eq!(store.session_get("a").unwrap(), Some(session("ann", 100)));
        // Within the refresh interval: nothing written.
        let s = store
            .session_touch("a", 130, 60, |_| true)
            .unwrap()
            .unwrap();
        assert_eq!(s.seen, 130);
        assert_eq!(store.session_get("a").unwrap().unwrap().seen, 100);
        // Past it: seen is stored.
        store.session_touch("a", 170, 60, |_| true).unwrap();
        assert_eq!(store.session_get("a").unwrap().unwrap().seen, 170);
        // A flash is taken once.
        store.session_flash("a", true, "oops").unwrap();
        let s = store
            .session_touch("a", 171, 60, |_| true)
            .unwrap()
            .unwrap();
        assert_eq!(s.flash, Some((true, "oops".into())));
        let s = store
            .session_touch("a", 172, 60, |_| true)
            .unwrap()
            .unwrap();
        assert_eq!(s.flash, None);
        // A dead session is removed.
        assert_eq!(store.session_touch("a", 173, 60, |_| false).unwrap(), None);
        assert_eq!(store.session_get("a").unwrap(), None);
        assert_eq!(store.sessions_count().unwrap(), 2);
        store.sessions_delete_user("ann").unwrap();
        assert_eq!(store.session_get("b").unwrap(), None);
        assert!(store.session_get("c").unwrap().is_some());
        assert_eq!(store.sessions_purge(101, 0).unwrap(), 1);
        assert_eq!(store.sessions_count().unwrap(), 0);
    }

    #[test]
    fn login_attempts_count_in_the_database() {
        let Some(store) = pg_store() else { return };
        let count = |r: &LoginRecord, now| {
            let f = |f: LoginFailures| LoginFailures {
                count: f.count + 1,
                last: now,
            };
            ((), Some((f(r.pair), f(r.client))))
        };
        for now in [10, 11] {
            store.login_attempt("ann", "c", |r| count(r, now)).unwrap();
        }
        let r = store.login_record("ann", "c").unwrap();
        assert_eq!(r.pair, LoginFailures { count: 2, last: 11 });
        assert_eq!(r.client, LoginFailures { count: 2, last: 11 });
        // An attempt that stores nothing leaves no row behind.
        store.login_attempt("bob", "d", |_| ((), None)).unwrap();
        assert_eq!(
            store.login_record("bob", "d").unwrap(),
            LoginRecord::default()
        );
        let over = store.login_failures_over(2, 3, 0).unwrap();
        assert_eq!(over.pairs.len(), 1);
        assert!(over.clients.is_empty());
        store.login_succeeded("ann", "c", 12).unwrap();
        let r = store.login_record("ann", "c").unwrap();
        assert_eq!((r.pair.count, r.client.count, r.known), (0, 1, Some(12)));
        store.logins_purge(12, 13).unwrap();
        assert_eq!(
            store.login_record("ann", "c").unwrap(),
            LoginRecord::default()
        );
    }
}
