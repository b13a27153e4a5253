//! The worker loop: read a batch, send it, checkpoint it once acknowledged; re-check the
//! task and the slot's partitions now and then, at a batch boundary.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::FutureProducer;
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use super::batch::{Batch, OnRefusal};
use super::budget::Share;
use super::checkpointing::Unwritten;
use super::clients::learn_topics;
use super::handling::Handling;
use super::send::{origin_tag, shared_producer};
use super::{Worker, WorkerError, WorkerExit, consumer_config, kafka};
use crate::assignment::Route;
use crate::kafka::ClusterAccess;
use crate::kafka::TIMEOUT;
use crate::kafka_admin::KafkaAdmin;
use crate::lifecycle::{TaskRecord, TaskState};
use crate::store::{Lease, Level, OffsetRun, Owned, PartitionRef, StoreError};
use crate::task::TaskSpec;
use crate::topology::task_routes;

/// How soon a worker looks again for a target topic or partition that is not there yet.
const INCOMPLETE_RECHECK: Duration = Duration::from_secs(1);

/// How many sent batches may wait for their acknowledgements while the next is read.
/// Checkpoints still follow in order, each only after its batch is acknowledged; what a
/// killed worker copies again is at most this many batches and the one being read.
pub(super) const MAX_PENDING_BATCHES: usize = 1;

/// A target record's key and value, borrowed from the source record or its outputs; a
/// null stays null.
pub(super) type KeyValue<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// What the worker knows about the task while it runs.
pub(super) struct Context {
    pub(super) task: TaskRecord,
    pub(super) source: ClusterAccess,
    /// The source's admin client.
    pub(super) admin: Arc<KafkaAdmin>,
    pub(super) target: ClusterAccess,
    /// The origin tags of both clusters (see `send::origin_tag`).
    pub(super) source_tag: [u8; 8],
    pub(super) target_tag: [u8; 8],
}

/// A route with where its records go on the target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Placed {
    pub(super) route: Route,
    pub(super) target_partition: Option<i32>,
}

/// How the worker treats records of a route it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ReadState {
    Copy,
    /// A stalled route tried again: only its refused record is sent (`true` once it is)
    /// until the target's answer is known.
    Probe(bool),
    /// Stalled, or lost to another worker, since the consumer was last assigned.
    Skip,
}

/// What the worker copies now.
#[derive(Default)]
pub(super) struct Copying {
    /// This slot's routes that can be placed on the target.
    pub(super) mine: Vec<Placed>,
    /// Whether every route of the slot could be placed.
    pub(super) complete: bool,
    /// The checkpoint of each partition this worker owns.
    pub(super) owned: HashMap<PartitionRef, Owned>,
    /// The routes the consumer reads; batches refer to them by index.
    pub(super) reading: Vec<Placed>,
    pub(super) states: Vec<ReadState>,
    pub(super) index: HashMap<String, HashMap<i32, usize>>,
    /// The newest offset-map run written for each owned partition: a batch whose first
    /// copy continues it extends it (the same item) rather than starting a run.
    pub(super) open_runs: HashMap<PartitionRef, OffsetRun>,
    /// What `owned` and `open_runs` hold that the store does not have yet.
    pub(super) unwritten: Unwritten,
}

impl Copying {
    pub(super) fn find(&self, topic: &str, partition: i32) -> Option<usize> {
        self.index.get(topic)?.get(&partition).copied()
    }

    /// Assigns the consumer every owned route of the slot at its checkpoint, leaving
    /// stalled ones out unless `probe` (then each sends its refused record once more).
    pub(super) fn assign(
        &mut self,
        consumer: &StreamConsumer,
        probe: bool,
    ) -> Result<(), WorkerError> {
        let mut assignment = TopicPartitionList::new();
        self.reading.clear();
        self.states.clear();
        self.index.clear();
        for placed in &self.mine {
            let source = &placed.route.source;
            let Some(owned) = self.owned.get(source) else {
                continue;
            };
            let state = match owned.checkpoint.stalled {
                None => ReadState::Copy,
                Some(_) if probe => ReadState::Probe(false),
                Some(_) => continue,
            };
            let next = owned.checkpoint.next_offset;
            let offset = if next < 0 {
                Offset::Beginning
            } else {
                Offset::Offset(next)
            };
            assignment
                .add_partition_offset(&source.topic, source.partition, offset)
                .map_err(kafka("assign"))?;
            let route = self.reading.len();
            self.index
                .entry(source.topic.clone())
                .or_default()
                .insert(source.partition, route);
            self.reading.push(placed.clone());
            self.states.push(state);
        }
        consumer.assign(&assignment).map_err(kafka("assign"))
    }

