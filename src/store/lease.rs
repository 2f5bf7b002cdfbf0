//! Sentry's lease (PostgreSQL): one node at a time checks the network. The
//! holder renews the lease before it expires; when it stops renewing (it
//! died, or lost the database) another node takes it with a new token.
//! Results are written only under the token that holds the lease now (a
//! fencing token: a node that lost the lease mid-run writes nothing).

use std::time::Duration;

use super::Store;
use super::Tx;
use super::postgres::{PgTxn, SqlValue, from_sql_int, sql_int};
use crate::error::{Error, Result};

/// The database's clock in Unix milliseconds, in SQL.
const NOW_MS: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint";

/// A held lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Who holds it (a node's name).
    pub holder: String,
    /// The fencing token: grows with every new holder.
    pub token: u64,
    /// When this holder took it (Unix milliseconds, database clock).
    pub since: u64,
    /// When it lapses unless renewed (Unix milliseconds, database clock).
    pub expires_at: u64,
}

/// What a claim on the lease got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The lease, taken or renewed.
    Held(Lease),
    /// Someone else holds it.
    Taken {
        /// Who.
        holder: String,
        /// Until when, unless they renew (Unix milliseconds).
        until: u64,
    },
}

impl Store {
    /// Takes sentry's lease for `holder` for `ttl`, or renews it if
    /// `holder` has it; refused while another holder's lease runs. On
    /// redb (one process) the lease is always this process's.
    pub fn lease_claim(&self, holder: &str, ttl: Duration) -> Result<Claim> {
        let Some(db) = self.postgres() else {
            return Ok(Claim::Held(Lease {
                holder: holder.to_string(),
                token: 1,
                since: 0,
                expires_at: u64::MAX,
            }));
        };
        let txn = db.read_write()?;
        // The one row, made by whoever claims first.
        txn.execute(
            "INSERT INTO sentry_lease (id, holder, token, since, expires_at)
             VALUES (1, '', 0, 0, 0) ON CONFLICT (id) DO NOTHING",
            &[],
        )?;
        let rows = txn.query(
            &format!(
                "SELECT holder, token, since, expires_at, {NOW_MS} FROM sentry_lease WHERE id = 1 FOR UPDATE"
            ),
            &[],
        )?;
        let row = rows
            .first()
            .ok_or_else(|| Error::storage("the sentry_lease row is missing after its insert"))?;
        let (current, token, since, expires_at, now): (String, i64, i64, i64, i64) =
            (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        let until = now.saturating_add(ttl.as_millis() as i64);
        let lease = if current == holder && expires_at > now {
            Lease {
                holder: holder.to_string(),
                token: from_sql_int(token),
                since: from_sql_int(since),
                expires_at: from_sql_int(until),
            }
        } else if expires_at <= now {
            Lease {
                holder: holder.to_string(),
                token: from_sql_int(token) + 1,
                since: from_sql_int(now),
                expires_at: from_sql_int(until),
            }
        } else {
            return Ok(Claim::Taken {
                holder: current,
                until: from_sql_int(expires_at),
            });
        };
        txn.execute(
            "UPDATE sentry_lease SET holder = $1, token = $2, since = $3, expires_at = $4 WHERE id = 1",
            &[
                SqlValue::Text(lease.holder.clone()),
                SqlValue::Int(sql_int(lease.token)),
                SqlValue::Int(sql_int(lease.since)),
                SqlValue::Int(sql_int(lease.expires_at)),
            ],
        )?;
        txn.commit()?;
        Ok(Claim::Held(lease))
    }

    /// Gives the lease up (a node stopping), so another takes it at once.
    pub fn lease_release(&self, lease: &Lease) -> Result<()> {
        let Some(db) = self.postgres() else {
            return Ok(());
        };
        let txn = db.read_write()?;
        txn.execute(
            "UPDATE sentry_lease SET expires_at = 0 WHERE id = 1 AND holder = $1 AND token = $2",
            &[
                SqlValue::Text(lease.holder.clone()),
                SqlValue::Int(sql_int(lease.token)),
            ],
        )?;
        txn.commit()
    }
}

impl Tx {
    /// Refuses this write unless `lease` still holds sentry's lease, and
    /// keeps it from changing hands until the write commits.
    pub fn require_lease(&self, lease: &Lease) -> Result<()> {
        match self.txn.pg() {
            Some(pg) => require(pg, lease, "FOR UPDATE"),
            None => Ok(()),
        }
    }
}

/// Refuses `txn` unless `lease` still holds sentry's lease, locking the
/// lease row with `lock` (`FOR UPDATE` or `FOR SHARE`) until it commits.
pub(super) fn require(txn: &PgTxn, lease: &Lease, lock: &str) -> Result<()> {
    let rows = txn.query(
        &format!(
            "SELECT holder, token, expires_at > {NOW_MS} FROM sentry_lease WHERE id = 1 {lock}"
        ),
        &[],
    )?;
    let held = rows.first().is_some_and(|row| {
        row.get::<_, String>(0) == lease.holder
            && from_sql_int(row.get(1)) == lease.token
            && row.get::<_, bool>(2)
    });
    if held {
        Ok(())
    } else {
        Err(Error::LeaseLost {
            holder: rows.first().map(|r| r.get(0)).unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg_store() -> Option<Store> {
        let server = crate::testing::postgres::TestPostgres::shared_or_skip()?;
        Some(Store::open_at(&super::super::Place::Postgres(server.database())).unwrap())
    }

    #[test]
    fn one_holder_at_a_time_and_a_new_token_for_each() {
        let Some(store) = pg_store() else { return };
        let ttl = Duration::from_secs(60);
        let Claim::Held(a) = store.lease_claim("a", ttl).unwrap() else {
            panic!("a free lease is taken");
        };
        // b is refused while a's lease runs; a renews with the same token.
        assert!(
            matches!(store.lease_claim("b", ttl).unwrap(), Claim::Taken { holder, .. } if holder == "a")
        );
        let Claim::Held(renewed) = store.lease_claim("a", ttl).unwrap() else {
            panic!("the holder renews");
        };
        assert_eq!((renewed.token, renewed.since), (a.token, a.since));
        // Writes under a's token pass; once a released and b took over,
        // a's token is refused (fencing) and b's passes.
        store
            .write(&crate::model::Actor::Sentry, |tx| tx.require_lease(&a))
            .unwrap();
        store.lease_release(&a).unwrap();
        let Claim::Held(b) = store.lease_claim("b", ttl).unwrap() else {
            panic!("a released lease is taken");
        };
        assert_eq!(b.token, a.token + 1);
        let err = store
            .write(&crate::model::Actor::Sentry, |tx| tx.require_lease(&a))
            .unwrap_err();
        assert!(
            matches!(&err, Error::LeaseLost { holder } if holder == "b"),
            "{err}"
        );
        store
            .write(&crate::model::Actor::Sentry, |tx| tx.require_lease(&b))
            .unwrap();
        // An expired lease goes to the next claimant.
        let Claim::Held(b) = store.lease_claim("b", Duration::ZERO).unwrap() else {
            panic!("the holder renews");
        };
        let Claim::Held(c) = store.lease_claim("c", ttl).unwrap() else {
            panic!("an expired lease is taken");
        };
        assert_eq!(c.token, b.token + 1);
    }
}
