//! Lists that scale: search, sort, a state filter and paging, done on the
//! server. A list page reads what it needs, keeps the rows that match,
//! sorts them and renders only the page asked for; the query string holds
//! the whole view, so every view is a link.
//!
//! Query fields: `q` (text, case-insensitive, anywhere in the row's
//! searchable texts), `state` (one of the page's states), `sort` (a
//! column key; `-key` for descending), `page` (from 1), `per` (rows per
//! page, bounded by [`MAX_PER`]).

use std::cmp::Ordering;

use maud::{Markup, html};

use super::Form;
use super::page::query;

/// Rows per page unless `per` says otherwise.
pub const PER: usize = 50;
/// The most rows a page shows, whatever `per` asks.
pub const MAX_PER: usize = 500;

/// One view of a list: what the query string asked for, bounded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    /// Text to look for (trimmed; empty: everything).
    pub q: String,
    /// The state filter (empty: every state).
    pub state: String,
    /// The column to sort by (a key the page knows; empty: its default).
    pub sort: String,
    /// Sort in descending order.
    pub desc: bool,
    /// The page, from 1.
    pub page: usize,
    /// Rows per page, 1 to [`MAX_PER`].
    pub per: usize,
    /// A page's own filters (`region=europe`), kept in every link the
    /// view makes (see [`Listing::keep`]).
    pub filters: Vec<(String, String)>,
}

/// A select of one of a page's own filters in its search form
/// ([`Listing::search_with`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Select<'a> {
    /// The query field (`region`), the name the view keeps it under.
    pub name: &'a str,
    /// Its label ("Region").
    pub label: &'a str,
    /// The choices, as (value, label); "any" (empty) comes first.
    pub options: Vec<(&'a str, &'a str)>,
}

/// Which rows a page shows out of how many.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Rows that match the search and filter.
    pub total: usize,
    /// Index of the first row shown.
    pub first: usize,
    /// Rows shown.
    pub shown: usize,
    /// The page shown (the one asked for, moved back to the last page
    /// when it was past the end).
    pub page: usize,
    /// The number of pages (at least 1).
    pub pages: usize,
}

impl Listing {
    /// The view `form` asks for; `sort` is the page's default column
    /// (`-key` for descending) and `states` the state filters it offers
    /// (an unknown state means every state).
    pub fn from_form(form: &Form, sort: &str, states: &[(&str, &str)]) -> Listing {
        let asked = form.get("sort");
        let asked = if asked.trim_start_matches('-').is_empty() {
            sort
        } else {
            asked
        };
        let state = form.get("state");
        let state = if states.iter().any(|(k, _)| *k == state) {
            state
        } else {
            ""
        };
        let number = |name: &str, default: usize| {
            form.get(name)
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .unwrap_or(default)
        };
        Listing {
            q: form.get("q").trim().chars().take(200).collect(),
            state: state.to_string(),
            sort: asked.trim_start_matches('-').to_string(),
            desc: asked.starts_with('-'),
            page: number("page", 1),
            per: number("per", PER).min(MAX_PER),
            filters: Vec::new(),
        }
    }

    /// This view with the page's own filter `name` set to `value` (left
    /// out when empty): its links keep it.
    pub fn keep(mut self, name: &str, value: &str) -> Listing {
        if !value.is_empty() {
            self.filters.push((name.to_string(), value.to_string()));
        }
        self
    }

