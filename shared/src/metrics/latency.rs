//! Replication latency: from a source record's timestamp to the target's acknowledgement
//! of its copy, as the worker sees that acknowledgement (at the next record it sends, or
//! when it settles the batch). Kept as bucket counts, so a batch's latencies fold into a
//! topic's in one step and a histogram costs the same whatever the record count.

use rdkafka::Timestamp;

/// Upper bounds of the buckets, in milliseconds: from a local copy (about a millisecond)
/// to a partition catching up a minute behind. Larger values go to one more bucket.
pub const BOUNDS_MS: [u64; 14] = [
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 60_000,
];

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    /// Observations per bucket of [`BOUNDS_MS`] (not cumulative), the last one above them.
    pub counts: [u64; BOUNDS_MS.len() + 1],
    pub sum_ms: u64,
    pub count: u64,
}

impl Histogram {
    pub fn observe(&mut self, ms: u64) {
        let bucket = BOUNDS_MS.partition_point(|&bound| bound < ms);
        self.counts[bucket] += 1;
        self.sum_ms += ms;
        self.count += 1;
    }

    pub fn add(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts) {
            *mine += theirs;
        }
        self.sum_ms += other.sum_ms;
        self.count += other.count;
    }

    /// What was observed after `earlier` (a copy of this histogram taken before).
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        let mut counts = self.counts;
        for (count, before) in counts.iter_mut().zip(earlier.counts) {
            *count = count.saturating_sub(before);
        }
        Histogram {
            counts,
            sum_ms: self.sum_ms.saturating_sub(earlier.sum_ms),
            count: self.count.saturating_sub(earlier.count),
        }
    }

    pub fn mean_ms(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum_ms as f64 / self.count as f64)
    }
}

/// One batch's latencies, per route (the worker's index of a partition it reads).
#[derive(Debug, Default)]
pub struct LatencyTally {
    by_route: Vec<Histogram>,
}

impl LatencyTally {
    /// The worker saw at `seen_ms` (epoch milliseconds) the target's acknowledgement of
    /// the copy of a record of `route` stamped `timestamp`. A record without a timestamp
    /// has no latency; one stamped in the future counts 0.
    pub fn observe(&mut self, route: usize, timestamp: Timestamp, seen_ms: i64) {
        let Some(stamped) = timestamp.to_millis() else {
            return;
        };
        if self.by_route.len() <= route {
            self.by_route.resize_with(route + 1, Histogram::default);
        }
        self.by_route[route].observe((seen_ms - stamped).max(0) as u64);
    }

    /// Each route that has observations, with them.
    pub fn routes(&self) -> impl Iterator<Item = (usize, &Histogram)> {
        self.by_route
            .iter()
            .enumerate()
            .filter(|(_, histogram)| histogram.count > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_value_lands_in_the_first_bucket_at_or_above_it() {
        let mut histogram = Histogram::default();
        for ms in [0, 1, 2, 3, 60_000, 60_001] {
            histogram.observe(ms);
        }
        assert_eq!(histogram.counts[0], 2, "0 and 1 ms");
        assert_eq!(histogram.counts[1], 1, "2 ms");
        assert_eq!(histogram.counts[2], 1, "3 ms goes to 5");
        assert_eq!(histogram.counts[BOUNDS_MS.len() - 1], 1, "60 s");
        assert_eq!(histogram.counts[BOUNDS_MS.len()], 1, "above every bound");
        assert_eq!((histogram.count, histogram.sum_ms), (6, 120_007));
    }

    #[test]
    fn since_is_what_was_added_after_a_copy() {
        let mut histogram = Histogram::default();
        histogram.observe(3);
        let before = histogram.clone();
        histogram.observe(700);
        let delta = histogram.since(&before);
        assert_eq!((delta.count, delta.sum_ms), (1, 700));
        assert_eq!(delta.mean_ms(), Some(700.0));
        assert_eq!(Histogram::default().mean_ms(), None);
    }

    #[test]
    fn a_tally_keeps_routes_apart_and_skips_records_without_time() {
        let mut tally = LatencyTally::default();
        let now = 1_764_000_000_000;
        tally.observe(2, Timestamp::CreateTime(now - 40), now);
        tally.observe(2, Timestamp::CreateTime(now + 5_000), now);
        tally.observe(0, Timestamp::NotAvailable, now);
        let routes: Vec<(usize, u64)> = tally.routes().map(|(r, h)| (r, h.count)).collect();
        assert_eq!(routes, vec![(2, 2)]);
        let (_, histogram) = tally.routes().next().unwrap();
        assert_eq!(histogram.sum_ms, 40, "future counts 0");
    }
}
