//! Charts drawn on the server as inline SVG, so pages that show them work
//! without JavaScript: [`daily`] for per-day trends (admin overview and
//! stats, the public `/stats` page) and [`bars`] for rankings.
//!
//! The SVG uses a fixed `viewBox` and `width="100%"`, so it scales with the
//! page; `role="img"` and `aria-label` give it an accessible name, and
//! `<title>` elements on points and bars show exact values on hover.
//! Every SVG element is written with an explicit end tag (`<line …></line>`),
//! because the HTML parser does not treat `<line …>` inside `<svg>` as empty.
//!
//! Values are `u64` counts; scales are computed in `u128` and drawn in `f64`,
//! so any value, up to `u64::MAX`, is drawn without overflow.

use std::fmt::Write as _;

use maud::{Markup, html};

/// One line of a [`daily`] chart.
#[derive(Clone, Copy, Debug)]
pub struct Series<'a> {
    /// The name shown in the legend and in hover titles.
    pub label: &'a str,
    /// One value per day, in the same order as the `days` given to
    /// [`daily`]; a missing value (a shorter slice) leaves a gap.
    pub points: &'a [u64],
}

/// Line colours: each has at least 3:1 contrast against white and the set
/// stays distinguishable with the common colour-vision deficiencies (after
/// Okabe and Ito, darkened where needed). Beyond six series the colours
/// repeat with a dash pattern.
const PALETTE: [&str; 6] = [
    "#0072b2", "#d55e00", "#008060", "#b4478f", "#8a6d00", "#666666",
];

/// Dash patterns for the second, third, … round through the palette.
const DASHES: [&str; 4] = ["", "6 3", "2 3", "8 3 2 3"];

const TEXT: &str = "#1d2330";
const GRID: &str = "#dde1e8";
const FONT: &str = "system-ui,sans-serif";

/// Width of every chart's `viewBox`.
const WIDTH: f64 = 640.0;

// The plot area of `daily`.
const LEFT: f64 = 52.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 10.0;
const PLOT_H: f64 = 180.0;
/// Rough width of one character at font size 12, for layout.
const CHAR_W: f64 = 6.8;

/// A number with thousands separators: `1234567` → `"1,234,567"`.
pub fn thousands(n: u64) -> String {
    group(&n.to_string())
}

/// Downloads per day for display: one decimal below 10 ("0.4"), whole
/// numbers with thousands separators above, "< 0.1" for tiny averages.
pub fn per_day(total: u64, days: u32) -> String {
    let avg = total as f64 / f64::from(days.max(1));
    if total == 0 {
        "0".to_string()
    } else if avg < 0.05 {
        "< 0.1".to_string()
    } else if avg < 9.95 {
        format!("{avg:.1}")
    } else {
        thousands(avg.round() as u64)
    }
}

/// A size in bytes as every page writes it: decimal (SI) units, three
/// significant figures at most — `"0 B"`, `"512 B"`, `"1.5 kB"`, `"64 MB"`,
/// `"1.2 GB"`. Admin and public pages, reports and feeds all use this (and
/// [`speed`]), so one figure reads the same everywhere.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["kB", "MB", "GB", "TB", "PB", "EB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    for unit in UNITS {
        value /= 1000.0;
        // Round as shown, so 999,999 B is "1.0 MB", not "1000 kB".
        let shown = if value < 9.95 {
            (value * 10.0).round() / 10.0
        } else {
            value.round()
        };
        if shown < 1000.0 || unit == "EB" {
            return if shown < 10.0 {
                format!("{shown:.1} {unit}")
            } else {
                format!("{shown:.0} {unit}")
            };
        }
    }
    unreachable!("the last unit returns")
}

/// A speed in bytes per second, written like [`size`]: `"65 MB/s"`,
/// `"820 kB/s"`; `"–"` for 0 (not measured).
pub fn speed(bytes_per_sec: u64) -> String {
    if bytes_per_sec == 0 {
        return "–".to_string();
    }
    format!("{}/s", size(bytes_per_sec))
}

/// A latency in milliseconds (`"1,250 ms"`), or `"—"` for 0: no answer
/// (a refused connection has no latency). Every page writes latencies so.
pub fn latency(ms: u64) -> String {
    if ms == 0 {
        "—".to_string()
    } else {
        format!("{} ms", thousands(ms))
    }
}

