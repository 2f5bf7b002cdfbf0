//! The audit log: appending entries and reading them back, filtered.

use std::ops::Bound;

use super::backend::{Order, Span};
use super::tables::*;
use super::{Store, Tx};
use crate::error::Result;
use crate::model::*;

/// Which audit events [`Store::events_matching`] returns: every field that
/// is set must match. The default matches every event.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EventFilter {
    /// Case-insensitive prefix of the actor: `admin:` matches every admin
    /// user, `admin:alice` one of them.
    pub actor: Option<String>,
    /// Case-insensitive prefix of the action: `mirror.` matches every
    /// mirror change.
    pub action: Option<String>,
    /// Case-insensitive substring of the detail.
    pub text: Option<String>,
    /// Only events with an id below this one (the next page after an event
    /// with this id).
    pub before: Option<u64>,
}

impl EventFilter {
    /// Whether `event` passes the filter.
    pub fn matches(&self, event: &Event) -> bool {
        self.matcher().matches(event)
    }

    fn matcher(&self) -> EventMatcher {
        let lower = |s: &Option<String>| s.as_deref().map(str::to_lowercase);
        EventMatcher {
            actor: lower(&self.actor),
            action: lower(&self.action),
            text: lower(&self.text),
            before: self.before,
        }
    }
}

/// An [`EventFilter`] with its strings lower-cased once.
struct EventMatcher {
    actor: Option<String>,
    action: Option<String>,
    text: Option<String>,
    before: Option<u64>,
}

impl EventMatcher {
    fn matches(&self, e: &Event) -> bool {
        self.before.is_none_or(|b| e.id < b)
            && self
                .actor
                .as_deref()
                .is_none_or(|p| e.actor.to_lowercase().starts_with(p))
            && self
                .action
                .as_deref()
                .is_none_or(|p| e.action.to_lowercase().starts_with(p))
            && self
                .text
                .as_deref()
                .is_none_or(|t| e.detail.to_lowercase().contains(t))
    }
}

impl Store {
    /// The newest `limit` audit events, newest first.
    pub fn events(&self, limit: usize) -> Result<Vec<Event>> {
        let mut out = Vec::new();
        self.read()?
            .scan(&EVENTS, Span::all(), Order::Down, Some(limit), |_, e| {
                out.push(e);
                Ok(true)
            })?;
        Ok(out)
    }

    /// The newest `limit` audit events that pass `filter`, newest first.
    pub fn events_matching(&self, filter: &EventFilter, limit: usize) -> Result<Vec<Event>> {
        let matcher = filter.matcher();
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let end = filter.before.map_or(Bound::Unbounded, Bound::Excluded);
        let span = Span::of((Bound::Unbounded, end));
        self.read()?
            .scan(&EVENTS, span, Order::Down, None, |_, event: Event| {
                if matcher.matches(&event) {
                    out.push(event);
                }
                Ok(out.len() < limit)
            })?;
        Ok(out)
    }
}

impl Tx {
    /// Appends an entry to the audit log.
    pub fn record(&mut self, action: &str, detail: String) -> Result<()> {
        let id = self.next_id("next_event")?;
        let event = Event {
            id,
            at: self.now,
            actor: self.actor.to_string(),
            action: action.to_string(),
            detail,
        };
        self.txn.put(&EVENTS, &id, &event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::stores;

    #[test]
    fn events_filtered_and_paged() {
        for (_db, store) in stores() {
            for (actor, action, detail) in [
                ("cli", "product.add", "firefox-1.0 languages=[de]"),
                ("admin:alice", "mirror.add", "m1 http://M1.example"),
                ("admin:bob", "mirror.update", "m1: rating 1 -> 2"),
                ("Admin:Alice", "region.add", "europe countries=[DE]"),
                ("sentry", "mirror.down", "m1 timed out"),
                ("administrator", "user.add", "carol role=viewer"),
                ("admin:alice", "mirror.remove", "m2 https://m2.example"),
            ] {
                store
                    .write(&Actor::Program(actor), |tx| {
                        tx.record(action, detail.to_string())
                    })
                    .unwrap();
            }
            let ids = |filter: &EventFilter, limit: usize| -> Vec<u64> {
                store
                    .events_matching(filter, limit)
                    .unwrap()
                    .into_iter()
                    .map(|e| e.id)
                    .collect()
            };
            let filter =
                |actor: Option<&str>, action: Option<&str>, text: Option<&str>| EventFilter {
                    actor: actor.map(String::from),
                    action: action.map(String::from),
                    text: text.map(String::from),
                    before: None,
                };

            assert_eq!(ids(&EventFilter::default(), 100), [7, 6, 5, 4, 3, 2, 1]);
            assert_eq!(
                store.events_matching(&EventFilter::default(), 3).unwrap(),
                store.events(3).unwrap()
            );
            assert!(ids(&EventFilter::default(), 0).is_empty());
            assert_eq!(ids(&filter(Some("ADMIN:"), None, None), 100), [7, 4, 3, 2]);
            assert_eq!(
                ids(&filter(Some("admin:alice"), None, None), 100),
                [7, 4, 2]
            );
            assert_eq!(ids(&filter(None, Some("Mirror."), None), 100), [7, 5, 3, 2]);
            assert_eq!(ids(&filter(None, Some("mirror.add"), None), 100), [2]);
            assert_eq!(ids(&filter(None, None, Some("EXAMPLE")), 100), [7, 2]);
            assert_eq!(ids(&filter(None, None, Some("m1")), 100), [5, 3, 2]);
            assert_eq!(
                ids(&filter(Some("admin:"), Some("mirror."), Some("m1")), 100),
                [3, 2]
            );
            assert!(ids(&filter(Some("nobody"), None, None), 100).is_empty());
            // A prefix, not a substring.
            assert!(ids(&filter(Some("alice"), None, None), 100).is_empty());
            assert!(ids(&filter(None, Some("add"), None), 100).is_empty());

            // Paging: each page starts below the last id of the one before.
            let mut f = filter(None, Some("mirror."), None);
            let mut pages = Vec::new();
            loop {
                let page = ids(&f, 3);
                if page.is_empty() {
                    break;
                }
                f.before = page.last().copied();
                pages.push(page);
            }
            assert_eq!(pages, [vec![7, 5, 3], vec![2]]);
            let page = EventFilter {
                before: Some(4),
                ..Default::default()
            };
            assert_eq!(ids(&page, 2), [3, 2]);
            assert!(page.matches(&store.events(100).unwrap()[6]));
            assert!(!page.matches(&store.events(100).unwrap()[0]));
            assert!(
                ids(
                    &EventFilter {
                        before: Some(1),
                        ..Default::default()
                    },
                    10
                )
                .is_empty()
            );
        }
    }
}
