//! What a settled batch tells the metrics ([`crate::metrics`]): per source topic its
//! latencies and what it copied (which partitions' checkpoints were written is told by
//! `checkpointing`). Called once per batch, so the per-record path only counts into the
//! batch's own tally.

use std::collections::BTreeMap;

use super::Worker;
use super::worker::Copying;
use crate::metrics::{Copied, Histogram, LatencyTally, batch_settled};
use crate::store::Checkpoint;

impl Worker<'_> {
    pub(super) fn observe_settled(
        &self,
        copying: &Copying,
        latency: &LatencyTally,
        growth: &BTreeMap<usize, Checkpoint>,
    ) {
        let mut topics: BTreeMap<&str, (Option<Histogram>, Copied)> = BTreeMap::new();
        let topic = |route: usize| copying.reading[route].route.source.topic.as_str();
        for (route, histogram) in latency.routes() {
            let (total, _) = topics.entry(topic(route)).or_default();
            total.get_or_insert_with(Histogram::default).add(histogram);
        }
        for (route, grown) in growth {
            let (_, copied) = topics.entry(topic(*route)).or_default();
            copied.records += grown.copied;
            copied.bytes += grown.bytes;
        }
        batch_settled(
            &self.task_id,
            topics
                .iter()
                .map(|(topic, (latency, copied))| (*topic, latency.as_ref(), *copied)),
        );
    }
}
