//! Maintenance windows (SPEC §13): an operator announces when a mirror
//! will be away; for that time it leaves rotation without being checked,
//! marked down or mailed about, and it comes back only after a check
//! passes once the window has ended.

/// A maintenance window, in Unix seconds: `start` inclusive, `end`
/// exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// When it starts.
    pub start: u64,
    /// When it ends.
    pub end: u64,
}

impl Window {
    /// Whether it covers `now`.
    pub fn covers(&self, now: u64) -> bool {
        self.start <= now && now < self.end
    }

    /// Whether a mirror with this window stays out of rotation at `now`,
    /// last checked at `checked_at`: during the window, and after it until
    /// a check passes (sentry checks it as soon as the window ends).
    pub fn keeps_out(&self, checked_at: u64, now: u64) -> bool {
        self.covers(now) || (now >= self.end && checked_at < self.end)
    }

    /// `FROM/DURATION` as [`parse`] reads it, in UTC.
    pub fn describe(&self) -> String {
        format!("{} to {}", super::utc(self.start), super::utc(self.end))
    }
}

/// Reads a window: `FROM/DURATION`, FROM being `now` or a UTC date and
/// time (`2026-12-08T02:00:00Z`, `2026-12-08 02:00`), DURATION a whole
/// number of minutes, hours or days (`90m`, `2h`, `1d`), at most 30 days.
/// `none` (or empty) cancels: `Ok(None)`.
pub fn parse(text: &str, now: u64) -> Result<Option<Window>, String> {
    let t = text.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let bad = |why: &str| {
        format!(
            "{:?} is not a maintenance window ({why}): write FROM/DURATION, e.g. now/2h or 2026-12-08T02:00:00Z/90m, or none",
            crate::error::excerpt(t)
        )
    };
    let (from, length) = t.rsplit_once('/').ok_or_else(|| bad("no /"))?;
    let start = if from.trim().eq_ignore_ascii_case("now") {
        now
    } else {
        super::freshness::parse_date(from).ok_or_else(|| bad("FROM is no UTC date and time"))?
    };
    let length = length.trim();
    let (n, unit) = [("m", 60u64), ("h", 3600), ("d", 86_400)]
        .into_iter()
        .find_map(|(suffix, unit)| length.strip_suffix(suffix).map(|n| (n, unit)))
        .ok_or_else(|| bad("DURATION ends in m, h or d"))?;
    let n: u64 = n
        .parse()
        .map_err(|_| bad("DURATION is no number of m, h or d"))?;
    let secs = n.saturating_mul(unit);
    if secs == 0 || secs > 30 * 86_400 {
        return Err(bad("DURATION is from 1 minute to 30 days"));
    }
    Ok(Some(Window {
        start,
        end: start + secs,
    }))
}

/// The setting holding the secret that maintenance links are made with
/// (created with the first link; never shown).
pub const SECRET: &str = "maintenance.secret";

/// The token of mirror `id` at `base_url` in its maintenance link, made
/// with `secret`: a new base URL (or a new secret) voids old links.
pub fn token(secret: &str, id: super::MirrorId, base_url: &str) -> String {
    crate::auth::secret_hash(&format!("{secret}\n{id}\n{base_url}"))
}

/// The first start or end of `windows` after `now`.
pub fn next_boundary<'a>(windows: impl IntoIterator<Item = &'a Window>, now: u64) -> Option<u64> {
    windows
        .into_iter()
        .flat_map(|w| [w.start, w.end])
        .filter(|&t| t > now)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_read_and_refused_with_a_way_forward() {
        let now = 1_796_652_001;
        assert_eq!(
            parse("now/2h", now),
            Ok(Some(Window {
                start: now,
                end: now + 7200
            }))
        );
        let w = parse("2026-12-07T14:00:01Z/90m", 0).unwrap().unwrap();
        assert_eq!((w.start, w.end), (now, now + 5400));
        assert_eq!(parse("none", now), Ok(None));
        for bad in [
            "now",
            "now/2",
            "now/0h",
            "now/31d",
            "tomorrow/1h",
            "now/1é",
            "now/213503982334602d",
        ] {
            let e = parse(bad, now).unwrap_err();
            assert!(e.contains("e.g. now/2h"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_mirror_is_out_during_its_window_and_until_a_check_passes() {
        let w = Window {
            start: 100,
            end: 200,
        };
        assert!(!w.keeps_out(50, 99), "before");
        assert!(w.keeps_out(50, 100) && w.keeps_out(150, 199), "during");
        assert!(w.keeps_out(150, 250), "after, not checked since");
        assert!(!w.keeps_out(210, 250), "checked after it ended");
        assert_eq!(next_boundary([&w], 50), Some(100));
        assert_eq!(next_boundary([&w], 150), Some(200));
        assert_eq!(next_boundary([&w], 200), None);
    }
}
