//! Public page `/mirrors`: the active mirrors with their status, the
//! regions they serve and their share of the downloads of the last 30 days.
//!
//! Only active mirrors are listed (an operator's switched-off mirror is no
//! business of the public). Mirrors with rating 0 are listed but marked
//! "standby": they are part of the network and get no downloads now.
//!
//! Status is the mirror's [`MirrorState`], the one the admin pages show
//! (the same rule, [`MirrorState::of`]), worded for the public:
//! - never checked → "not yet checked";
//! - answering and serving → "up" ("up, unsteady" while it changes state
//!   often and gets fewer downloads);
//! - answering, but receiving downloads for none of our files →
//!   "up, without our files" (a warning, not green);
//! - not answering properly → "down" with the time it went down and a
//!   short class of reason ("not answering", "secure connection fails",
//!   "server errors", "broken answers"). Sentry's error text itself is
//!   never shown: it names paths, addresses and proxies of the checker's
//!   network, which the public has no use for and should not learn;
//! - rating 0 → "standby".
//!
//! Shares are the mirror's downloads over the downloads of all listed
//! mirrors in the last 30 UTC days, so the column sums to 100 %. The page
//! reads counts, so it is rendered at most once a minute.

use std::collections::HashMap;

use hyper::StatusCode;
use maud::{Markup, html};

use super::{PageResult, Public, Request, html as html_reply, page};
use crate::chart::thousands;
use crate::model::{Mirror, MirrorHealth, MirrorId, MirrorState, Problem};

/// Days of traffic the share column covers (today included).
pub const SHARE_DAYS: u32 = 30;

/// Answers `GET /mirrors`.
pub fn page(public: &Public, _req: &Request<'_>) -> PageResult {
    public.rendered("/mirrors", || render(public))
}

/// Answers `GET /mirrors.json` (SPEC §13): the active mirrors and the
/// regions, for tools. Stable: fields are only ever added (`version`).
pub fn json(public: &Public, _req: &Request<'_>) -> PageResult {
    public.rendered("/mirrors.json", || render_json(public))
}

/// A state as a machine-readable word.
fn state_code(state: MirrorState) -> &'static str {
    match state {
        MirrorState::Unchecked => "unchecked",
        MirrorState::Up => "up",
        MirrorState::Flapping => "flapping",
        MirrorState::ServesNothing => "serves-nothing",
        MirrorState::Down => "down",
        MirrorState::Standby => "standby",
        MirrorState::Disabled => "disabled",
    }
}

