//! `bouncer mail …`: the SMTP settings sentry mails operators with, and a
//! test message.

use std::fmt::Write as _;

use super::ACTOR;
use crate::cli::{MailAction, MailShow};
use crate::error::{Error, Result};
use crate::network::Network;

/// `bouncer mail set|show|test`.
pub(super) fn mail(net: &Network, action: &MailAction) -> Result<String> {
    match action {
        MailAction::Set(a) => {
            if let Some(t) = &a.tls
                && crate::mail::TlsMode::parse(t).is_none()
            {
                return Err(Error::invalid(
                    "tls",
                    format!("{t:?}: use none, starttls or tls"),
                ));
            }
            for address in a.to.iter().chain(&a.from) {
                if address.parse::<lettre::message::Mailbox>().is_err() {
                    return Err(Error::invalid(
                        "mail address",
                        format!("{address:?} is not an e-mail address"),
                    ));
                }
            }
            net.write(&ACTOR, |tx| {
                let mut put = |k: &str, v: Option<String>| -> Result<()> {
                    match v {
                        Some(v) if v.is_empty() => tx.setting_put(k, None),
                        Some(v) => tx.setting_put(k, Some(&v)),
                        None => Ok(()),
                    }
                };
                put("mail.host", a.host.clone())?;
                put("mail.port", a.port.map(|p| p.to_string()))?;
                put("mail.tls", a.tls.clone())?;
                put("mail.user", a.user.clone())?;
                put("mail.from", a.from.clone())?;
                put("mail.to", (!a.to.is_empty()).then(|| a.to.join(",")))?;
                put("mail.contacts", a.contacts.map(|c| c.to_string()))?;
                tx.record("mail.set", "mail settings changed".into())
            })?;
            mail(net, &MailAction::Show(MailShow {}))
        }
        MailAction::Show(_) => {
            let settings = net.store().settings()?;
            let mut out = String::new();
            for k in crate::mail::KEYS {
                let _ = writeln!(out, "{k} = {}", settings.get(*k).map_or("", String::as_str));
            }
            let _ = writeln!(
                out,
                "password: {}",
                if std::env::var_os("BOUNCER_SMTP_PASSWORD").is_some() {
                    "from BOUNCER_SMTP_PASSWORD"
                } else {
                    "none (set BOUNCER_SMTP_PASSWORD where bouncer runs)"
                }
            );
            if crate::mail::MailConfig::from_settings(&settings)?.is_none() {
                out.push_str("mail is off: set mail.host and mail.to to turn it on\n");
            }
            Ok(out)
        }
        MailAction::Test(a) => {
            let config = crate::mail::MailConfig::from_settings(&net.store().settings()?)?
                .ok_or_else(|| {
                    Error::invalid(
                        "mail",
                        "not set up: `bouncer mail set --host SMTP-HOST --to YOU@EXAMPLE.ORG`"
                            .into(),
                    )
                })?;
            let to = a.to.clone().map_or_else(|| config.to.clone(), |t| vec![t]);
            config.send(
                &to,
                "[bouncer] test message",
                "This is a test message from Bouncer. Mail works.\n",
            )?;
            Ok(format!("sent a test message to {}\n", to.join(", ")))
        }
    }
}