/// Digits with thousands separators: `"1234567"` → `"1,234,567"` (also
/// for numbers wider than `u64`).
pub fn group(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The axis scale for values up to `max`: a "nice" step (1, 2 or 5 × 10^k)
/// and the number of steps (2 to 4), so the axis has 3 to 5 ticks from 0.
fn nice_scale(max: u64) -> (u128, u128) {
    let max = u128::from(max);
    let mut pow: u128 = 1;
    loop {
        for m in [1, 2, 5] {
            let step = m * pow;
            let n = max.div_ceil(step);
            if n <= 4 {
                return (step, n.max(2));
            }
        }
        pow *= 10;
    }
}

/// The tick values for values up to `max`, from 0 up.
fn nice_ticks(max: u64) -> Vec<u128> {
    let (step, n) = nice_scale(max);
    (0..=n).map(|i| i * step).collect()
}

/// A tick value in few characters: `1500` → `"1.5k"`, `20000000` → `"20M"`.
fn compact(v: u128) -> String {
    const SUFFIXES: [&str; 7] = ["", "k", "M", "G", "T", "P", "E"];
    let mut unit: u128 = 1;
    let mut i = 0;
    while i + 1 < SUFFIXES.len() && v >= unit * 1000 {
        unit *= 1000;
        i += 1;
    }
    let whole = v / unit;
    let tenth = v % unit * 10 / unit;
    if tenth == 0 {
        format!("{whole}{}", SUFFIXES[i])
    } else {
        format!("{whole}.{tenth}{}", SUFFIXES[i])
    }
}

/// `YYYY-MM-DD` of a day counted from the Unix epoch.
fn date(day: u32) -> String {
    let s = crate::model::utc(u64::from(day) * 86_400);
    s.split_once(' ').map_or(s.clone(), |(d, _)| d.to_owned())
}

/// `MM-DD` of a day counted from the Unix epoch.
fn month_day(day: u32) -> String {
    let d = date(day);
    d[d.len().saturating_sub(5)..].to_owned()
}

/// A coordinate with one decimal, enough for a 640-unit-wide chart.
fn c(x: f64) -> String {
    format!("{x:.1}")
}

fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

fn dash(i: usize) -> &'static str {
    DASHES[(i / PALETTE.len()) % DASHES.len()]
}

/// At most `max` characters of `s`, with `…` when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn empty(title: &str) -> Markup {
    html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 640 60" width="100%"
            role="img" aria-label=(title) font-family=(FONT) font-size="12" {
            title { (title) }
            text x="320" y="34" text-anchor="middle" fill=(TEXT) { "No data" }
        }
    }
}