    /// Whether any of `texts` contains the search text (ignoring case);
    /// true when there is no search text.
    pub fn matches<'a>(&self, texts: impl IntoIterator<Item = &'a str>) -> bool {
        if self.q.is_empty() {
            return true;
        }
        let q = self.q.to_lowercase();
        texts.into_iter().any(|t| t.to_lowercase().contains(&q))
    }

    /// `ordering` turned round when the view sorts descending.
    pub fn order(&self, ordering: Ordering) -> Ordering {
        if self.desc {
            ordering.reverse()
        } else {
            ordering
        }
    }

    /// The rows of this view's page out of `rows` (already searched,
    /// filtered and sorted), and where they are in the whole.
    pub fn window<T>(&self, mut rows: Vec<T>) -> (Vec<T>, Window) {
        let total = rows.len();
        let pages = total.div_ceil(self.per).max(1);
        let page = self.page.min(pages);
        let first = ((page - 1) * self.per).min(total);
        rows.truncate((first + self.per).min(total));
        let shown = rows.drain(first..).collect::<Vec<_>>();
        let window = Window {
            total,
            first,
            shown: shown.len(),
            page,
            pages,
        };
        (shown, window)
    }

    /// Where this view's page lies in `total` rows, without the rows: for
    /// a list the store pages itself (count first, then read the window's
    /// `first..first + shown`). Past the end is the last page.
    pub fn window_of(&self, total: usize) -> Window {
        let pages = total.div_ceil(self.per).max(1);
        let page = self.page.min(pages);
        let first = ((page - 1) * self.per).min(total);
        Window {
            total,
            first,
            shown: (total - first).min(self.per),
            page,
            pages,
        }
    }

    /// Whether the view narrows the list (a search or a state filter).
    pub fn narrowed(&self) -> bool {
        !self.q.is_empty() || !self.state.is_empty() || !self.filters.is_empty()
    }

    /// The link to `base` with this view, changed by `change` (pairs that
    /// replace this view's; an empty value drops the field). Page 1, the
    /// default page size and an empty sort are left out.
    pub fn href(&self, base: &str, change: &[(&str, &str)]) -> String {
        let sort = format!("{}{}", if self.desc { "-" } else { "" }, self.sort);
        let page = self.page.to_string();
        let per = self.per.to_string();
        let mut pairs: Vec<(&str, &str)> = vec![
            ("q", &self.q),
            ("state", &self.state),
            ("sort", &sort),
            ("page", if self.page > 1 { &page } else { "" }),
            ("per", if self.per != PER { &per } else { "" }),
        ];
        for (k, v) in &self.filters {
            pairs.push((k, v));
        }
        for (k, v) in change {
            match pairs.iter_mut().find(|(key, _)| key == k) {
                Some(pair) => pair.1 = v,
                None => pairs.push((k, v)),
            }
        }
        format!("{base}{}", query(&pairs))
    }

    /// A column heading that sorts by `key` (ascending first, then the
    /// other way), marked when it is the current sort; `num` right-aligns.
    pub fn heading(&self, base: &str, key: &str, label: &str, num: bool) -> Markup {
        self.heading_titled(base, key, label, num, None)
    }

    /// [`Listing::heading`] with a `title` saying what the column's figure
    /// is (shown on hover), when there is one.
    pub fn heading_titled(
        &self,
        base: &str,
        key: &str,
        label: &str,
        num: bool,
        title: Option<&str>,
    ) -> Markup {
        let current = self.sort == key;
        let next = if current && !self.desc {
            format!("-{key}")
        } else {
            key.to_string()
        };
        let sort = match (current, self.desc) {
            (false, _) => None,
            (true, false) => Some("ascending"),
            (true, true) => Some("descending"),
        };
        html! {
            th.num[num] aria-sort=[sort] title=[title] {
                a.sort href=(self.href(base, &[("sort", &next), ("page", "")])) {
                    (label)
                    @if let Some(s) = sort { span aria-hidden="true" { @if s == "ascending" { " ▲" } @else { " ▼" } } }
                }
            }
        }
    }

    /// The search box and state filter, a GET form to `base` keeping the
    /// sort and page size. `what` names the rows ("mirrors").
    pub fn search(&self, base: &str, what: &str, states: &[(&str, &str)]) -> Markup {
        self.search_with(base, what, states, &[])
    }

    /// [`Listing::search`] with a select for each of `selects`, the page's
    /// own filters (`region`): each shows the value this view keeps under
    /// its name (see [`Listing::keep`]); the kept filters without a select
    /// go with the search as they are. "Clear" drops the selects' filters
    /// with the search and state, keeping the sort and page size.
    pub fn search_with(
        &self,
        base: &str,
        what: &str,
        states: &[(&str, &str)],
        selects: &[Select<'_>],
    ) -> Markup {
        let sort = format!("{}{}", if self.desc { "-" } else { "" }, self.sort);
        let kept = |name: &str| {
            self.filters
                .iter()
                .find(|(k, _)| k == name)
                .map_or("", |(_, v)| v.as_str())
        };
        let mut clear: Vec<(&str, &str)> = vec![("q", ""), ("state", ""), ("page", "")];
        clear.extend(selects.iter().map(|s| (s.name, "")));
        html! {
            form.search method="get" action=(base) role="search" {
                label.field {
                    span { "Search " (what) }
                    input type="search" name="q" value=(self.q) maxlength="200";
                }
                @if !states.is_empty() {
                    label.field {
                        span { "State" }
                        select name="state" data-autosubmit {
                            option value="" selected[self.state.is_empty()] { "any" }
                            @for (key, label) in states {
                                option value=(key) selected[self.state == *key] { (label) }
                            }
                        }
                    }
                }
                @for select in selects {
                    label.field {
                        span { (select.label) }
                        select name=(select.name) data-autosubmit {
                            option value="" selected[kept(select.name).is_empty()] { "any" }
                            @for (value, label) in &select.options {
                                option value=(value) selected[kept(select.name) == *value] { (label) }
                            }
                        }
                    }
                }
                input type="hidden" name="sort" value=(sort);
                @if self.per != PER { input type="hidden" name="per" value=(self.per); }
                // The view's other filters go with the search unchanged.
                @for (name, value) in &self.filters {
                    @if !selects.iter().any(|s| s.name == name) {
                        input type="hidden" name=(name) value=(value);
                    }
                }
                button type="submit" { "Show" }
                @if self.narrowed() { a href=(self.href(base, &clear)) { "Clear" } }
            }
        }
    }

    /// "51–100 of 156" with links to the first, previous, next and last
    /// pages and the page sizes.
    pub fn pager(&self, base: &str, w: &Window, what: &str) -> Markup {
        let link = |page: usize| self.href(base, &[("page", &page.to_string())]);
        html! {
            nav.pager aria-label={ "Pages of " (what) } {
                span {
                    @if w.total == 0 { "no " (what) }
                    @else { (w.first + 1) "–" (w.first + w.shown) " of " (w.total) " " (what) }
                }
                @if w.page > 1 {
                    a href=(link(1)) { "First" }
                    a href=(link(w.page - 1)) rel="prev" { "Previous" }
                }
                @if w.pages > 1 { span.muted { "page " (w.page) " of " (w.pages) } }
                @if w.page < w.pages {
                    a href=(link(w.page + 1)) rel="next" { "Next" }
                    a href=(link(w.pages)) { "Last" }
                }
                @if w.total > PER {
                    span.muted { "per page:" }
                    @for per in [PER, 200, MAX_PER] {
                        @if per == self.per { strong { (per) } }
                        @else { a href=(self.href(base, &[("per", &per.to_string()), ("page", "")])) { (per) } }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATES: &[(&str, &str)] = &[("up", "up"), ("down", "down")];

    fn listing(query: &str) -> Listing {
        Listing::from_form(&Form::from_query(query), "name", STATES)
    }

    #[test]
    fn the_query_is_read_and_bounded() {
        let l = listing("q=+Fast+&state=down&sort=-rating&page=3&per=100000");
        assert_eq!(l.q, "Fast");
        assert_eq!(l.state, "down");
        assert_eq!((l.sort.as_str(), l.desc), ("rating", true));
        assert_eq!((l.page, l.per), (3, MAX_PER));
        let l = listing("state=bogus&page=0&per=x&sort=-");
        assert_eq!(l.state, "", "an unknown state is every state");
        assert_eq!(
            (l.page, l.per, l.sort.as_str(), l.desc),
            (1, PER, "name", false)
        );
    }

    #[test]
    fn a_window_shows_one_page_and_clamps_past_the_end() {
        let l = listing("per=10&page=2");
        let (rows, w) = l.window((0..25).collect());
        assert_eq!(rows, (10..20).collect::<Vec<_>>());
        assert_eq!(
            (w.total, w.first, w.shown, w.page, w.pages),
            (25, 10, 10, 2, 3)
        );
        let (rows, w) = listing("per=10&page=9").window((0..25).collect::<Vec<_>>());
        assert_eq!(
            rows,
            (20..25).collect::<Vec<_>>(),
            "past the end: the last page"
        );
        assert_eq!(w.page, 3);
        let (rows, w) = listing("").window(Vec::<u8>::new());
        assert!(rows.is_empty());
        assert_eq!((w.total, w.pages, w.page), (0, 1, 1));
    }

    #[test]
    fn search_ignores_case() {
        let l = listing("q=EU");
        assert!(l.matches(["mirror.eu.example"]));
        assert!(!l.matches(["asia", "us"]));
        assert!(listing("").matches(["anything"]));
    }

    #[test]
    fn links_keep_the_view_and_sorting_turns_round() {
        let l = listing("q=a b&state=up&sort=rating&page=2");
        assert_eq!(
            l.href("/admin/mirrors", &[("page", "3")]),
            "/admin/mirrors?q=a%20b&state=up&sort=rating&page=3"
        );
        let h = l
            .heading("/admin/mirrors", "rating", "Rating", true)
            .into_string();
        assert!(h.contains("sort=-rating"), "{h}");
        assert!(h.contains(r#"aria-sort="ascending""#), "{h}");
        assert!(!h.contains("page="), "sorting starts again at page 1: {h}");
        let h = l
            .heading("/admin/mirrors", "name", "Name", false)
            .into_string();
        assert!(h.contains("sort=name") && !h.contains("aria-sort"), "{h}");
    }

    #[test]
    fn a_heading_may_say_what_its_figure_is() {
        let l = listing("sort=serves");
        let h = l
            .heading_titled("/m", "serves", "Serves", true, Some("what it is"))
            .into_string();
        assert!(h.contains(r#"title="what it is""#), "{h}");
        assert!(h.contains("sort=-serves"), "{h}");
        let plain = l.heading("/m", "serves", "Serves", true).into_string();
        assert!(!plain.contains("title="), "{plain}");
    }

    #[test]
    fn a_search_with_the_pages_own_filters_clears_them_and_keeps_the_sort() {
        let l = listing("q=x&state=up&sort=-rating&per=200").keep("region", "europe");
        let select = Select {
            name: "region",
            label: "Region",
            options: vec![("asia", "asia"), ("europe", "europe")],
        };
        let f = l
            .search_with("/m", "mirrors", STATES, &[select])
            .into_string();
        assert!(
            f.contains(r#"<select name="region" data-autosubmit>"#),
            "{f}"
        );
        assert!(
            f.contains(r#"<option value="europe" selected>europe</option>"#),
            "{f}"
        );
        assert!(
            f.contains(r#"<a href="/m?sort=-rating&amp;per=200">Clear</a>"#),
            "Clear drops the search, state and region, not the sort: {f}"
        );
        assert_eq!(
            l.search("/m", "mirrors", STATES).into_string(),
            l.search_with("/m", "mirrors", STATES, &[]).into_string()
        );
    }

    #[test]
    fn a_search_keeps_the_filters_it_has_no_select_for() {
        let l = listing("q=x").keep("off", "1").keep("region", "europe");
        let select = Select {
            name: "region",
            label: "Region",
            options: vec![("europe", "europe")],
        };
        let f = l
            .search_with("/m", "mirrors", STATES, &[select])
            .into_string();
        assert!(
            f.contains(r#"<input type="hidden" name="off" value="1">"#),
            "{f}"
        );
        assert!(
            !f.contains(r#"type="hidden" name="region""#),
            "a filter with a select is sent by it, not twice: {f}"
        );
    }

    #[test]
    fn a_window_of_a_count_never_overflows() {
        let l = listing(&format!("per=10&page={}", usize::MAX));
        let w = l.window_of(25);
        assert_eq!((w.first, w.shown, w.page, w.pages), (20, 5, 3, 3));
        let w = listing("per=10&page=2").window_of(25);
        assert_eq!((w.first, w.shown, w.page), (10, 10, 2));
        let w = listing("").window_of(0);
        assert_eq!((w.first, w.shown, w.page, w.pages), (0, 0, 1, 1));
    }

    #[test]
    fn the_pager_links_only_pages_that_exist() {
        let l = listing("per=10&page=2");
        let (_, w) = l.window((0..25).collect::<Vec<_>>());
        let p = l.pager("/admin/mirrors", &w, "mirrors").into_string();
        assert!(p.contains("11–20 of 25 mirrors"), "{p}");
        assert!(p.contains("page=1") && p.contains("page=3"), "{p}");
        let (_, w) = l.window((0..5).collect::<Vec<_>>());
        let p = l.pager("/admin/mirrors", &w, "mirrors").into_string();
        assert!(!p.contains("Next") && !p.contains("Previous"), "{p}");
    }
}