fn render_json(public: &Public) -> PageResult {
    use crate::model::{Family, Reach};
    let snapshot = public.network.snapshot()?;
    let index = public.network.index();
    let now = crate::model::now();
    let today = crate::model::day_of(now);
    let counts = public.counts(today.saturating_sub(SHARE_DAYS - 1), today)?;
    let (serving, locations) = public.network.serving();
    let rows = rows(
        &snapshot.mirrors,
        &snapshot.health,
        &serving,
        locations,
        &counts.by_mirror,
        now,
    );
    let total: u64 = rows.iter().map(|r| r.downloads).sum();
    let rated: u64 = rows.iter().map(|r| u64::from(r.mirror.rating)).sum();
    let reach = |r: Reach| match r {
        Reach::Unknown => "unknown",
        Reach::NoAddress => "no address",
        Reach::Up => "up",
        Reach::Down => "down",
    };
    let mirrors: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let m = r.mirror;
            let h = snapshot.health.get(&m.id);
            let reaches = h.map(|h| h.reaches).unwrap_or_default();
            let served = |f| crate::model::family::serves(m.families, reaches, f);
            let share = |n: u64, of: u64| (of > 0).then(|| (n as f64 * 1000.0 / of as f64).round() / 10.0);
            serde_json::json!({
                "name": m.name,
                "url": m.base_url,
                "other_url": m.alt_url,
                "kind": m.kind.as_str(),
                "regions": m.regions,
                "only_countries": m.audience.only.iter().map(|c| c.as_str().to_string()).collect::<Vec<_>>(),
                "never_countries": m.audience.never.iter().map(|c| c.as_str().to_string()).collect::<Vec<_>>(),
                "families": {
                    "setting": m.families.as_str(),
                    "ipv4": reach(reaches.v4),
                    "ipv6": reach(reaches.v6),
                    "serves_ipv4": served(Family::V4),
                    "serves_ipv6": served(Family::V6),
                },
                "status": state_code(r.status.state),
                "checked_at": h.map(|h| h.checked_at).filter(|&t| t > 0),
                "down_since": (r.status.since > 0).then_some(r.status.since),
                "down_reason": (!r.status.reason.is_empty()).then_some(r.status.reason),
                "lag_seconds": index.mirror_by_id(m.id).and_then(|e| e.lag),
                "rating": m.rating,
                "rating_share_percent": share(u64::from(m.rating), rated),
                "max_share_percent": m.audience.max_share,
                "downloads": r.downloads,
                "download_share_percent": share(r.downloads, total),
            })
        })
        .collect();
    let regions: Vec<serde_json::Value> = snapshot
        .regions
        .iter()
        .map(|r| {
            serde_json::json!({
                "name": r.name,
                "countries": r.countries,
                "keeps_percent": if (0..100).contains(&r.throttle) { r.throttle } else { 100 },
                "fallback": r.fallback,
                "global_fallback": r.global_fallback,
            })
        })
        .collect();
    let body = serde_json::json!({
        "version": 1,
        "generated_at": now,
        "share_days": SHARE_DAYS,
        "mirrors": mirrors,
        "regions": regions,
    });
    Ok(crate::http::reply::json(
        StatusCode::OK,
        format!("{body:#}\n"),
    ))
}

/// A mirror's status as the public sees it: its [`MirrorState`] and,
/// when it is down, since when and why (in a short, generic class).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// The mirror's state, as on the admin pages.
    pub state: MirrorState,
    /// When it went down (Unix seconds); 0 unless it is down.
    pub since: u64,
    /// Why it is down (see [`reason_class`]); empty unless it is down.
    pub reason: &'static str,
}

impl Status {
    /// The state in words for the public ("up, without our files").
    pub fn word(&self) -> &'static str {
        match self.state {
            MirrorState::Unchecked => "not yet checked",
            MirrorState::Up => "up",
            MirrorState::Flapping => "up, unsteady",
            MirrorState::ServesNothing => "up, without our files",
            MirrorState::Down => "down",
            MirrorState::Standby => "standby",
            MirrorState::Disabled => "switched off",
        }
    }

    /// The badge class of the state: green only for up and serving, a
    /// warning for unsteady or without files.
    fn class(&self) -> &'static str {
        match self.state {
            MirrorState::Up => "good",
            MirrorState::Down => "bad",
            MirrorState::Flapping | MirrorState::ServesNothing => "warn",
            MirrorState::Unchecked | MirrorState::Standby | MirrorState::Disabled => "off",
        }
    }
}

/// The status of mirror `m` with sentry's view `health` at `now`;
/// `serving` is how many locations it receives downloads for now and
/// `locations` how many locations there are (see [`MirrorState::of`]).
pub fn status(
    m: &Mirror,
    health: Option<&MirrorHealth>,
    serving: usize,
    locations: usize,
    now: u64,
) -> Status {
    let state = MirrorState::of(m, health, serving, locations, now);
    match health {
        Some(h) if state == MirrorState::Down => Status {
            state,
            since: h.since,
            reason: reason_class(h.problem()),
        },
        _ => Status {
            state,
            since: 0,
            reason: "",
        },
    }
}

/// The kind of problem sentry found (`MirrorHealth::problem`) reduced to
/// a short class fit for the public: sentry's text itself may name paths,
/// addresses or the checker's proxies.
pub fn reason_class(problem: Option<Problem>) -> &'static str {
    match problem {
        Some(Problem::Tls | Problem::TlsName | Problem::TlsExpired | Problem::TlsUntrusted) => {
            "secure connection fails"
        }
        Some(Problem::Timeout | Problem::Dns | Problem::Refused | Problem::Connection) => {
            "not answering"
        }
        Some(Problem::ServerError) => "server errors",
        Some(Problem::Protocol | Problem::Redirect) => "broken answers",
        Some(Problem::NotFound | Problem::WrongFile) | None => "failing checks",
    }
}

