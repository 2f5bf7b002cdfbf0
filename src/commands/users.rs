//! `bouncer user …`: the accounts of the admin pages and the API.

use super::{ACTOR, table};
use crate::auth::hash_password;
use crate::cli::UserAction;
use crate::error::Thing;
use crate::error::{Error, Result};
use crate::model::{Role, User, now};
use crate::network::Network;

/// `bouncer user add|passwd|list|remove`; `input` is the password for
/// `add` and `passwd`.
pub(super) fn user(net: &Network, action: &UserAction, input: Option<&str>) -> Result<String> {
    let password = || -> Result<String> {
        let p = input.unwrap_or("");
        if p.is_empty() {
            return Err(Error::invalid(
                "password",
                "none given: type it at the prompt, or pipe it in (echo … | bouncer user …)".into(),
            ));
        }
        if p.chars().count() < 8 {
            return Err(Error::invalid(
                "password",
                "shorter than 8 characters; choose a longer one".into(),
            ));
        }
        hash_password(p)
    };
    match action {
        UserAction::Add(a) => {
            let role = Role::parse(&a.role).ok_or_else(|| {
                Error::invalid(
                    "role",
                    format!("{:?}: use admin, release or viewer", a.role),
                )
            })?;
            let name = crate::validate::name("user", &a.name)?;
            let password_hash = password()?;
            net.write(&ACTOR, |tx| {
                if tx.user(&name)?.is_some() {
                    return Err(Error::exists(Thing::User, &name));
                }
                tx.user_put(
                    &User {
                        name: name.clone(),
                        password_hash,
                        role,
                        created_at: now(),
                    },
                    "user.add",
                )
            })?;
            Ok(format!("added user {name} ({})\n", role.as_str()))
        }
        UserAction::Passwd(a) => {
            let password_hash = password()?;
            net.write(&ACTOR, |tx| {
                let mut user = tx
                    .user(&a.name)?
                    .ok_or_else(|| Error::not_found(Thing::User, &a.name))?;
                user.password_hash = password_hash;
                tx.user_put(&user, "user.passwd")
            })?;
            Ok(format!("changed the password of {}\n", a.name))
        }
        UserAction::List(_) => {
            let rows = net
                .store()
                .users()?
                .into_iter()
                .map(|u| vec![u.name, u.role.as_str().to_string()])
                .collect();
            Ok(table(&["NAME", "ROLE"], rows))
        }
        UserAction::Remove(a) => {
            net.write(&ACTOR, |tx| tx.user_remove(&a.name))?;
            Ok(format!("removed user {}\n", a.name))
        }
    }
}
