//! `bouncer settings …`: the settings operators may change, checked
//! before they are stored.

use super::{ACTOR, table};
use crate::cli::SettingsAction;
use crate::error::{Error, Result};
use crate::network::Network;

/// Settings operators may change, with what each accepts.
const SETTINGS: &[(&str, &str)] = &[
    ("mail.host", "SMTP host name"),
    ("mail.port", "SMTP port"),
    ("mail.tls", "none, starttls or tls"),
    ("mail.user", "SMTP login"),
    ("mail.from", "sender address"),
    ("mail.to", "operator addresses, comma-separated"),
    ("mail.contacts", "true or false: mail mirror contacts too"),
    (
        crate::index::DAMP_SLOW,
        "true or false: damp mirrors much slower than the others",
    ),
    (
        crate::index::LINK_HEADERS,
        "true or false: redirects name other mirrors in Link headers (RFC 6249)",
    ),
    (
        crate::index::STICKY,
        "true or false: one client gets one mirror for one file (default true; false: a random mirror each time)",
    ),
    (
        crate::index::CDN_NEW_MINUTES,
        "minutes a file counts as new after its location is added: new files go to CDNs until enough mirrors have them (default 60)",
    ),
    (
        crate::index::CDN_ENOUGH_PERCENT,
        "percent of the mirrors' rating that must have a new file before it leaves the CDNs (default 50)",
    ),
    (
        crate::index::ORIGIN_TRACE,
        "URL of the origin's trace file: mirrors' lag is measured against it (default: the freshest mirror)",
    ),
];

/// `bouncer settings list|set|unset`.
pub(super) fn settings(net: &Network, action: &SettingsAction) -> Result<String> {
    let known = |key: &str| -> Result<()> {
        if SETTINGS.iter().any(|(k, _)| *k == key) {
            Ok(())
        } else {
            let keys: Vec<&str> = SETTINGS.iter().map(|(k, _)| *k).collect();
            Err(Error::invalid(
                "setting",
                format!("{key:?} is not a setting; known: {}", keys.join(", ")),
            ))
        }
    };
    match action {
        SettingsAction::List(_) => {
            let values = net.store().settings()?;
            let rows = SETTINGS
                .iter()
                .map(|(k, what)| {
                    vec![
                        k.to_string(),
                        values.get(*k).cloned().unwrap_or_default(),
                        what.to_string(),
                    ]
                })
                .collect();
            Ok(table(&["SETTING", "VALUE", "MEANING"], rows))
        }
        SettingsAction::Set(a) => {
            known(&a.key)?;
            let value = a.value.trim();
            let boolean = a.key == crate::index::DAMP_SLOW
                || a.key == crate::index::LINK_HEADERS
                || a.key == crate::index::STICKY
                || a.key == "mail.contacts";
            if boolean && value != "true" && value != "false" {
                return Err(Error::invalid(
                    "setting",
                    format!("{} takes true or false", a.key),
                ));
            }
            if a.key == "mail.tls" && crate::mail::TlsMode::parse(value).is_none() {
                return Err(Error::invalid(
                    "mail.tls",
                    format!("{value:?}: use none, starttls or tls"),
                ));
            }
            let number = |max: u64| value.parse::<u64>().is_ok_and(|n| n <= max);
            if a.key == crate::index::CDN_NEW_MINUTES && !number(10_080) {
                return Err(Error::invalid(
                    "setting",
                    format!("{} takes whole minutes from 0 to 10080", a.key),
                ));
            }
            if a.key == crate::index::CDN_ENOUGH_PERCENT && !number(100) {
                return Err(Error::invalid(
                    "setting",
                    format!("{} takes a whole percentage from 0 to 100", a.key),
                ));
            }
            if a.key == crate::index::ORIGIN_TRACE {
                crate::validate::base_url(value)?;
            }
            if a.key == "mail.port" && value.parse::<u16>().is_err() {
                return Err(Error::invalid(
                    "mail.port",
                    format!("{value:?} is not a port"),
                ));
            }
            net.write(&ACTOR, |tx| {
                tx.setting_put(&a.key, Some(value))?;
                tx.record("settings.set", format!("{} = {value}", a.key))
            })?;
            Ok(format!("{} = {value}\n", a.key))
        }
        SettingsAction::Unset(a) => {
            known(&a.key)?;
            net.write(&ACTOR, |tx| {
                tx.setting_put(&a.key, None)?;
                tx.record("settings.unset", a.key.clone())
            })?;
            Ok(format!("{} unset\n", a.key))
        }
    }
}