/// One row of the table.
struct Row<'a> {
    mirror: &'a Mirror,
    status: Status,
    downloads: u64,
    /// The one address family its clients may come over, or none (`None`:
    /// both, the usual case, not worth a word).
    families: Option<&'static str>,
}

/// Active mirrors with their status and downloads, sorted by downloads
/// (largest first), then by name.
fn rows<'a>(
    mirrors: &'a [Mirror],
    health: &HashMap<MirrorId, MirrorHealth>,
    serving: &HashMap<MirrorId, usize>,
    locations: usize,
    downloads: &HashMap<MirrorId, u64>,
    now: u64,
) -> Vec<Row<'a>> {
    let mut rows: Vec<Row<'a>> = mirrors
        .iter()
        .filter(|m| m.active)
        .map(|m| Row {
            mirror: m,
            status: status(
                m,
                health.get(&m.id),
                serving.get(&m.id).copied().unwrap_or(0),
                locations,
                now,
            ),
            downloads: downloads.get(&m.id).copied().unwrap_or(0),
            families: served_families(m, health.get(&m.id)),
        })
        .collect();
    rows.sort_by(|a, b| {
        b.downloads
            .cmp(&a.downloads)
            .then_with(|| {
                a.mirror
                    .name
                    .to_lowercase()
                    .cmp(&b.mirror.name.to_lowercase())
            })
            .then_with(|| a.mirror.name.cmp(&b.mirror.name))
    });
    rows
}

/// Which address families `m` gets clients over, by its setting and what
/// sentry found, when not both: `IPv4 only`, `IPv6 only` or neither.
fn served_families(m: &Mirror, health: Option<&MirrorHealth>) -> Option<&'static str> {
    use crate::model::Family;
    let reaches = health.map(|h| h.reaches).unwrap_or_default();
    let serves = |f| crate::model::family::serves(m.families, reaches, f);
    match (serves(Family::V4), serves(Family::V6)) {
        (true, true) => None,
        (true, false) => Some("IPv4 clients only"),
        (false, true) => Some("IPv6 clients only"),
        (false, false) => Some("reachable over neither IPv4 nor IPv6"),
    }
}

/// `n` of `total` in percent with one decimal (`–` when nothing counted).
fn share(n: u64, total: u64) -> String {
    if total == 0 {
        "–".to_string()
    } else {
        format!("{:.1}\u{a0}%", n as f64 * 100.0 / total as f64)
    }
}

/// `YYYY-MM-DD HH:MM UTC` of a Unix time.
fn when(unix: u64) -> String {
    let s = crate::model::utc(unix);
    // `YYYY-MM-DD HH:MM:SS UTC` → drop the seconds.
    match (s.get(..16), s.get(19..)) {
        (Some(head), Some(tail)) => format!("{head}{tail}"),
        _ => s,
    }
}

fn status_cell(status: Status) -> Markup {
    html! {
        @if status.state == MirrorState::Standby {
            span.badge.off title="Kept in reserve: receives no downloads now" { (status.word()) }
        } @else if status.state == MirrorState::ServesNothing {
            span.badge.warn title="It answers, but does not carry our files yet: it receives no downloads" { (status.word()) }
        } @else {
            span class={ "badge " (status.class()) } { (status.word()) }
        }
        @if status.state == MirrorState::Down {
            " "
            span.hint {
                (status.reason)
                @if status.since > 0 { ", since " time datetime=(crate::log::timestamp(status.since)) { (when(status.since)) } }
            }
        }
    }
}

fn render(public: &Public) -> PageResult {
    let snapshot = public.network.snapshot()?;
    let now = crate::model::now();
    let today = crate::model::day_of(now);
    let from = today.saturating_sub(SHARE_DAYS - 1);
    let counts = public.counts(from, today)?;
    let (serving, locations) = public.network.serving();
    let rows = rows(
        &snapshot.mirrors,
        &snapshot.health,
        &serving,
        locations,
        &counts.by_mirror,
        now,
    );
    Ok(html_reply(StatusCode::OK, body(&rows)))
}