/// A line chart of per-day values, one line per series (with the area
/// under it filled when there is only one), a y axis of 3–5 round values
/// with grid lines, `MM-DD` labels on a handful of days, and a legend.
///
/// `days` are days since the Unix epoch (`unix_secs / 86_400`); they are
/// placed on a time axis, so gaps between days show as gaps in x, and they
/// need not be sorted. `series[i].points[j]` is the value on `days[j]`;
/// values past the end of `days` are ignored. Hovering a point shows
/// `2026-11-20: 1,234` (followed by the series label when there are
/// several). `title` becomes the chart's accessible name.
pub fn daily(days: &[u32], series: &[Series<'_>], title: &str) -> Markup {
    if days.is_empty() || series.iter().all(|s| s.points.is_empty()) {
        return empty(title);
    }
    // Indices of `days` in date order.
    let mut order: Vec<usize> = (0..days.len()).collect();
    order.sort_by_key(|&i| days[i]);
    let first = days[order[0]];
    let last = days[order[order.len() - 1]];
    let span = last - first;

    let plot_w = WIDTH - LEFT - RIGHT;
    let x_of = |day: u32| -> f64 {
        if span == 0 {
            LEFT + plot_w / 2.0
        } else {
            LEFT + plot_w * f64::from(day - first) / f64::from(span)
        }
    };
    let max = series
        .iter()
        .flat_map(|s| s.points.iter().take(days.len()))
        .copied()
        .max()
        .unwrap_or(0);
    let ticks = nice_ticks(max);
    let top = *ticks.last().unwrap_or(&1) as f64;
    let base = TOP + PLOT_H;
    let y_of = |v: f64| -> f64 { base - PLOT_H * v / top };

    // A handful of date labels: every day when there are few, else six
    // evenly spaced days.
    let labels: Vec<u32> = if span <= 6 {
        (first..=last).collect()
    } else {
        let mut l: Vec<u32> = (0..=5u64)
            .map(|i| first + (u64::from(span) * i / 5) as u32)
            .collect();
        l.dedup();
        l
    };

    let r = if days.len() <= 62 { 3.0 } else { 1.5 };
    let many = series.len() > 1;

    // Lines (and the area, for a single series), split at missing values.
    let mut drawn = Vec::with_capacity(series.len());
    for s in series {
        let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
        let mut run: Vec<(f64, f64)> = Vec::new();
        for &i in &order {
            match s.points.get(i) {
                Some(&v) => run.push((x_of(days[i]), y_of(v as f64))),
                None => {
                    if !run.is_empty() {
                        runs.push(std::mem::take(&mut run));
                    }
                }
            }
        }
        if !run.is_empty() {
            runs.push(run);
        }
        let mut line = String::new();
        let mut area = String::new();
        for run in &runs {
            for (k, (x, y)) in run.iter().enumerate() {
                let cmd = if k == 0 { 'M' } else { 'L' };
                let _ = write!(line, "{cmd}{},{} ", c(*x), c(*y));
            }
            if !many && run.len() > 1 {
                let (x0, _) = run[0];
                let (xn, _) = run[run.len() - 1];
                let _ = write!(area, "M{},{} ", c(x0), c(base));
                for (x, y) in run {
                    let _ = write!(area, "L{},{} ", c(*x), c(*y));
                }
                let _ = write!(area, "L{},{} Z ", c(xn), c(base));
            }
        }
        drawn.push((line.trim_end().to_owned(), area.trim_end().to_owned()));
    }

    // Legend items, wrapped into rows.
    let legend_top = base + 30.0;
    let mut legend = Vec::with_capacity(series.len());
    let (mut lx, mut row) = (LEFT, 0u32);
    for s in series {
        let text = truncate(s.label, 40);
        let w = 22.0 + text.chars().count() as f64 * CHAR_W + 16.0;
        if lx > LEFT && lx + w > WIDTH - RIGHT {
            lx = LEFT;
            row += 1;
        }
        legend.push((lx, legend_top + f64::from(row) * 18.0, text));
        lx += w;
    }
    let height = legend_top + f64::from(row + 1) * 18.0;

    html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 640 " (c(height)) } width="100%"
            role="img" aria-label=(title) font-family=(FONT) font-size="12" {
            title { (title) }
            g {
                @for t in &ticks {
                    @let y = c(y_of(*t as f64));
                    line x1=(c(LEFT)) x2=(c(WIDTH - RIGHT)) y1=(y) y2=(y) stroke=(GRID) {}
                    text x=(c(LEFT - 6.0)) y=(y) dy="0.32em" text-anchor="end" fill=(TEXT) { (compact(*t)) }
                }
                @for d in &labels {
                    @let x = c(x_of(*d));
                    line x1=(x) x2=(x) y1=(c(base)) y2=(c(base + 4.0)) stroke=(TEXT) {}
                    text x=(x) y=(c(base + 17.0)) text-anchor="middle" fill=(TEXT) { (month_day(*d)) }
                }
            }
            @for (i, (line, area)) in drawn.iter().enumerate() {
                @if !area.is_empty() {
                    path d=(area) fill=(colour(i)) fill-opacity="0.12" stroke="none" {}
                }
                @if !line.is_empty() {
                    path d=(line) fill="none" stroke=(colour(i)) stroke-width="2"
                        stroke-dasharray=[(!dash(i).is_empty()).then(|| dash(i))]
                        stroke-linejoin="round" {}
                }
            }
            @for (i, s) in series.iter().enumerate() {
                g fill=(colour(i)) {
                    @for &j in &order {
                        @if let Some(&v) = s.points.get(j) {
                            circle cx=(c(x_of(days[j]))) cy=(c(y_of(v as f64))) r=(r)
                                stroke=(colour(i)) stroke-opacity="0" stroke-width="8" {
                                title {
                                    (date(days[j])) ": " (thousands(v))
                                    @if many { " (" (s.label) ")" }
                                }
                            }
                        }
                    }
                }
            }
            g {
                @for (i, (x, y, text)) in legend.iter().enumerate() {
                    g {
                        title { (series[i].label) }
                        line x1=(c(*x)) x2=(c(x + 16.0)) y1=(c(*y)) y2=(c(*y)) stroke=(colour(i)) stroke-width="3"
                            stroke-dasharray=[(!dash(i).is_empty()).then(|| dash(i))] {}
                        text x=(c(x + 22.0)) y=(c(*y)) dy="0.32em" fill=(TEXT) { (text) }
                    }
                }
            }
        }
    }
}

