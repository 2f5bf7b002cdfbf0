//! Who is retrying: a client that asks again for a redirect to the same
//! file within [`WINDOW`] probably could not reach the mirror it was sent
//! to, so it gets the next mirror in its own ranking (SPEC §2.6), and so
//! on round the candidates. Sticky picks would otherwise trap it.
//!
//! The memory is a fixed table of atomic words indexed by the sticky key
//! (client, file): no lock, bounded memory, nothing on disk. It is lossy
//! on purpose: two keys that meet in one slot overwrite each other, which
//! at worst makes a retry look like a first request (the client gets its
//! first mirror again, and its next retry moves on).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::index::StickyKey;

/// A repeated redirect within this many seconds is a retry.
pub const WINDOW: u64 = 180;

/// Slots in the table (a power of two): 512 KiB.
const SLOTS: usize = 1 << 16;

/// A slot: the key's top 24 bits as a tag, the time (seconds since the
/// memory was made, plus one: 0 is an empty slot) in the next 32, and how
/// many retries in the low 8.
pub struct Retries {
    slots: Box<[AtomicU64]>,
    epoch: Instant,
}

impl Default for Retries {
    fn default() -> Self {
        Retries::with_slots(SLOTS)
    }
}

impl Retries {
    /// A memory of `slots` entries (rounded up to a power of two).
    pub fn with_slots(slots: usize) -> Retries {
        Retries {
            slots: (0..slots.max(1).next_power_of_two())
                .map(|_| AtomicU64::new(0))
                .collect(),
            epoch: Instant::now(),
        }
    }

    /// The place in its ranking of this request for `key` at `now`: 0 for
    /// a first request (or one after [`WINDOW`]), n for the n-th retry
    /// within the window of the one before. With `record`, the request is
    /// remembered (a GET redirect); without, only looked up (HEAD).
    pub fn rank(&self, key: StickyKey, now: Instant, record: bool) -> usize {
        let slot = &self.slots[(key.0 as usize) & (self.slots.len() - 1)];
        let tag = key.0 >> 40;
        // Saturates after 136 years.
        let secs = now
            .saturating_duration_since(self.epoch)
            .as_secs()
            .min(u64::from(u32::MAX - 1))
            + 1;
        let old = slot.load(Ordering::Relaxed);
        let (old_tag, old_secs, old_count) = (old >> 40, (old >> 8) & 0xffff_ffff, old & 0xff);
        let retry = old != 0 && old_tag == tag && secs.saturating_sub(old_secs) <= WINDOW;
        // Wraps after 255 retries (round the ranking again, near enough).
        let count = if retry { (old_count + 1) & 0xff } else { 0 };
        if record {
            // Lossy: a racing request from the same client may be lost,
            // which only delays its move to the next mirror by one retry.
            slot.store((tag << 40) | (secs << 8) | count, Ordering::Relaxed);
        }
        count as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn repeats_within_the_window_walk_on_and_others_start_at_zero() {
        let r = Retries::default();
        let t0 = Instant::now();
        let a = StickyKey(0x1234_5678_9abc_def0);
        let b = StickyKey(0x0fed_cba9_8765_4321);
        assert_eq!(r.rank(a, t0, true), 0);
        assert_eq!(r.rank(a, t0 + Duration::from_secs(5), true), 1);
        assert_eq!(r.rank(a, t0 + Duration::from_secs(10), true), 2);
        // Someone else is not retrying.
        assert_eq!(r.rank(b, t0 + Duration::from_secs(10), true), 0);
        // A lookup that does not record sees where the client is.
        assert_eq!(r.rank(a, t0 + Duration::from_secs(11), false), 3);
        assert_eq!(r.rank(a, t0 + Duration::from_secs(11), true), 3);
        // After the window, a fresh start.
        let later = t0 + Duration::from_secs(11 + WINDOW + 1);
        assert_eq!(r.rank(a, later, true), 0);
    }

    #[test]
    fn the_window_counts_from_the_latest_request() {
        let r = Retries::default();
        let t0 = Instant::now();
        let a = StickyKey(42 << 40 | 7);
        assert_eq!(r.rank(a, t0, true), 0);
        let mut t = t0;
        for n in 1..=5 {
            t += Duration::from_secs(WINDOW);
            assert_eq!(r.rank(a, t, true), n);
        }
    }

    #[test]
    fn a_slot_taken_by_another_key_forgets_lossily() {
        // One slot: every key shares it.
        let r = Retries::with_slots(1);
        let t0 = Instant::now();
        let a = StickyKey(1 << 40);
        let b = StickyKey(2 << 40);
        assert_eq!(r.rank(a, t0, true), 0);
        assert_eq!(r.rank(a, t0, true), 1);
        assert_eq!(r.rank(b, t0, true), 0);
        // a's entry was overwritten: it starts again.
        assert_eq!(r.rank(a, t0, true), 0);
    }

    #[test]
    fn the_count_wraps_and_keeps_walking() {
        let r = Retries::with_slots(4);
        let t0 = Instant::now();
        let a = StickyKey(99 << 40);
        for n in 0..300 {
            assert_eq!(r.rank(a, t0, true), n % 256);
        }
    }
}
