//! How changes read in the audit log.

use crate::model::audience::join;
use crate::model::*;

/// A region's settings for the audit log.
pub(super) fn describe_region(r: &Region) -> String {
    format!(
        "{} throttle={} fallback={} global_fallback={} countries=[{}]",
        r.name,
        r.throttle,
        r.fallback.as_deref().unwrap_or("-"),
        r.global_fallback,
        r.countries.join(",")
    )
}

/// The fields of a row an operator changes, for the audit log.
pub(super) trait AuditFields {
    fn audit_fields(&self) -> Vec<(&'static str, String)>;
}

impl AuditFields for Product {
    fn audit_fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("active", self.active.to_string()),
            ("public", self.public.to_string()),
            ("ssl_only", self.ssl_only.to_string()),
            ("checknow", self.checknow.to_string()),
            ("priority", self.priority.to_string()),
            ("languages", self.languages.join(",")),
            (
                "max_lag_minutes",
                self.max_lag_minutes
                    .map(|m| m.to_string())
                    .unwrap_or_default(),
            ),
        ]
    }
}

impl AuditFields for Mirror {
    fn audit_fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("base_url", self.base_url.clone()),
            ("rating", self.rating.to_string()),
            ("active", self.active.to_string()),
            ("regions", self.regions.join(",")),
            ("contact", self.contact.clone()),
            ("families", self.families.as_str().to_string()),
            ("alt_url", self.alt_url.clone().unwrap_or_default()),
            ("trace", self.trace.clone().unwrap_or_default()),
            ("kind", self.kind.as_str().to_string()),
            (
                "maintenance",
                self.maintenance.map(|w| w.describe()).unwrap_or_default(),
            ),
            ("only_countries", join(&self.audience.only)),
            ("never_countries", join(&self.audience.never)),
            ("networks", join(&self.audience.networks)),
            (
                "max_share",
                self.audience
                    .max_share
                    .map(|s| format!("{s}%"))
                    .unwrap_or_default(),
            ),
        ]
    }
}

impl AuditFields for Region {
    fn audit_fields(&self) -> Vec<(&'static str, String)> {
        vec![
            ("throttle", self.throttle.to_string()),
            ("fallback", self.fallback.clone().unwrap_or_default()),
            ("global_fallback", self.global_fallback.to_string()),
            ("countries", self.countries.join(",")),
        ]
    }
}

/// "name: field old -> new, …" for the audit log: only what changed.
pub(super) fn describe_change<T: AuditFields>(name: &str, old: &T, new: &T) -> String {
    let changed: Vec<String> = old
        .audit_fields()
        .into_iter()
        .zip(new.audit_fields())
        .filter(|((_, a), (_, b))| a != b)
        .map(|((field, a), (_, b))| {
            let show = |v: String| {
                if v.is_empty() {
                    "(none)".to_string()
                } else {
                    v
                }
            };
            format!("{field} {} -> {}", show(a), show(b))
        })
        .collect();
    if changed.is_empty() {
        format!("{name}: no change")
    } else {
        format!("{name}: {}", changed.join(", "))
    }
}
