//! `/metrics` in the Prometheus text format, encoded by `prometheus-client` from the
//! gathered figures ([`super::gather`]) and what this process recorded
//! ([`super::recorder`]). Label cardinality: only lag and checkpoint age are per
//! partition (one series each per partition: 2,000 at 1,000 partitions); every counter
//! and the latency histogram are per task and source topic, errors and offset-sync runs
//! per task.

use std::collections::BTreeSet;
use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::gather::{TaskFigures, TopicFigures};
use super::latency::{BOUNDS_MS, Histogram};
use super::recorder::Figures;

/// The content type of the Prometheus text format, version 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The exposition of `tasks`, with what was recorded for them (and nothing recorded for
/// tasks outside them: another tenant's, or deleted).
pub fn encode(tasks: Vec<TaskFigures>, recorded: &Figures) -> String {
    let ids: BTreeSet<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
    let mut kept = Figures::default();
    for id in ids {
        let of_task = recorded.of_task(id);
        kept.latency.extend(of_task.latency);
        kept.errors.extend(of_task.errors);
        kept.offset_runs.extend(of_task.offset_runs);
    }
    kept.store_writes = recorded.store_writes;
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Exposition {
        tasks,
        recorded: kept,
    }));
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
        .expect("writing to a String cannot fail");
    text
}

/// A per-topic counter: its name, its help, and its value of a topic.
type Counter = (&'static str, &'static str, fn(&TopicFigures) -> u64);

#[derive(Debug)]
struct Exposition {
    tasks: Vec<TaskFigures>,
    recorded: Figures,
}

/// One metric family: its descriptor, then the series `write` adds.
fn family(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    write: impl FnOnce(&mut MetricEncoder) -> fmt::Result,
) -> fmt::Result {
    write(&mut encoder.encode_descriptor(name, help, None, kind)?)
}

fn gauge(metric: &mut MetricEncoder, labels: &impl EncodeLabelSet, value: f64) -> fmt::Result {
    metric.encode_family(labels)?.encode_gauge(&value)
}

fn counter(metric: &mut MetricEncoder, labels: &impl EncodeLabelSet, value: u64) -> fmt::Result {
    metric
        .encode_family(labels)?
        .encode_counter::<NoLabelSet, _, u64>(&value, None)
}

impl Exposition {
    /// Each (task, topic) of the gathered tasks.
    fn topics(&self) -> impl Iterator<Item = (&TaskFigures, &TopicFigures)> {
        self.tasks
            .iter()
            .flat_map(|task| task.topics.iter().map(move |topic| (task, topic)))
    }

    fn tasks(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        family(
            encoder,
            "kafka_sync_task",
            "A task: its name, kind and state (running, paused, failed)",
            MetricType::Info,
            |m| {
                for t in &self.tasks {
                    let labels = [
                        ("task", t.id.as_str()),
                        ("name", &t.name),
                        ("kind", &t.kind),
                        ("state", t.state),
                    ];
                    m.encode_info(&labels)?;
                }
                Ok(())
            },
        )?;
        family(
            encoder,
            "kafka_sync_source_reachable",
            "1 when the task's source answered for its log ends at this scrape; lag needs it",
            MetricType::Gauge,
            |m| {
                for t in &self.tasks {
                    let up = if t.source_reachable { 1.0 } else { 0.0 };
                    gauge(m, &[("task", t.id.as_str())], up)?;
                }
                Ok(())
            },
        )
    }