/// A horizontal bar chart: one row per item with its label, a bar as long
/// as its share of the largest value, and the value with thousands
/// separators. Items are drawn in the order given (callers sort, largest
/// first). Long labels are shortened with `…`; hovering a row shows the
/// whole label and value. `title` becomes the chart's accessible name.
pub fn bars(items: &[(&str, u64)], title: &str) -> Markup {
    const ROW_H: f64 = 22.0;
    const BAR_H: f64 = 14.0;
    if items.is_empty() {
        return empty(title);
    }
    let max = items.iter().map(|(_, v)| *v).max().unwrap_or(0);
    let longest_label = items
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    let label_w = (longest_label as f64 * CHAR_W + 12.0).clamp(48.0, 260.0);
    // Round: 13 × 6.8 + 12 is 100.39999…, which must still fit 13 chars.
    let label_chars = ((label_w - 12.0) / CHAR_W).round() as usize;
    let value_w = thousands(max).len() as f64 * CHAR_W + 12.0;
    let bar_max = WIDTH - label_w - value_w - 4.0;
    let height = items.len() as f64 * ROW_H + 8.0;
    let len = |v: u64| -> f64 {
        if max == 0 || v == 0 {
            0.0
        } else {
            (bar_max * (v as f64 / max as f64)).max(1.0)
        }
    };

    html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 640 " (c(height)) } width="100%"
            role="img" aria-label=(title) font-family=(FONT) font-size="12" {
            title { (title) }
            @for (i, (label, v)) in items.iter().enumerate() {
                @let y = 4.0 + i as f64 * ROW_H;
                @let mid = c(y + ROW_H / 2.0);
                @let w = len(*v);
                g {
                    title { (label) ": " (thousands(*v)) }
                    text x=(c(label_w - 6.0)) y=(mid) dy="0.32em" text-anchor="end" fill=(TEXT) { (truncate(label, label_chars)) }
                    rect x=(c(label_w)) y=(c(y + (ROW_H - BAR_H) / 2.0)) width=(c(w)) height=(c(BAR_H)) fill=(PALETTE[0]) {}
                    text x=(c(label_w + w + 6.0)) y=(mid) dy="0.32em" fill=(TEXT) { (thousands(*v)) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that `s` is balanced, XML-like markup (every element closed,
    /// no stray `<` or `>` in text or attribute values) and returns the
    /// number of start tags per element name.
    fn well_formed(s: &str) -> std::collections::HashMap<String, usize> {
        let mut counts = std::collections::HashMap::new();
        let mut stack: Vec<String> = Vec::new();
        let mut rest = s;
        while let Some(open) = rest.find('<') {
            assert!(
                !rest[..open].contains('>'),
                "stray '>' in text: {:?}",
                &rest[..open]
            );
            let close = rest[open..].find('>').expect("unterminated tag") + open;
            let tag = &rest[open + 1..close];
            assert!(!tag.contains('<'), "stray '<' in tag: {tag:?}");
            assert_eq!(
                tag.matches('"').count() % 2,
                0,
                "unbalanced quotes: {tag:?}"
            );
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
            } else {
                let name = tag.split_whitespace().next().expect("empty tag").to_owned();
                *counts.entry(name.clone()).or_insert(0) += 1;
                if !tag.ends_with('/') {
                    stack.push(name);
                }
            }
            rest = &rest[close + 1..];
        }
        assert!(!rest.contains('>'), "stray '>' after the last tag");
        assert!(stack.is_empty(), "unclosed: {stack:?}");
        counts
    }

    fn count(counts: &std::collections::HashMap<String, usize>, name: &str) -> usize {
        counts.get(name).copied().unwrap_or(0)
    }

    #[test]
    fn sizes_and_speeds_read_the_same_everywhere() {
        for (bytes, text) in [
            (0, "0 B"),
            (999, "999 B"),
            (1000, "1.0 kB"),
            (1536, "1.5 kB"),
            (9_949, "9.9 kB"),
            (9_950, "10 kB"),
            (12_345, "12 kB"),
            (999_499, "999 kB"),
            (999_999, "1.0 MB"),
            (65_536_000, "66 MB"),
            (64_000 * 1024, "66 MB"),
            (1_200_000_000, "1.2 GB"),
            (u64::MAX, "18 EB"),
        ] {
            assert_eq!(size(bytes), text, "{bytes}");
        }
        assert_eq!(speed(0), "–");
        assert_eq!(speed(65_000_000), "65 MB/s");
        assert_eq!(speed(512), "512 B/s");
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn nice_ticks_are_round_and_cover_the_maximum() {
        assert_eq!(nice_ticks(0), [0, 1, 2]);
        assert_eq!(nice_ticks(1), [0, 1, 2]);
        assert_eq!(nice_ticks(4), [0, 1, 2, 3, 4]);
        assert_eq!(nice_ticks(5), [0, 2, 4, 6]);
        assert_eq!(nice_ticks(100), [0, 50, 100]);
        assert_eq!(nice_ticks(101), [0, 50, 100, 150]);
        assert_eq!(nice_ticks(1_234), [0, 500, 1_000, 1_500]);
        assert_eq!(
            nice_ticks(u64::MAX),
            [0, 5e18 as u128, 1e19 as u128, 15e18 as u128, 2e19 as u128]
        );
        for max in (0..2_000).chain([999_999, 1_000_001, u64::MAX - 1, u64::MAX]) {
            let t = nice_ticks(max);
            assert!((3..=5).contains(&t.len()), "{max}: {t:?}");
            assert!(*t.last().unwrap() >= u128::from(max), "{max}: {t:?}");
            let step = t[1];
            let mut m = step;
            while m.is_multiple_of(10) {
                m /= 10;
            }
            assert!([1, 2, 5].contains(&m), "{max}: step {step}");
        }
    }

    #[test]
    fn compact_tick_labels() {
        assert_eq!(compact(0), "0");
        assert_eq!(compact(500), "500");
        assert_eq!(compact(1_500), "1.5k");
        assert_eq!(compact(20_000_000), "20M");
        assert_eq!(compact(2e19 as u128), "20E");
    }

    #[test]
    fn dates() {
        // 2026-11-20 is day 20,777.
        assert_eq!(date(20_777), "2026-11-20");
        assert_eq!(month_day(20_777), "11-20");
        assert_eq!(date(0), "1970-01-01");
        let _ = month_day(u32::MAX);
    }

    #[test]
    fn palette_has_enough_contrast_on_white() {
        fn lum(hex: &str) -> f64 {
            let ch = |i: usize| {
                let v = f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap()) / 255.0;
                if v <= 0.039_28 {
                    v / 12.92
                } else {
                    ((v + 0.055) / 1.055).powf(2.4)
                }
            };
            0.2126 * ch(1) + 0.7152 * ch(3) + 0.0722 * ch(5)
        }
        for p in PALETTE {
            let ratio = 1.05 / (lum(p) + 0.05);
            assert!(ratio >= 3.0, "{p}: {ratio:.2}");
        }
    }

    #[test]
    fn daily_with_no_days_or_no_points() {
        for m in [
            daily(&[], &[], "Downloads"),
            daily(
                &[],
                &[Series {
                    label: "a",
                    points: &[],
                }],
                "Downloads",
            ),
            daily(
                &[1, 2],
                &[Series {
                    label: "a",
                    points: &[],
                }],
                "Downloads",
            ),
        ] {
            let s = m.into_string();
            well_formed(&s);
            assert!(s.contains("No data"));
            assert!(s.contains(r#"aria-label="Downloads""#));
        }
    }

    #[test]
    fn daily_single_day() {
        let s = daily(
            &[20_777],
            &[Series {
                label: "Firefox",
                points: &[1_234],
            }],
            "Downloads",
        )
        .into_string();
        let n = well_formed(&s);
        assert_eq!(count(&n, "circle"), 1);
        assert_eq!(count(&n, "path"), 1, "a line but no area for one point");
        assert!(s.contains("<title>2026-11-20: 1,234</title>"), "{s}");
        assert!(s.contains(">11-20</text>"));
        assert!(!s.contains("NaN") && !s.contains("inf"));
    }

    #[test]
    fn daily_all_zeros() {
        let days: Vec<u32> = (20_000..20_030).collect();
        let zeros = vec![0; 30];
        let s = daily(
            &days,
            &[Series {
                label: "x",
                points: &zeros,
            }],
            "t",
        )
        .into_string();
        let n = well_formed(&s);
        assert_eq!(count(&n, "circle"), 30);
        assert_eq!(count(&n, "path"), 2, "line and area");
        assert!(!s.contains("NaN") && !s.contains("inf"));
    }

    #[test]
    fn daily_many_days_and_series() {
        let days: Vec<u32> = (20_000..20_365).collect();
        let points: Vec<Vec<u64>> = (0..15u64)
            .map(|k| (0..365u64).map(|d| d * k % 977).collect())
            .collect();
        let labels: Vec<String> = (0..15).map(|k| format!("Series number {k}")).collect();
        let series: Vec<Series<'_>> = labels
            .iter()
            .zip(&points)
            .map(|(l, p)| Series {
                label: l,
                points: p,
            })
            .collect();
        let s = daily(&days, &series, "Many").into_string();
        let n = well_formed(&s);
        assert_eq!(count(&n, "path"), 15, "lines only when there are several");
        assert_eq!(count(&n, "circle"), 15 * 365);
        // Six date labels, not one per day; 3–5 value ticks.
        assert_eq!(s.matches(r#"text-anchor="middle""#).count(), 6);
        let ticks = s.matches(r#"text-anchor="end""#).count();
        assert!((3..=5).contains(&ticks), "{ticks}");
        assert!(s.contains("(Series number 14)"));
        assert!(s.contains(r#"stroke-dasharray="6 3""#));
    }

    #[test]
    fn daily_huge_values_and_gaps() {
        let s = daily(
            &[30, 10, 20, u32::MAX],
            &[
                Series {
                    label: "max",
                    points: &[u64::MAX, u64::MAX - 1, 0, u64::MAX],
                },
                Series {
                    label: "short",
                    points: &[1],
                },
            ],
            "Huge",
        )
        .into_string();
        let n = well_formed(&s);
        assert_eq!(count(&n, "circle"), 5);
        assert!(s.contains("18,446,744,073,709,551,615"));
        assert!(s.contains(">20E</text>"));
        assert!(!s.contains("NaN") && !s.contains("inf"));
    }

    #[test]
    fn daily_escapes_labels_and_title() {
        let s = daily(
            &[1, 2],
            &[
                Series {
                    label: r#"<script>alert("x")</script>"#,
                    points: &[1, 2],
                },
                Series {
                    label: "a&b",
                    points: &[3, 4],
                },
            ],
            r#""><script>"#,
        )
        .into_string();
        well_formed(&s);
        assert!(!s.contains("<script"));
        assert!(s.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"));
        assert!(s.contains(r#"aria-label="&quot;&gt;&lt;script&gt;""#));
        assert!(s.contains("a&amp;b"));
    }

    #[test]
    fn bars_are_drawn_in_order() {
        let items = [("Firefox", 1_234_567), ("Thunderbird", 1_000), ("Zero", 0)];
        let s = bars(&items, "By product").into_string();
        let n = well_formed(&s);
        assert_eq!(count(&n, "rect"), 3);
        assert!(s.contains("<title>Firefox: 1,234,567</title>"));
        let (a, b) = (s.find("Firefox").unwrap(), s.find("Thunderbird").unwrap());
        assert!(a < b);
        assert!(s.contains(r#"width="0.0""#), "zero is an empty bar");
    }

    #[test]
    fn bars_edge_cases() {
        let s = bars(&[], "Nothing").into_string();
        well_formed(&s);
        assert!(s.contains("No data"));

        let s = bars(&[("a", 0), ("b", 0)], "Zeros").into_string();
        assert_eq!(count(&well_formed(&s), "rect"), 2);
        assert!(!s.contains("NaN"));

        let s = bars(&[("max", u64::MAX), ("one", 1)], "Huge").into_string();
        assert_eq!(count(&well_formed(&s), "rect"), 2);
        assert!(s.contains("18,446,744,073,709,551,615"));

        let long = "x".repeat(500);
        let s = bars(&[(&long, 5), ("ünïcödé…", 3)], "Long").into_string();
        well_formed(&s);
        assert!(s.contains('…'));
        assert!(s.contains(&format!("<title>{long}: 5</title>")));
    }

    #[test]
    fn bars_escape_hostile_labels() {
        let items = [
            ("<script>alert(1)</script>", 3),
            (r#"" onmouseover="alert(1)"#, 2),
            ("</svg><img src=x>", 1),
        ];
        let s = bars(&items, "<b>title</b>").into_string();
        let n = well_formed(&s);
        assert_eq!(count(&n, "script"), 0);
        assert_eq!(count(&n, "img"), 0);
        assert_eq!(count(&n, "svg"), 1);
        assert!(!s.contains("<script"));
        assert!(!s.contains(r#"" onmouseover"#));
        assert!(s.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(s.contains("&quot; onmouseover=&quot;alert(1)"));
        assert!(s.contains(r#"aria-label="&lt;b&gt;title&lt;/b&gt;""#));
    }
}