    /// A batch's runs per route, as runs per partition to write: the first of each
    /// merged into the partition's open run when it continues it, or, when the
    /// partition has no open run yet, preceded by an empty run at where reading began
    /// (when that is before the first copy).
    pub(super) fn runs_to_write(
        &self,
        runs: HashMap<usize, Vec<OffsetRun>>,
    ) -> Vec<(PartitionRef, OffsetRun)> {
        let mut out = Vec::new();
        for (route, runs) in runs {
            let partition = &self.reading[route].route.source;
            let mut runs = runs.into_iter();
            let Some(mut first) = runs.next() else {
                continue;
            };
            match self.open_runs.get(partition) {
                Some(open) if open.continued_by(&first) => {
                    first = OffsetRun {
                        length: open.length + first.length,
                        ..*open
                    };
                }
                Some(_) => {}
                None => {
                    // The first copy since the partition was taken. Reading began at its
                    // checkpoint, so the offsets before the first copy held no record a
                    // consumer sees (markers, aborted or compacted-away records): a
                    // commit among them translates to the first copy, as across any gap.
                    let start = self
                        .owned
                        .get(partition)
                        .map_or(first.source_start, |o| o.checkpoint.next_offset.max(0));
                    if start < first.source_start {
                        let marker = OffsetRun {
                            source_start: start,
                            target_start: first.target_start,
                            length: 0,
                        };
                        out.push((partition.clone(), marker));
                    }
                }
            }
            out.push((partition.clone(), first));
            out.extend(runs.map(|run| (partition.clone(), run)));
        }
        out
    }

    /// Whether what the batch being settled read of `route` came before its stall was
    /// known: its partition is stalled and is not being probed. Such records are sent
    /// again once the stall is over, so they change nothing now.
    pub(super) fn read_before_stall(&self, route: usize) -> bool {
        let source = &self.reading[route].route.source;
        self.owned.get(source).is_some_and(|o| {
            o.checkpoint.stalled.is_some() && !matches!(self.states[route], ReadState::Probe(_))
        })
    }

    /// Drops the partitions another worker took: they are that worker's now. True when
    /// there were any (what the consumer reads must change).
    pub(super) fn drop_lost(&mut self, lost: &[PartitionRef]) -> bool {
        for p in lost {
            self.owned.remove(p);
            self.open_runs.remove(p);
            if let Some(route) = self.find(&p.topic, p.partition) {
                self.states[route] = ReadState::Skip;
            }
        }
        !lost.is_empty()
    }

    fn stalled(&self) -> bool {
        self.owned.values().any(|o| o.checkpoint.stalled.is_some())
    }
}

/// What a running worker holds besides its context, for the steps that change it.
struct Run<'a> {
    consumer: &'a Arc<StreamConsumer>,
    producer: &'a Arc<FutureProducer>,
    handling: &'a mut Handling,
    copying: &'a mut Copying,
    pending: &'a mut VecDeque<Batch>,
}

/// How one batch's reading ended.
#[derive(Default)]
pub(super) struct Read {
    /// `retain`: a message could not be processed; the task fails with this reason.
    pub(super) failure: Option<String>,
    /// The consumer found a position outside the source log.
    pub(super) out_of_range: bool,
}

