//! Freshness (SPEC §13): when a mirror last synced, read from its trace
//! file (the Debian/Arch convention), and how far it lags behind the
//! origin. A product may say how stale its files may be; mirrors that lag
//! more are left out for its files only.

/// When a trace file says its mirror last synced, in Unix seconds: its
/// first line as Unix seconds (Arch's `lastsync`), a date as `date -u`
/// writes it (Debian's `project/trace/*`: `Mon Dec  7 14:00:01 UTC
/// 2026`), an HTTP or RFC 2822 date, or ISO 8601 (`2026-12-07T14:00:01Z`);
/// else the file's `Last-Modified` (its mtime). `None`: nothing readable.
pub fn synced_at(body: &str, last_modified: Option<&str>) -> Option<u64> {
    let first = body.lines().map(str::trim).find(|l| !l.is_empty());
    first
        .and_then(|line| {
            line.parse::<u64>()
                .ok()
                .filter(|&t| t >= MIN_TIME)
                .or_else(|| parse_date(line))
        })
        .or_else(|| last_modified.and_then(parse_date))
}

/// Times before 2000 are no sync time (a counter, a serial number).
const MIN_TIME: u64 = 946_684_800;

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// A date and time in UTC in any of the forms [`synced_at`] reads.
pub fn parse_date(text: &str) -> Option<u64> {
    let text = text.trim();
    // ISO 8601: 2026-12-07T14:00:01Z or 2026-12-07 14:00:01.
    if let Some((date, time)) = text
        .split_once('T')
        .or_else(|| text.split_once(' '))
        .filter(|(d, _)| d.len() == 10 && d.as_bytes()[4] == b'-')
    {
        let mut d = date.split('-').map(|p| p.parse::<u32>().ok());
        let (y, m, day) = (d.next()??, d.next()??, d.next()??);
        let time = time.trim_end_matches('Z').trim_end_matches("+00:00");
        return at(y, m, day, time);
    }
    // `date -u`, HTTP and RFC 2822: tokens in some order.
    let (mut year, mut month, mut day, mut time) = (None, None, None, None);
    for token in text.split([' ', ',']).filter(|t| !t.is_empty()) {
        let lower = token.to_ascii_lowercase();
        if let Some(m) = MONTHS.iter().position(|m| lower.starts_with(m)) {
            month = Some(m as u32 + 1);
        } else if token.contains(':') {
            time = Some(token);
        } else if let Ok(n) = token.parse::<u32>() {
            if n >= 1970 {
                year = Some(n);
            } else if (1..=31).contains(&n) {
                day = Some(n);
            }
        }
    }
    at(year?, month?, day?, time?)
}

/// Unix seconds of a UTC date and `HH:MM[:SS]`.
fn at(year: u32, month: u32, day: u32, time: &str) -> Option<u64> {
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut t = time
        .split(':')
        .map(|p| p.split('.').next().unwrap_or("").parse::<u64>().ok());
    let (h, m) = (t.next()??, t.next()??);
    let s = t.next().flatten().unwrap_or(0);
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days = u64::from(super::days_from_civil(year, month, day));
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

/// Reads how many minutes a product's files may lag: a whole number from
/// 1 to 10,080 (a week); empty or `none`: any.
pub fn parse_max_lag(s: &str) -> Result<Option<u32>, String> {
    let t = s.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    match t.parse::<u32>() {
        Ok(n @ 1..=10_080) => Ok(Some(n)),
        _ => Err(format!(
            "{:?} is not a lag: give whole minutes from 1 to 10080 (a week), or none",
            crate::error::excerpt(t)
        )),
    }
}

/// How a mirror stands for a product that may be at most `max_lag`
/// seconds stale, given when it synced (`synced`: 0 when its trace file
/// could not be read) and the origin's (or the freshest mirror's) time.
/// A mirror without a trace file is not judged.
pub fn fresh_enough(has_trace: bool, synced: u64, reference: u64, max_lag: u64) -> bool {
    !has_trace || (synced > 0 && reference.saturating_sub(synced) <= max_lag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_files_of_every_convention_are_read() {
        let t = 1_796_652_001; // 2026-12-07 14:00:01 UTC
        assert_eq!(synced_at("1796652001\n", None), Some(t));
        assert_eq!(
            synced_at("Mon Dec  7 14:00:01 UTC 2026\nDate: x\n", None),
            Some(t)
        );
        assert_eq!(synced_at("Mon, 07 Dec 2026 14:00:01 GMT", None), Some(t));
        assert_eq!(synced_at("2026-12-07T14:00:01Z", None), Some(t));
        assert_eq!(synced_at("2026-12-07 14:00:01", None), Some(t));
        // Unreadable content: the file's Last-Modified.
        assert_eq!(
            synced_at("<html>", Some("Mon, 07 Dec 2026 14:00:01 GMT")),
            Some(t)
        );
        assert_eq!(synced_at("42\n", None), None, "no time before 2000");
        assert_eq!(synced_at("", None), None);
        assert_eq!(synced_at("Mon Dec 32 14:00:01 UTC 2026", None), None);
    }

    #[test]
    fn staleness_is_judged_only_with_a_trace_file() {
        assert!(fresh_enough(false, 0, 10_000, 60));
        assert!(fresh_enough(true, 9_950, 10_000, 60));
        assert!(!fresh_enough(true, 9_000, 10_000, 60));
        assert!(!fresh_enough(true, 0, 10_000, 60), "unreadable: stale");
        assert!(
            fresh_enough(true, 10_050, 10_000, 60),
            "ahead of the reference"
        );
    }
}
