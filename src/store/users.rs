//! Admin accounts.

use super::tables::*;
use super::{Store, Tx};
use crate::error::Result;
use crate::error::Thing;
use crate::model::{self, *};

impl Store {
    /// All users, by name.
    pub fn users(&self) -> Result<Vec<User>> {
        self.read()?.values(&USERS)
    }

    /// The user with this name: what a login or session check reads.
    pub fn user(&self, name: &str) -> Result<Option<User>> {
        self.read()?.get(&USERS, &name.to_string())
    }
}

impl Tx {
    /// The user with this name.
    pub fn user(&self, name: &str) -> Result<Option<User>> {
        self.txn.get(&USERS, &name.to_string())
    }

    /// Adds a user or replaces their hash and role.
    pub fn user_put(&mut self, user: &User, action: &str) -> Result<()> {
        model::user_name(&user.name, self.user(&user.name)?.is_some())?;
        self.txn.put(&USERS, &user.name, user)?;
        self.record(action, format!("{} role={}", user.name, user.role.as_str()))
    }

    /// Removes a user.
    pub fn user_remove(&mut self, name: &str) -> Result<()> {
        let removed = self.txn.delete(&USERS, &name.to_string())?;
        model::must_exist(Thing::User, name, removed.then_some(()))?;
        self.record("user.remove", name.to_string())
    }

    /// All users, by name.
    pub fn users(&self) -> Result<Vec<User>> {
        self.txn.values(&USERS)
    }
}