impl Worker<'_> {
    /// The task as it is in the store now, `None` unless running.
    async fn context(&self) -> Result<Option<Context>, WorkerError> {
        let store = &self.services.store;
        let task = match store.get_task(&self.tenant, &self.task_id).await {
            Ok(task) => task,
            Err(StoreError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if task.state != TaskState::Running {
            return Ok(None);
        }
        let [source_id, target_id] = task.spec.connection_ids();
        let lookup = |e: crate::services::AccessLookupError| WorkerError::Config(e.to_string());
        let source = self
            .services
            .access(&self.tenant, source_id)
            .await
            .map_err(lookup)?;
        let target = self
            .services
            .access(&self.tenant, target_id)
            .await
            .map_err(lookup)?;
        let source_cluster_id = store
            .get_connection(&self.tenant, source_id)
            .await?
            .cluster_id;
        let target_cluster_id = store
            .get_connection(&self.tenant, target_id)
            .await?
            .cluster_id;
        // The process's admin client for the source: the same one while it is reached
        // the same way (`shared_clients`).
        let admin = Arc::new(KafkaAdmin::new(&source).map_err(WorkerError::Admin)?);
        Ok(Some(Context {
            task,
            admin,
            source,
            target,
            source_tag: origin_tag(&source_cluster_id),
            target_tag: origin_tag(&target_cluster_id),
        }))
    }

    /// This slot's routes whose target topic exists, each with the target partition its
    /// records go to (`None`: by key), and whether every route of the slot is placed.
    /// An instance task with `same_partition` needs the same partition on the target; a
    /// topic task uses it when the target has it. A route that cannot be placed yet
    /// waits for metadata sync to create its topic or partition. `None`: the slot is
    /// beyond the task's slot count.
    async fn my_routes(
        &self,
        context: &Context,
    ) -> Result<Option<(Vec<Placed>, bool)>, WorkerError> {
        let all = task_routes(&context.source, &context.task.spec).await?;
        let assignment = self
            .services
            .store
            .refresh_assignment(&self.task_id, &all)
            .await?;
        if self.slot >= assignment.slots {
            return Ok(None);
        }
        let target_partitions = context.target.topic_partitions(TIMEOUT).await?;
        let mine = assignment.routes_of_slot(all, self.slot);
        let wanted = mine.len();
        let placed: Vec<Placed> = mine
            .into_iter()
            .filter_map(|route| {
                let available = *target_partitions.get(&route.target_topic)? as i32;
                let partition = route.source.partition;
                let target_partition = match &context.task.spec {
                    TaskSpec::Instance(i) if i.same_partition => {
                        Some((partition < available).then_some(partition)?)
                    }
                    TaskSpec::Instance(_) => None,
                    TaskSpec::Topic(_) => (partition < available).then_some(partition),
                };
                Some(Placed {
                    route,
                    target_partition,
                })
            })
            .collect();
        let complete = placed.len() == wanted;
        Ok(Some((placed, complete)))
    }

    /// Makes the slot's routes `fresh`: drops partitions no longer the slot's, takes the
    /// new ones (at their checkpoints in the store now), and assigns the consumer. The
    /// consumer learns the new partitions' leaders and the producer their target topics
    /// meanwhile, so neither holds up the first record with a metadata request of its own.
    async fn adopt(
        &self,
        lease: &Lease,
        context: &Context,
        consumer: &Arc<StreamConsumer>,
        producer: &Arc<FutureProducer>,
        copying: &mut Copying,
        (fresh, complete): (Vec<Placed>, bool),
    ) -> Result<(), WorkerError> {
        let wanted: HashSet<&PartitionRef> = fresh.iter().map(|p| &p.route.source).collect();
        copying.owned.retain(|p, _| wanted.contains(p));
        copying.open_runs.retain(|p, _| wanted.contains(p));
        let adding: Vec<&Placed> = fresh
            .iter()
            .filter(|p| !copying.owned.contains_key(&p.route.source))
            .collect();
        let new: Vec<PartitionRef> = adding.iter().map(|p| p.route.source.clone()).collect();
        let targets: HashSet<String> = adding
            .iter()
            .map(|p| p.route.target_topic.clone())
            .collect();
        // Independent round trips, at once: the first records wait for all three.
        let (leaders, known, taken) = tokio::join!(
            learn_leaders(consumer, &new),
            learn_topics(producer, targets.into_iter().collect()),
            self.take(lease, context, new.clone(), &mut copying.owned),
        );
        leaders.and(known).and(taken)?;
        copying.mine = fresh;
        copying.complete = complete;
        copying.assign(consumer, true)
    }

    pub(super) async fn run_holding(
        &self,
        lease: &mut Lease,
        stop: &CancellationToken,
        deadline: Option<Instant>,
    ) -> Result<WorkerExit, WorkerError> {
        let store = &self.services.store;
        let started = Instant::now();
        let Some(mut context) = self.context().await? else {
            return Ok(WorkerExit::NothingToDo);
        };
        let Some(routes) = self.my_routes(&context).await? else {
            return Ok(WorkerExit::NothingToDo);
        };
        let share = Share::claim();
        let consumer: Arc<StreamConsumer> = Arc::new(
            consumer_config(&context.source, &self.task_id, routes.0.len())
                .create()
                .map_err(kafka("consumer"))?,
        );
        let producer = shared_producer(&context.target)?;
        let mut copying = Copying::default();
        self.adopt(lease, &context, &consumer, &producer, &mut copying, routes)
            .await?;
        tracing::debug!(
            task = %self.task_id,
            slot = self.slot,
            partitions = copying.owned.len(),
            ms = started.elapsed().as_millis() as u64,
            "worker took its partitions"
        );
        let mut handling = Handling::of(&context.task.spec)?;
        let (mut renewed, mut rechecked) = (Instant::now(), Instant::now());
        let mut reported_kinds: HashSet<&'static str> = HashSet::new();
        // Batches sent and not yet checkpointed, oldest first.
        let mut pending: VecDeque<Batch> = VecDeque::new();
        // Since when every read found nothing, all sent was settled and nothing stalls.
        let mut quiet_since: Option<Instant> = None;
        loop {
            if stop.is_cancelled() || deadline.is_some_and(|d| Instant::now() >= d) {
                self.settle_all(lease, &producer, &handling, &mut copying, &mut pending)
                    .await?;
                return Ok(WorkerExit::Stopped);
            }
            if renewed.elapsed() >= self.settings.renew_every {
                store
                    .renew_lease(lease, self.settings.lease_ttl.as_millis() as i64)
                    .await?;
                renewed = Instant::now();
            }
            let recheck = if copying.complete {
                self.settings.reassign_every
            } else {
                INCOMPLETE_RECHECK
            };
            if rechecked.elapsed() >= recheck {
                rechecked = Instant::now();
                let mut run = Run {
                    consumer: &consumer,
                    producer: &producer,
                    handling: &mut handling,
                    copying: &mut copying,
                    pending: &mut pending,
                };
                if let Some(exit) = self.recheck(lease, &mut context, &mut run).await? {
                    return Ok(exit);
                }
            }

            let mut batch = Batch::with_limits(share.batch_limits(&self.settings));
            let read = self
                .read_batch(
                    &context,
                    &consumer,
                    &producer,
                    &handling,
                    &mut copying,
                    &mut batch,
                    stop,
                    &mut reported_kinds,
                )
                .await?;
            let idle = batch.records == 0;
            if !idle {
                pending.push_back(batch);
            }
            let mut reassign = false;
            if idle || read.failure.is_some() || read.out_of_range {
                reassign |= self
                    .settle_all(lease, &producer, &handling, &mut copying, &mut pending)
                    .await?;
            }
            // Only while what the consumer reads is unchanged: a partition coming out of a
            // stall skipped records while probed, and is read again from its checkpoint.
            if idle && !reassign {
                reassign |= self
                    .step_over_markers(lease, &consumer, &mut copying)
                    .await?;
            }
            // The target acknowledges earlier batches while later ones are read and sent.
            while pending.len() > MAX_PENDING_BATCHES {
                let oldest = pending.pop_front().expect("more than one pending batch");
                reassign |= self
                    .settle(
                        lease,
                        &producer,
                        &handling,
                        &mut copying,
                        oldest,
                        &mut pending,
                    )
                    .await?;
            }
            if let Some(reason) = read
                .failure
                .or_else(|| self.failure_of(&copying, &handling))
            {
                // `retain`: the checkpoint stays before the message; no retries.
                self.settle_all(lease, &producer, &handling, &mut copying, &mut pending)
                    .await?;
                self.fail_task(&reason).await?;
                return Ok(WorkerExit::TaskFailed);
            }
            if read.out_of_range {
                let partitions: Vec<PartitionRef> = copying.owned.keys().cloned().collect();
                self.hold_to_log(lease, &context, partitions, &mut copying.owned)
                    .await?;
                reassign = true;
            }
            if reassign {
                self.settle_all(lease, &producer, &handling, &mut copying, &mut pending)
                    .await?;
                copying.assign(&consumer, false)?;
            }
            let quiet = idle && !reassign && pending.is_empty() && !copying.stalled();
            quiet_since = quiet.then(|| quiet_since.unwrap_or_else(Instant::now));
            if let (Some(since), Some(after)) = (quiet_since, self.settings.idle_exit)
                && since.elapsed() >= after
            {
                return Ok(WorkerExit::Idle);
            }
        }
    }

    /// Re-reads the task and the slot's partitions and, at a batch boundary, takes up
    /// what changed: a live edit of the handling, partitions moved or added, stalled
    /// partitions to try again, topics re-created under the same name. `Some` when the
    /// worker has nothing more to do.
    async fn recheck(
        &self,
        lease: &Lease,
        context: &mut Context,
        run: &mut Run<'_>,
    ) -> Result<Option<WorkerExit>, WorkerError> {
        let fresh = match self.context().await? {
            Some(fresh) => self.my_routes(&fresh).await?.map(|routes| (fresh, routes)),
            None => None,
        };
        let Some((fresh, routes)) = fresh else {
            self.settle_all(lease, run.producer, run.handling, run.copying, run.pending)
                .await?;
            return Ok(Some(WorkerExit::NothingToDo));
        };
        let edited = fresh.task.spec != context.task.spec;
        let recreated = self.recreated(&fresh, &run.copying.owned).await?;
        if !(edited
            || routes.0 != run.copying.mine
            || run.copying.stalled()
            || !recreated.is_empty())
        {
            return Ok(None);
        }
        // What was sent is checkpointed under the old handling and routes first.
        self.settle_all(lease, run.producer, run.handling, run.copying, run.pending)
            .await?;
        if edited {
            *run.handling = Handling::of(&fresh.task.spec)?;
        }
        *context = fresh;
        self.hold_to_log(lease, context, recreated, &mut run.copying.owned)
            .await?;
        self.adopt(
            lease,
            context,
            run.consumer,
            run.producer,
            run.copying,
            routes,
        )
        .await?;
        Ok(None)
    }

    /// Under `retain`, a record the target refused fails the task.
    fn failure_of(&self, copying: &Copying, handling: &Handling) -> Option<String> {
        if handling.on_refusal() != OnRefusal::Fail {
            return None;
        }
        copying.owned.iter().find_map(|(p, owned)| {
            let stall = owned.checkpoint.stalled.as_ref()?;
            Some(format!(
                "the target refused the record {}/{} at offset {} ({}: {})",
                p.topic, p.partition, stall.offset, stall.code, stall.message
            ))
        })
    }

    async fn fail_task(&self, reason: &str) -> Result<(), WorkerError> {
        let store = &self.services.store;
        store
            .update_task(&self.tenant, &self.task_id, |task| {
                Ok(task.with_state(TaskState::Failed, Some(reason.to_owned())))
            })
            .await?;
        let message = format!("state failed: {reason}");
        let _ = store
            .add_event(&self.task_id, Level::Error, "state", &message)
            .await;
        Ok(())
    }
}

/// Has the consumer learn the leaders of `partitions`' topics before they are assigned:
/// a partition assigned from the log start while its leader is unknown waits for
/// librdkafka's fixed 500 ms offset-query retry, which a new task's first record would
/// wait for too.
async fn learn_leaders(
    consumer: &Arc<StreamConsumer>,
    partitions: &[PartitionRef],
) -> Result<(), WorkerError> {
    let topics: HashSet<String> = partitions.iter().map(|p| p.topic.clone()).collect();
    learn_topics(consumer, topics.into_iter().collect()).await
}