fn body(rows: &[Row<'_>]) -> Markup {
    let total: u64 = rows.iter().map(|r| r.downloads).sum();
    let count = |states: &[MirrorState]| {
        rows.iter()
            .filter(|r| states.contains(&r.status.state))
            .count()
    };
    let up = count(&[MirrorState::Up, MirrorState::Flapping]);
    let down = count(&[MirrorState::Down]);
    let without = count(&[MirrorState::ServesNothing]);
    let standby = count(&[MirrorState::Standby]);
    let plural = |n: usize, one: &'static str, many: &'static str| if n == 1 { one } else { many };
    let content = html! {
        h1 { "Mirrors" }
        p {
            "Our downloads are served by these mirrors. Each download goes to one of them, "
            "chosen by where you are and how much each mirror can carry."
        }
        @if rows.is_empty() {
            p.problem { "No mirrors are active right now. Downloads are served from our own servers meanwhile." }
        } @else {
            p {
                strong { (rows.len()) " " (plural(rows.len(), "active mirror", "active mirrors")) }
                ": " (up) " up, " (down) " down"
                @if without > 0 { ", " (without) " without our files" }
                @if standby > 0 { ", " (standby) " standby" }
                " · " (thousands(total)) " " (plural(total as usize, "download", "downloads"))
                " in the last " (SHARE_DAYS) " days"
            }
            table.mirrors {
                thead {
                    tr {
                        th scope="col" { "Mirror" }
                        th scope="col" { "Address" }
                        th scope="col" { "Status" }
                        th scope="col" { "Regions" }
                        th.num scope="col" { "Share (" (SHARE_DAYS) " days)" }
                        th.num scope="col" { "Downloads" }
                    }
                }
                tbody {
                    @for r in rows {
                        tr {
                            th scope="row" { (r.mirror.name) }
                            td { a href=(r.mirror.base_url) rel="nofollow noopener" { (r.mirror.base_url) } }
                            td {
                                (status_cell(r.status))
                                @if let Some(families) = r.families { " " span.hint { (families) } }
                            }
                            td {
                                @if r.mirror.regions.is_empty() { "worldwide" }
                                @else { (r.mirror.regions.join(", ")) }
                            }
                            td.num { (share(r.downloads, total)) }
                            td.num { (thousands(r.downloads)) }
                        }
                    }
                }
                tfoot {
                    tr {
                        th scope="row" colspan="4" { "All listed mirrors" }
                        td.num { @if total > 0 { "100\u{a0}%" } @else { "–" } }
                        td.num { (thousands(total)) }
                    }
                }
            }
            p.hint {
                "Up: answered our last check properly and serves our files; unsteady: went up and down "
                "lately, so it gets fewer downloads. Down: did not answer properly (since the time shown). "
                "Without our files: answers, but does not carry our files yet. Standby: kept in reserve, "
                "receives no downloads now. Shares count the downloads of the last " (SHARE_DAYS)
                " days (UTC) among the mirrors listed here; the page is updated every minute."
            }
        }
    };
    page::layout("/mirrors", "Mirrors", content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Availability, CountBatch};
    use crate::public::testing::{body as text, get, public};
    use crate::store::{NewMirror, NewProduct};

    fn health(healthy: bool, error: &str) -> MirrorHealth {
        MirrorHealth {
            healthy,
            checked_at: 1_700_000_000,
            since: 1_699_999_000,
            error: error.to_string(),
            ..Default::default()
        }
    }

    fn mirror(rating: u32) -> Mirror {
        Mirror {
            id: MirrorId(1),
            name: "m".into(),
            base_url: "https://m.example".into(),
            rating,
            active: true,
            regions: vec![],
            contact: String::new(),
            created_at: 0,
            families: Default::default(),
            audience: Default::default(),
            alt_url: None,
            trace: None,
            kind: Default::default(),
            maintenance: None,
        }
    }

    #[test]
    fn status_mapping() {
        let m = mirror(10);
        let now = 1_700_000_100;
        let state = |m: &Mirror, h: Option<&MirrorHealth>, serving, locations| {
            status(m, h, serving, locations, now)
        };
        assert_eq!(state(&m, None, 0, 3).state, MirrorState::Unchecked);
        assert_eq!(state(&m, None, 0, 3).word(), "not yet checked");
        let never = MirrorHealth::default();
        assert_eq!(state(&m, Some(&never), 0, 3).state, MirrorState::Unchecked);
        assert_eq!(
            state(&m, Some(&health(true, "")), 2, 3).state,
            MirrorState::Up
        );
        let without = state(&m, Some(&health(true, "")), 0, 3);
        assert_eq!(without.state, MirrorState::ServesNothing);
        assert_eq!(without.word(), "up, without our files");
        assert_eq!(without.class(), "warn", "a warning, never green");
        // Nothing to carry: nothing missing.
        assert_eq!(
            state(&m, Some(&health(true, "")), 0, 0).state,
            MirrorState::Up
        );
        // Standby mirrors are standby, whatever sentry says.
        assert_eq!(
            state(&mirror(0), Some(&health(true, "")), 0, 3).state,
            MirrorState::Standby
        );
        assert_eq!(
            state(&m, Some(&health(false, "timed out: 10.0.0.7:443")), 0, 3),
            Status {
                state: MirrorState::Down,
                since: 1_699_999_000,
                reason: "not answering"
            }
        );
        // Every state is the admin pages' state of the same mirror.
        for (m, h, serving) in [
            (mirror(10), None, 0),
            (mirror(10), Some(health(true, "")), 0),
            (mirror(10), Some(health(true, "")), 1),
            (mirror(10), Some(health(false, "refused")), 1),
            (mirror(0), Some(health(true, "")), 0),
        ] {
            assert_eq!(
                state(&m, h.as_ref(), serving, 3).state,
                MirrorState::of(&m, h.as_ref(), serving, 3, now)
            );
        }
        for (error, class) in [
            ("timed out: read", "not answering"),
            ("/pub/dnsutils/x.tgz: timed out: read", "not answering"),
            (
                "host name does not resolve: internal.proxy",
                "not answering",
            ),
            ("connection failed", "not answering"),
            ("TLS failed: certificate expired", "secure connection fails"),
            ("503 Service Unavailable", "server errors"),
            ("/pub/f%20x.exe: 502 Bad Gateway", "server errors"),
            ("/pub/f.exe: broken HTTP: eof", "broken answers"),
            ("redirect loop", "broken answers"),
            ("/pub/5000.exe: something new", "failing checks"),
            ("", "failing checks"),
        ] {
            assert_eq!(reason_class(Problem::of(error)), class, "{error}");
        }
        // The kind sentry stored decides, whatever the text says.
        assert_eq!(reason_class(Some(Problem::Refused)), "not answering");
        assert_eq!(
            reason_class(Some(Problem::TlsName)),
            "secure connection fails"
        );
    }

    /// A network with four mirrors: two rated and checked, one standby and
    /// one inactive; hostile names where allowed.
    fn network() -> (tempfile::TempDir, crate::public::Public, Vec<MirrorId>) {
        let (dir, public) = public();
        let ids = public
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                tx.product_add(NewProduct {
                    name: "fx".into(),
                    ..Default::default()
                })?;
                let loc = tx.location_add("fx", "win", "/fx/setup.exe")?;
                let mut ids = Vec::new();
                for (name, url, rating, inactive, regions) in [
                    ("<b>alpha</b>", "https://a.example/pub", 10, false, vec![]),
                    ("beta", "https://b.example", 10, false, vec![]),
                    ("gamma", "http://g.example", 0, false, vec![]),
                    ("hidden-off", "https://off.example", 10, true, vec![]),
                ] {
                    let m = tx.mirror_add(NewMirror {
                        name: name.into(),
                        base_url: url.into(),
                        rating,
                        regions,
                        inactive,
                        ..Default::default()
                    })?;
                    ids.push(m.id);
                }
                // alpha serves and is up; beta is down; gamma (standby) is
                // unchecked.
                tx.set_availability(
                    loc.id,
                    ids[0],
                    &Availability {
                        present: true,
                        healthy: true,
                        checked_at: 5,
                        error: String::new(),
                    },
                )?;
                tx.set_health(ids[0], &health(true, ""))?;
                tx.set_health(
                    ids[1],
                    &health(false, "timed out: secret-proxy.internal:3128"),
                )?;
                Ok(ids)
            })
            .unwrap();
        (dir, public, ids)
    }

    #[test]
    fn each_mirror_says_which_families_it_serves_clients_over() {
        use crate::model::{Families, Reach, Reaches};
        let (_dir, public, ids) = network();
        public
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                // alpha: IPv6 did not answer; beta: set to serve IPv6 only.
                let mut h = health(true, "");
                h.reaches = Reaches {
                    v4: Reach::Up,
                    v6: Reach::Down,
                };
                tx.set_health(ids[0], &h)?;
                tx.mirror_update("beta", |m| m.families = Families::V6Only)?;
                Ok(())
            })
            .unwrap();
        let html = text(get(&public, "/mirrors", &[]));
        let row = |name: &str| {
            let at = html.find(name).unwrap();
            html[at..at + html[at..].find("</tr>").unwrap()].to_string()
        };
        assert!(
            row("&lt;b&gt;alpha").contains("IPv4 clients only"),
            "{html}"
        );
        assert!(row(">beta<").contains("IPv6 clients only"), "{html}");
        assert!(!row(">gamma<").contains("clients only"), "{html}");
    }

    fn add(public: &crate::public::Public, day: u32, mirrors: &[(MirrorId, u64)]) {
        public
            .network
            .store()
            .add_counts(&CountBatch {
                day,
                mirrors: mirrors.to_vec(),
                ..Default::default()
            })
            .unwrap();
    }

    #[test]
    fn lists_active_mirrors_with_status_and_shares() {
        let (_dir, public, ids) = network();
        let today = crate::model::day_of(crate::model::now());
        add(&public, today, &[(ids[0], 1), (ids[1], 2), (ids[3], 1000)]);
        add(&public, today - 29, &[(ids[0], 2)]);
        // Outside the 30 days: not counted.
        add(&public, today - 30, &[(ids[1], 500)]);
        let reply = get(&public, "/mirrors", &[]);
        assert_eq!(reply.status(), StatusCode::OK);
        let html = text(reply);
        // Percent signs stay with their numbers.
        assert!(html.contains("60.0\u{a0}%"));
        let html = html.replace('\u{a0}', " ");

        // Only active mirrors; the inactive one and its traffic stay out.
        assert!(!html.contains("hidden-off"), "{html}");
        assert!(!html.contains("off.example"));
        assert!(html.contains("3 active mirrors"), "{html}");
        assert!(html.contains("5 downloads in the last 30 days"), "{html}");

        // Escaped names, linked base URLs.
        assert!(html.contains("&lt;b&gt;alpha&lt;/b&gt;"));
        assert!(!html.contains("<b>alpha"));
        assert!(html.contains(r#"href="https://a.example/pub""#));

        // Sorted by share (alpha 3, beta 2, gamma 0).
        let a = html.find("&lt;b&gt;alpha").unwrap();
        let b = html.find(">beta<").unwrap();
        let g = html.find(">gamma<").unwrap();
        assert!(a < b && b < g, "{html}");
        assert!(html.contains("60.0 %") && html.contains("40.0 %") && html.contains("0.0 %"));

        // Status: up, down with a generic reason (never the raw error),
        // standby and unchecked.
        assert!(html.contains(r#"<span class="badge good">up</span>"#));
        assert!(html.contains(r#"<span class="badge bad">down</span>"#));
        assert!(html.contains("not answering, since"));
        assert!(!html.contains("secret-proxy"));
        assert!(html.contains(r#"<span class="badge off" title="Kept in reserve: receives no downloads now">standby</span>"#), "{html}");
        assert!(html.contains("worldwide"));
    }

    /// A mirror that answers but receives downloads for none of the files
    /// is told as a warning, not "up", as on the admin pages; the
    /// summary counts it apart.
    #[test]
    fn a_mirror_serving_nothing_is_a_warning() {
        let (_dir, public, _ids) = network();
        public
            .network
            .write(&crate::model::Actor::Program("test"), |tx| {
                let m = tx.mirror_add(NewMirror {
                    name: "delta".into(),
                    base_url: "https://d.example".into(),
                    rating: 10,
                    ..Default::default()
                })?;
                tx.set_health(m.id, &health(true, ""))
            })
            .unwrap();
        let html = text(get(&public, "/mirrors", &[]));
        let row = &html[html.find(">delta<").unwrap()..];
        let row = &row[..row.find("</tr>").unwrap()];
        assert!(
            row.contains(r#"<span class="badge warn" title="It answers, but does not carry our files yet: it receives no downloads">up, without our files</span>"#),
            "{row}"
        );
        assert!(!row.contains("badge good"), "{row}");
        assert!(
            html.contains(": 1 up, 1 down, 1 without our files, 1 standby"),
            "{html}"
        );
        // The same states as the admin pages compute.
        let s = public.network.snapshot().unwrap();
        let (serving, locations) = public.network.serving();
        let now = crate::model::now();
        let states: Vec<(String, MirrorState)> = s
            .mirrors
            .iter()
            .filter(|m| m.active)
            .map(|m| {
                let serves = serving.get(&m.id).copied().unwrap_or(0);
                let st = MirrorState::of(m, s.health.get(&m.id), serves, locations, now);
                (m.name.clone(), st)
            })
            .collect();
        assert_eq!(
            states.iter().map(|(_, st)| *st).collect::<Vec<_>>(),
            [
                MirrorState::Up,
                MirrorState::Down,
                MirrorState::Standby,
                MirrorState::ServesNothing
            ]
        );
        for (name, state) in states.iter().filter(|(n, _)| !n.contains('<')) {
            let row = &html[html.find(&format!(">{name}<")).unwrap()..];
            let row = &row[..row.find("</tr>").unwrap()];
            let word = Status {
                state: *state,
                since: 0,
                reason: "",
            }
            .word();
            assert!(row.contains(&format!(">{word}</span>")), "{name}: {row}");
        }
    }

    #[test]
    fn shares_sum_to_100_percent() {
        let (_dir, public, ids) = network();
        let today = crate::model::day_of(crate::model::now());
        add(&public, today, &[(ids[0], 1), (ids[1], 1), (ids[2], 1)]);
        let html = text(get(&public, "/mirrors", &[])).replace('\u{a0}', " ");
        let tbody = &html[html.find("<tbody>").unwrap()..html.find("</tbody>").unwrap()];
        let shares: Vec<f64> = tbody
            .split(r#"<td class="num">"#)
            .skip(1)
            .step_by(2)
            .map(|s| s.split(" %").next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(shares, vec![33.3, 33.3, 33.3]);
        let sum: f64 = shares.iter().sum();
        assert!((sum - 100.0).abs() <= 0.05 * shares.len() as f64, "{sum}");
    }

    #[test]
    fn sorted_by_downloads_then_name() {
        let mk = |id: u64, name: &str| Mirror {
            id: MirrorId(id),
            name: name.into(),
            ..mirror(1)
        };
        let mirrors = vec![mk(1, "b"), mk(2, "A"), mk(3, "c"), mk(4, "d")];
        let downloads = HashMap::from([(MirrorId(3), 7), (MirrorId(4), 9)]);
        let r = rows(&mirrors, &HashMap::new(), &HashMap::new(), 0, &downloads, 0);
        let names: Vec<&str> = r.iter().map(|r| r.mirror.name.as_str()).collect();
        assert_eq!(names, vec!["d", "c", "A", "b"]);
    }

    #[test]
    fn no_mirrors_no_division_by_zero() {
        let (_dir, public) = public();
        let html = text(get(&public, "/mirrors", &[]));
        assert!(html.contains("No mirrors are active"));
    }
}