    fn counters(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        let counters: [Counter; 5] = [
            (
                "kafka_sync_records_copied",
                "Records the target acknowledged and the checkpoint passed",
                |t| t.copied,
            ),
            (
                "kafka_sync_bytes_copied",
                "Key and value bytes of the records copied",
                |t| t.bytes,
            ),
            (
                "kafka_sync_records_discarded",
                "Records skipped by the discard policy (topic tasks)",
                |t| t.discarded,
            ),
            (
                "kafka_sync_records_dead_lettered",
                "Records sent to the dead-letter topic (topic tasks)",
                |t| t.dead_lettered,
            ),
            (
                "kafka_sync_records_lost",
                "Records retention deleted from the source before they were copied",
                |t| t.lost,
            ),
        ];
        for (name, help, value) in counters {
            family(encoder, name, help, MetricType::Counter, |m| {
                for (task, topic) in self.topics() {
                    let labels = [("task", task.id.as_str()), ("topic", &topic.topic)];
                    counter(m, &labels, value(topic))?;
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    fn partitions(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        family(
            encoder,
            "kafka_sync_partitions",
            "Partitions by state: copying, or stalled on a record the target refuses",
            MetricType::Gauge,
            |m| {
                for (task, topic) in self.topics() {
                    let stalled = topic.partitions.iter().filter(|p| p.stalled).count();
                    let copying = topic.partitions.len() - stalled;
                    for (state, count) in [("copying", copying), ("stalled", stalled)] {
                        let labels = [
                            ("task", task.id.as_str()),
                            ("topic", &topic.topic),
                            ("state", state),
                        ];
                        gauge(m, &labels, count as f64)?;
                    }
                }
                Ok(())
            },
        )?;
        family(
            encoder,
            "kafka_sync_lost_partitions",
            "Partitions that lost records to retention before they were copied",
            MetricType::Gauge,
            |m| {
                for (task, topic) in self.topics() {
                    let lost = topic.partitions.iter().filter(|p| p.lost > 0).count();
                    let labels = [("task", task.id.as_str()), ("topic", &topic.topic)];
                    gauge(m, &labels, lost as f64)?;
                }
                Ok(())
            },
        )
    }

    fn per_partition(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        family(
            encoder,
            "kafka_sync_lag_records",
            "Records on the source not copied yet (log end minus checkpoint)",
            MetricType::Gauge,
            |m| {
                for (task, topic) in self.topics() {
                    for p in &topic.partitions {
                        let Some(lag) = p.lag else { continue };
                        let partition = p.partition.to_string();
                        let labels = [
                            ("task", task.id.as_str()),
                            ("topic", &topic.topic),
                            ("partition", &partition),
                        ];
                        gauge(m, &labels, lag as f64)?;
                    }
                }
                Ok(())
            },
        )?;
        family(
            encoder,
            "kafka_sync_checkpoint_age_seconds",
            "How long a partition with lag has not had its checkpoint move (0 without lag)",
            MetricType::Gauge,
            |m| {
                for (task, topic) in self.topics() {
                    for p in topic.partitions.iter().filter(|p| p.lag.is_some()) {
                        let partition = p.partition.to_string();
                        let labels = [
                            ("task", task.id.as_str()),
                            ("topic", &topic.topic),
                            ("partition", &partition),
                        ];
                        gauge(m, &labels, p.checkpoint_age_secs)?;
                    }
                }
                Ok(())
            },
        )
    }

    fn latency(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        family(
            encoder,
            "kafka_sync_replication_latency_seconds",
            "From a source record's timestamp to the target's acknowledgement of its copy",
            MetricType::Histogram,
            |m| {
                for ((task, topic), histogram) in &self.recorded.latency {
                    let labels = [("task", task.as_str()), ("topic", topic)];
                    let (sum, count, buckets) = seconds(histogram);
                    m.encode_family(&labels)?
                        .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
                }
                Ok(())
            },
        )
    }

    fn recorded(&self, encoder: &mut DescriptorEncoder) -> fmt::Result {
        family(
            encoder,
            "kafka_sync_offset_sync_runs",
            "Consumer-group offset-sync runs, by outcome (ok, failed)",
            MetricType::Counter,
            |m| {
                for (task, runs) in &self.recorded.offset_runs {
                    for (outcome, count) in [("ok", runs.succeeded), ("failed", runs.failed)] {
                        counter(m, &[("task", task.as_str()), ("outcome", outcome)], count)?;
                    }
                }
                Ok(())
            },
        )?;
        family(
            encoder,
            "kafka_sync_offset_sync_groups",
            "Groups offset-sync runs handled, by what they did: synced, or skipped (active_on_target, waiting_for_data), or failed",
            MetricType::Counter,
            |m| {
                for (task, runs) in &self.recorded.offset_runs {
                    for (status, count) in &runs.groups {
                        counter(m, &[("task", task.as_str()), ("status", status)], *count)?;
                    }
                }
                Ok(())
            },
        )?;
        family(
            encoder,
            "kafka_sync_errors",
            "Errors and warnings by kind (the event kinds: stalled, lost, rewound, processing, offsets, replication, ...; transient: a worker retried)",
            MetricType::Counter,
            |m| {
                for ((task, kind), count) in &self.recorded.errors {
                    counter(m, &[("task", task.as_str()), ("kind", kind)], *count)?;
                }
                Ok(())
            },
        )?;
        let (writes, unlabelled): (_, [(&str, &str); 0]) = (self.recorded.store_writes, []);
        family(
            encoder,
            "kafka_sync_store_writes",
            "Write requests this process made to the task store, every task's together (a checkpoint commit is one)",
            MetricType::Counter,
            |m| counter(m, &unlabelled, writes.requests),
        )?;
        family(
            encoder,
            "kafka_sync_store_items_written",
            "Items those write requests wrote, deleted or checked",
            MetricType::Counter,
            |m| counter(m, &unlabelled, writes.items),
        )
    }
}

/// A histogram in seconds, as `prometheus-client` takes it: sum, count and per-bucket
/// (not cumulative) counts with their upper bounds, the last one +Inf.
fn seconds(histogram: &Histogram) -> (f64, u64, Vec<(f64, u64)>) {
    let bounds = BOUNDS_MS
        .iter()
        .map(|ms| *ms as f64 / 1000.0)
        .chain([f64::INFINITY]);
    let buckets = bounds.zip(histogram.counts).collect();
    (histogram.sum_ms as f64 / 1000.0, histogram.count, buckets)
}

impl Collector for Exposition {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        self.tasks(&mut encoder)?;
        self.counters(&mut encoder)?;
        self.partitions(&mut encoder)?;
        self.per_partition(&mut encoder)?;
        self.latency(&mut encoder)?;
        self.recorded(&mut encoder)
    }
}
