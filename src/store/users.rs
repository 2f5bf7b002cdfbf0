//! Admin accounts.

use redb::{ReadableDatabase, ReadableTable};

use super::rows::{decode, decode_all, encode};
use super::tables::*;
use super::{Store, Tx};
use crate::error::Result;
use crate::error::Thing;
use crate::model::{self, *};

impl Store {
    /// All users, by name.
    pub fn users(&self) -> Result<Vec<User>> {
        let txn = self.db.begin_read()?;
        decode_all(txn.open_table(USERS)?.iter()?)
    }

    /// The user with this name: what a login or session check reads.
    pub fn user(&self, name: &str) -> Result<Option<User>> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(USERS)?;
        let row = t.get(name)?;
        row.map(|v| decode(v.value())).transpose()
    }
}

impl Tx {
    /// The user with this name.
    pub fn user(&self, name: &str) -> Result<Option<User>> {
        let t = self.txn.open_table(USERS)?;
        let row = t.get(name)?;
        row.map(|v| decode(v.value())).transpose()
    }

    /// Adds a user or replaces their hash and role.
    pub fn user_put(&mut self, user: &User, action: &str) -> Result<()> {
        model::user_name(&user.name, self.user(&user.name)?.is_some())?;
        self.txn
            .open_table(USERS)?
            .insert(user.name.as_str(), encode(user).as_slice())?;
        self.record(action, format!("{} role={}", user.name, user.role.as_str()))
    }

    /// Removes a user.
    pub fn user_remove(&mut self, name: &str) -> Result<()> {
        let removed = self.txn.open_table(USERS)?.remove(name)?.is_some();
        model::must_exist(Thing::User, name, removed.then_some(()))?;
        self.record("user.remove", name.to_string())
    }

    /// All users, by name.
    pub fn users(&self) -> Result<Vec<User>> {
        decode_all(self.txn.open_table(USERS)?.iter()?)
    }
}
