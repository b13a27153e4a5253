//! A replicator worker: holds one slot of one task by lease, copies its partitions from
//! the source to the target in batches, and checkpoints a batch only after the target
//! has acknowledged every record of it. Runs until told to stop (locally) or until just
//! before its Lambda deadline; a worker that loses its lease stops without writing.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::future_producer::{Delivery, OwnedDeliveryResult};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use crate::assignment::{Route, routes_of_slot, slot_count};
use crate::error_policy::{Decision, Origin, decide};
use crate::kafka::ClusterAccess;
use crate::lifecycle::{TaskRecord, TaskState};
use crate::processing::{self, CompiledProcessing, Output};
use crate::services::Services;
use crate::store::{Checkpoint, Lease, Level, OffsetMapping, PartitionRef, StoreError, now_ms};
use crate::task::{OnError, TaskSpec, TopicStartOffset};
use crate::topic_metadata::select;

/// The header every replicated record carries: the cluster id it was copied from. A
/// record whose origin is the target itself is not copied back, so two tasks syncing a
/// pair of clusters both ways do not echo.
pub const ORIGIN_HEADER: &str = "ksync.origin.cluster";

/// How soon a worker looks again for a target topic or partition that is not there yet.
const INCOMPLETE_RECHECK: Duration = Duration::from_secs(1);

/// How many sent batches may wait for their acknowledgements while the next is read.
/// Checkpoints still follow in order, each only after its batch is acknowledged; what a
/// killed worker copies again is at most this many batches and the one being read.
const MAX_PENDING_BATCHES: usize = 1;

#[derive(Clone, Debug)]
pub struct WorkerSettings {
    pub lease_ttl: Duration,
    pub renew_every: Duration,
    /// How often the worker re-reads its partitions (they may grow or be re-spread).
    pub reassign_every: Duration,
    pub batch_records: usize,
    pub batch_bytes: usize,
    /// How long a batch waits for more records before it is sent anyway.
    pub batch_window: Duration,
    /// An offset mapping sample is kept at least every this many records per partition.
    pub mapping_every: i64,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            lease_ttl: Duration::from_secs(30),
            renew_every: Duration::from_secs(10),
            reassign_every: Duration::from_secs(15),
            batch_records: 10_000,
            batch_bytes: 16 * 1024 * 1024,
            batch_window: Duration::from_millis(200),
            mapping_every: 1000,
        }
    }
}

/// Why a worker stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum WorkerExit {
    /// Told to stop, or its deadline came: everything acknowledged is checkpointed.
    Stopped,
    /// Another worker holds the slot (never started, or taken over).
    LeaseLost,
    /// The slot no longer exists (fewer partitions) or the task is not running.
    NothingToDo,
    /// A message could not be processed under the `retain` policy: the task is failed.
    TaskFailed,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("kafka: {0}")]
    Kafka(String),
    #[error("{0}")]
    Access(String),
}

fn kafka(context: &str) -> impl Fn(KafkaError) -> WorkerError + '_ {
    move |e| WorkerError::Kafka(format!("{context}: {e}"))
}

/// Every partition the task copies, with its target topic: for an instance task, the
/// selected source topics (names over 128 characters truncated, collisions skipped);
/// for a topic task, its one topic.
pub async fn task_routes(
    source: &ClusterAccess,
    spec: &TaskSpec,
) -> Result<Vec<Route>, WorkerError> {
    let access = source.clone();
    let metadata = tokio::task::spawn_blocking(move || {
        let consumer: rdkafka::consumer::BaseConsumer =
            access.client_config().create().map_err(kafka("consumer"))?;
        consumer
            .fetch_metadata(None, Duration::from_secs(30))
            .map_err(kafka("metadata"))
    })
    .await
    .map_err(|e| WorkerError::Kafka(e.to_string()))??;
    let partitions: BTreeMap<&str, usize> = metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| (t.name(), t.partitions().len()))
        .collect();
    let pairs: Vec<(&str, &str)> = match spec {
        TaskSpec::Instance(instance) => select(partitions.keys().copied(), &instance.topics).0,
        TaskSpec::Topic(topic) => partitions
            .contains_key(topic.source_topic.as_str())
            .then_some((topic.source_topic.as_str(), topic.target_topic.as_str()))
            .into_iter()
            .collect(),
    };
    Ok(pairs
        .into_iter()
        .flat_map(|(source_topic, target_topic)| {
            (0..partitions[source_topic] as i32).map(move |partition| Route {
                source: PartitionRef {
                    topic: source_topic.to_owned(),
                    partition,
                },
                target_topic: target_topic.to_owned(),
            })
        })
        .collect())
}

/// Where each partition starts when it has no checkpoint: recorded when the task is
/// created, as checkpoints, for `latest` (the end offsets at that moment) and for a
/// start timestamp (the first offset at or after it). A partition without one — under
/// `earliest`, or one that appears later — is copied from its beginning.
pub async fn initial_checkpoints(
    source: &ClusterAccess,
    spec: &TaskSpec,
) -> Result<Vec<(PartitionRef, Checkpoint)>, WorkerError> {
    let timestamp = match spec {
        TaskSpec::Instance(i) if i.start_offset == crate::task::StartOffset::Latest => None,
        TaskSpec::Topic(t) if t.start_offset == TopicStartOffset::Latest => None,
        TaskSpec::Topic(t) => match t.start_offset {
            TopicStartOffset::Timestamp(ms) => Some(ms),
            _ => return Ok(Vec::new()),
        },
        _ => return Ok(Vec::new()),
    };
    let routes = task_routes(source, spec).await?;
    let access = source.clone();
    tokio::task::spawn_blocking(move || {
        let consumer: rdkafka::consumer::BaseConsumer =
            access.client_config().create().map_err(kafka("consumer"))?;
        let timeout = Duration::from_secs(30);
        let mut positions = Vec::new();
        for route in routes {
            let p = &route.source;
            let (_, high) = consumer
                .fetch_watermarks(&p.topic, p.partition, timeout)
                .map_err(kafka("watermarks"))?;
            let next_offset = match timestamp {
                None => high,
                Some(ms) => {
                    let mut query = TopicPartitionList::new();
                    query
                        .add_partition_offset(&p.topic, p.partition, Offset::Offset(ms))
                        .map_err(kafka("offsets for times"))?;
                    let found = consumer
                        .offsets_for_times(query, timeout)
                        .map_err(kafka("offsets for times"))?;
                    // No record at or after the timestamp: start at the end.
                    match found.elements().first().map(|e| e.offset()) {
                        Some(Offset::Offset(o)) if o >= 0 => o,
                        _ => high,
                    }
                }
            };
            positions.push((
                p.clone(),
                Checkpoint {
                    next_offset,
                    ..Checkpoint::default()
                },
            ));
        }
        Ok(positions)
    })
    .await
    .map_err(|e| WorkerError::Kafka(e.to_string()))?
}

/// One slot's worker.
pub struct Worker<'a> {
    pub services: &'a Services,
    pub tenant: String,
    pub task_id: String,
    pub slot: usize,
    pub owner: String,
    pub settings: WorkerSettings,
}

/// What the worker knows about the task while it runs.
struct Context {
    task: TaskRecord,
    source: ClusterAccess,
    target: ClusterAccess,
    source_cluster_id: String,
    target_cluster_id: String,
}

impl Worker<'_> {
    /// Runs until `stop` is cancelled, `deadline` passes, the lease is lost or the slot
    /// has nothing to do.
    pub async fn run(
        &self,
        stop: &CancellationToken,
        deadline: Option<Instant>,
    ) -> Result<WorkerExit, WorkerError> {
        let store = &self.services.store;
        let Some(mut lease) = store
            .acquire_lease(
                &self.task_id,
                self.slot as u32,
                &self.owner,
                self.settings.lease_ttl.as_millis() as i64,
            )
            .await?
        else {
            return Ok(WorkerExit::LeaseLost);
        };
        let outcome = self.run_holding(&mut lease, stop, deadline).await;
        if !matches!(
            outcome,
            Ok(WorkerExit::LeaseLost) | Err(WorkerError::Store(StoreError::Fenced { .. }))
        ) {
            // Free the slot at once for whoever runs next; losing it already is fine.
            let _ = store.release_lease(&lease).await;
        }
        match outcome {
            Err(WorkerError::Store(StoreError::Fenced { .. })) => Ok(WorkerExit::LeaseLost),
            other => other,
        }
    }

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
        let lookup = |e: crate::services::AccessLookupError| WorkerError::Access(e.to_string());
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
        Ok(Some(Context {
            task,
            source,
            target,
            source_cluster_id,
            target_cluster_id,
        }))
    }

    /// This slot's routes whose target topic exists, each with the target partition its
    /// records go to (`None`: by key). An instance task with `same_partition` needs the
    /// same partition on the target; a topic task uses it when the target has it. A route
    /// that cannot be placed yet waits for metadata sync to create its topic or partition;
    /// the flag says whether every route of the slot is placed.
    async fn my_routes(
        &self,
        context: &Context,
    ) -> Result<Option<(Vec<Placed>, bool)>, WorkerError> {
        let all = task_routes(&context.source, &context.task.spec).await?;
        if self.slot >= slot_count(all.len()) {
            return Ok(None);
        }
        let target_partitions = topic_partitions(&context.target).await?;
        let mine = routes_of_slot(all, self.slot);
        let wanted = mine.len();
        let placed: Vec<Placed> = mine
            .into_iter()
            .filter_map(|route| {
                let available = *target_partitions.get(&route.target_topic)?;
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

    async fn run_holding(
        &self,
        lease: &mut Lease,
        stop: &CancellationToken,
        deadline: Option<Instant>,
    ) -> Result<WorkerExit, WorkerError> {
        let store = &self.services.store;
        let Some(context) = self.context().await? else {
            return Ok(WorkerExit::NothingToDo);
        };
        let Some((mut routes, mut complete)) = self.my_routes(&context).await? else {
            return Ok(WorkerExit::NothingToDo);
        };
        let consumer: StreamConsumer = consumer_config(&context.source, &self.task_id)
            .create()
            .map_err(kafka("consumer"))?;
        let producer = shared_producer(&context.target)?;
        let mut checkpoints = store.checkpoints(&self.task_id).await?;
        let mut by_partition = assign(&consumer, &routes, &checkpoints)?;
        let mut renewed = Instant::now();
        let mut reassigned = Instant::now();
        let origin = context.source_cluster_id.as_bytes().to_vec();
        let handling = Handling::of(&context.task.spec)?;
        let mut reported_kinds: HashSet<&'static str> = HashSet::new();
        // Batches sent and not yet checkpointed, oldest first.
        let mut pending: VecDeque<Batch> = VecDeque::new();
        loop {
            if stop.is_cancelled() || deadline.is_some_and(|d| Instant::now() >= d) {
                self.settle_all(lease, &routes, &mut pending, &mut checkpoints)
                    .await?;
                return Ok(WorkerExit::Stopped);
            }
            if renewed.elapsed() >= self.settings.renew_every {
                store
                    .renew_lease(lease, self.settings.lease_ttl.as_millis() as i64)
                    .await?;
                renewed = Instant::now();
            }
            // A route waiting for its target topic is looked at again soon.
            let recheck = if complete {
                self.settings.reassign_every
            } else {
                INCOMPLETE_RECHECK
            };
            if reassigned.elapsed() >= recheck {
                reassigned = Instant::now();
                match self.context().await? {
                    Some(fresh) if fresh.task.state == TaskState::Running => {}
                    _ => return Ok(WorkerExit::NothingToDo),
                }
                match self.my_routes(&context).await? {
                    None => return Ok(WorkerExit::NothingToDo),
                    Some((fresh, fresh_complete)) => {
                        complete = fresh_complete;
                        if fresh != routes {
                            // Reassigned partitions restart from their checkpoints, so
                            // every batch sent must be checkpointed first.
                            self.settle_all(lease, &routes, &mut pending, &mut checkpoints)
                                .await?;
                            routes = fresh;
                            by_partition = assign(&consumer, &routes, &checkpoints)?;
                        }
                    }
                }
            }

            // Collect and send one batch.
            let window = tokio::time::sleep(self.settings.batch_window);
            tokio::pin!(window);
            let mut batch = Batch::default();
            let mut failure: Option<String> = None;
            while batch.records < self.settings.batch_records
                && batch.bytes < self.settings.batch_bytes
            {
                let message = tokio::select! {
                    biased;
                    _ = stop.cancelled() => break,
                    _ = &mut window => break,
                    received = consumer.recv() => received.map_err(kafka("consume"))?,
                };
                let Some(route) = by_partition.find(message.topic(), message.partition()) else {
                    continue;
                };
                let placed = &routes[route];
                let source = &placed.route.source;
                let offset = message.offset();
                batch.records += 1;
                let timestamp = message.timestamp().to_millis();
                let Some(copied_headers) = copy_headers(&message, &context.target_cluster_id)
                else {
                    // Its origin is the target itself: copying it back would echo.
                    batch.tally.done(route, offset);
                    continue;
                };
                let processed: Result<Vec<Output>, _>;
                // (key, value) of each record to send, borrowed: a copied record's bytes
                // go from the consumer's buffer straight to the producer.
                let outputs: Vec<(Option<&[u8]>, Option<&[u8]>)> = match &handling {
                    // A null value (a delete on a compacted topic) stays null.
                    Handling::Copy { .. } => vec![(message.key(), message.payload())],
                    Handling::Process { compiled, on_error } => {
                        processed = compiled.run(message.key(), message.payload(), now_ms());
                        match &processed {
                            Ok(outputs) => outputs
                                .iter()
                                .map(|o| (o.key.as_deref(), Some(o.value.as_slice())))
                                .collect(),
                            Err(error) => {
                                let at = Origin {
                                    topic: &source.topic,
                                    partition: source.partition,
                                    offset,
                                    timestamp,
                                };
                                match decide(on_error, error, &at) {
                                    Decision::Discard => {
                                        if reported_kinds.insert(error.kind) {
                                            let message = format!(
                                                "discarding messages that cannot be processed ({}); the first, at {}/{} offset {offset}: {}",
                                                error.kind,
                                                source.topic,
                                                source.partition,
                                                error.reason
                                            );
                                            let _ = store
                                                .add_event(
                                                    &self.task_id,
                                                    Level::Warn,
                                                    "processing",
                                                    &message,
                                                )
                                                .await;
                                        }
                                        batch.tally.done(route, offset).discarded += 1;
                                    }
                                    Decision::Stop { reason } => {
                                        failure = Some(reason);
                                        break;
                                    }
                                    Decision::DeadLetter { topic, headers } => {
                                        let mut dead_headers = copied_headers;
                                        for (name, value) in &headers {
                                            dead_headers = dead_headers.insert(Header {
                                                key: name,
                                                value: Some(value.as_bytes()),
                                            });
                                        }
                                        let mut record =
                                            FutureRecord::to(&topic).headers(dead_headers);
                                        if let Some(key) = message.key() {
                                            record = record.key(key);
                                        }
                                        if let Some(payload) = message.payload() {
                                            record = record.payload(payload);
                                        }
                                        if let Some(ts) = timestamp {
                                            record = record.timestamp(ts);
                                        }
                                        let delivery = send(&producer, record).await?;
                                        batch.sent(
                                            InFlight {
                                                route,
                                                offset,
                                                bytes: 0,
                                                counts: Counts::DeadLettered,
                                                sample: false,
                                                delivery,
                                            },
                                            self.settings.mapping_every,
                                        )?;
                                    }
                                }
                                continue;
                            }
                        }
                    }
                };
                if outputs.is_empty() {
                    batch.tally.done(route, offset);
                    continue;
                }
                let sample = handling.samples_offsets();
                let last = outputs.len() - 1;
                let mut copied_headers = Some(copied_headers);
                for (index, (key, value)) in outputs.iter().enumerate() {
                    // The last output takes the headers; earlier ones copy them.
                    let headers = if index == last {
                        copied_headers.take()
                    } else {
                        copied_headers.clone()
                    }
                    .expect("headers are kept until the last output")
                    .insert(Header {
                        key: ORIGIN_HEADER,
                        value: Some(&origin),
                    });
                    let mut record =
                        FutureRecord::to(&placed.route.target_topic).headers(headers);
                    if let Some(value) = value {
                        record = record.payload(*value);
                    }
                    if let Some(key) = key {
                        record = record.key(*key);
                    }
                    if let Some(ts) = timestamp {
                        record = record.timestamp(ts);
                    }
                    if let Some(partition) = placed.target_partition {
                        record = record.partition(partition);
                    }
                    let size = value.map_or(0, <[u8]>::len) + key.map_or(0, <[u8]>::len);
                    let delivery = send(&producer, record).await?;
                    batch.bytes += size;
                    // A record with several outputs counts once, when its first lands.
                    let counts = if index == 0 {
                        Counts::Copied
                    } else {
                        Counts::Nothing
                    };
                    batch.sent(
                        InFlight {
                            route,
                            offset,
                            bytes: size,
                            counts,
                            sample,
                            delivery,
                        },
                        self.settings.mapping_every,
                    )?;
                }
            }
            let idle = batch.records == 0;
            if !idle {
                pending.push_back(batch);
            }
            if idle || failure.is_some() {
                self.settle_all(lease, &routes, &mut pending, &mut checkpoints)
                    .await?;
            }
            // The target acknowledges earlier batches while later ones are read and sent.
            while pending.len() > MAX_PENDING_BATCHES {
                let oldest = pending.pop_front().expect("more than one pending batch");
                self.settle(lease, &routes, oldest, &mut checkpoints)
                    .await?;
            }
            if let Some(reason) = failure {
                // `retain`: the checkpoint stays before the message; no retries.
                store
                    .update_task(&self.tenant, &self.task_id, |task| {
                        Ok(task.with_state(TaskState::Failed, Some(reason.clone())))
                    })
                    .await?;
                let _ = store
                    .add_event(
                        &self.task_id,
                        Level::Error,
                        "state",
                        &format!("state failed: {reason}"),
                    )
                    .await;
                return Ok(WorkerExit::TaskFailed);
            }
        }
    }

    /// Settles every pending batch, oldest first.
    async fn settle_all(
        &self,
        lease: &Lease,
        routes: &[Placed],
        pending: &mut VecDeque<Batch>,
        checkpoints: &mut BTreeMap<PartitionRef, Checkpoint>,
    ) -> Result<(), WorkerError> {
        while let Some(batch) = pending.pop_front() {
            self.settle(lease, routes, batch, checkpoints).await?;
        }
        Ok(())
    }

    /// Waits for every record of the batch to be acknowledged, then checkpoints it. Only
    /// what the target acknowledged is checkpointed; a failed delivery stops the worker
    /// with its checkpoint before the batch. `routes` are those the batch was read with.
    async fn settle(
        &self,
        lease: &Lease,
        routes: &[Placed],
        mut batch: Batch,
        checkpoints: &mut BTreeMap<PartitionRef, Checkpoint>,
    ) -> Result<(), WorkerError> {
        while let Some(mut record) = batch.in_flight.pop_front() {
            let delivered = acknowledged((&mut record.delivery).await)?;
            batch
                .tally
                .delivered(&record, delivered.offset, self.settings.mapping_every);
        }
        let Tally {
            growth,
            mut mappings,
            sampled,
            newest,
        } = batch.tally;
        // Every checkpoint also keeps a sample at its own position.
        for (route, mapping) in newest {
            if sampled.get(&route) != Some(&mapping.source_offset) {
                mappings.push((route, mapping));
            }
        }
        let source = |route: usize| &routes[route].route.source;
        let checkpoint_list: Vec<(PartitionRef, Checkpoint)> = growth
            .into_iter()
            .map(|(route, growth)| {
                let stored = checkpoints.get(source(route)).copied().unwrap_or_default();
                (source(route).clone(), grown(stored, &growth))
            })
            .collect();
        let mappings: Vec<(PartitionRef, OffsetMapping)> = mappings
            .into_iter()
            .map(|(route, mapping)| (source(route).clone(), mapping))
            .collect();
        self.services
            .store
            .commit_checkpoints(lease, &checkpoint_list, &mappings)
            .await?;
        checkpoints.extend(checkpoint_list);
        Ok(())
    }
}

/// A checkpoint moved on by what a batch adds to it.
fn grown(stored: Checkpoint, growth: &Checkpoint) -> Checkpoint {
    Checkpoint {
        next_offset: stored.next_offset.max(growth.next_offset),
        copied: stored.copied + growth.copied,
        bytes: stored.bytes + growth.bytes,
        discarded: stored.discarded + growth.discarded,
        dead_lettered: stored.dead_lettered + growth.dead_lettered,
    }
}

/// A delivery's outcome, as the worker sees it.
fn acknowledged<Canceled>(
    outcome: Result<OwnedDeliveryResult, Canceled>,
) -> Result<Delivery, WorkerError> {
    outcome
        .map_err(|_| WorkerError::Kafka("the producer was dropped".into()))?
        .map_err(|(e, _)| WorkerError::Kafka(format!("delivery to the target failed: {e}")))
}

/// How a task turns a source record into target records.
enum Handling {
    /// As it is (instance tasks, and topic tasks without processing).
    Copy { samples_offsets: bool },
    /// Through the task's processing, with its error policy.
    Process {
        compiled: Box<CompiledProcessing>,
        on_error: OnError,
    },
}

impl Handling {
    /// The processing is compiled once here, for every message the worker handles.
    fn of(spec: &TaskSpec) -> Result<Handling, WorkerError> {
        Ok(match spec {
            TaskSpec::Instance(_) => Handling::Copy {
                samples_offsets: true,
            },
            TaskSpec::Topic(topic) => match &topic.processing {
                Some(config) => Handling::Process {
                    compiled: Box::new(
                        processing::compile(config, "processing")
                            .map_err(|e| WorkerError::Access(format!("processing: {e}")))?,
                    ),
                    on_error: topic.on_error.clone(),
                },
                None => Handling::Copy {
                    samples_offsets: false,
                },
            },
        })
    }

    /// Offset-mapping samples serve consumer-group offset sync, which only instance
    /// tasks do.
    fn samples_offsets(&self) -> bool {
        matches!(
            self,
            Handling::Copy {
                samples_offsets: true
            }
        )
    }
}

/// A route with where its records go on the target.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Placed {
    route: Route,
    target_partition: Option<i32>,
}

/// What a delivered record adds to its partition's counters.
enum Counts {
    Copied,
    DeadLettered,
    /// A second or later output of a record already counted.
    Nothing,
}

/// A record sent and not yet acknowledged.
struct InFlight {
    /// Index of the record's route in the worker's routes.
    route: usize,
    offset: i64,
    bytes: usize,
    counts: Counts,
    sample: bool,
    delivery: DeliveryFuture,
}

/// Records read together and checkpointed together.
#[derive(Default)]
struct Batch {
    /// Sent, and not yet seen acknowledged, oldest first.
    in_flight: VecDeque<InFlight>,
    /// What the records acknowledged or done with so far add to the checkpoints. A
    /// record leaves `in_flight` for the tally as soon as its acknowledgement is seen,
    /// so a batch holds per-record state only for what the target has not acknowledged.
    tally: Tally,
    records: usize,
    bytes: usize,
}

impl Batch {
    /// Adds a sent record, and folds in every acknowledgement already there.
    fn sent(&mut self, record: InFlight, mapping_every: i64) -> Result<(), WorkerError> {
        self.in_flight.push_back(record);
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        while let Some(oldest) = self.in_flight.front_mut() {
            let std::task::Poll::Ready(outcome) =
                std::pin::Pin::new(&mut oldest.delivery).poll(&mut context)
            else {
                break;
            };
            let record = self
                .in_flight
                .pop_front()
                .expect("the oldest record is there");
            let delivered = acknowledged(outcome)?;
            self.tally
                .delivered(&record, delivered.offset, mapping_every);
        }
        Ok(())
    }
}

/// Per route (by index): how far its checkpoint moves and what its counters gain, and
/// the offset-mapping samples taken.
#[derive(Default)]
struct Tally {
    growth: BTreeMap<usize, Checkpoint>,
    mappings: Vec<(usize, OffsetMapping)>,
    /// The last sampled source offset, and the newest delivery, per route.
    sampled: HashMap<usize, i64>,
    newest: HashMap<usize, OffsetMapping>,
}

impl Tally {
    /// The record at `offset` is done with: the checkpoint may move past it.
    fn done(&mut self, route: usize, offset: i64) -> &mut Checkpoint {
        let growth = self.growth.entry(route).or_default();
        growth.next_offset = growth.next_offset.max(offset + 1);
        growth
    }

    /// The target acknowledged `record` at `target_offset`.
    fn delivered(&mut self, record: &InFlight, target_offset: i64, mapping_every: i64) {
        let growth = self.done(record.route, record.offset);
        growth.bytes += record.bytes as u64;
        match record.counts {
            Counts::Copied => growth.copied += 1,
            Counts::DeadLettered => growth.dead_lettered += 1,
            Counts::Nothing => {}
        }
        if !record.sample {
            return;
        }
        let mapping = OffsetMapping {
            source_offset: record.offset,
            target_offset,
        };
        let due = self
            .sampled
            .get(&record.route)
            .is_none_or(|s| record.offset - s >= mapping_every);
        if due {
            self.sampled.insert(record.route, record.offset);
            self.mappings.push((record.route, mapping));
        }
        self.newest.insert(record.route, mapping);
    }
}

/// The record's headers without any origin header, or `None` when its origin is the
/// target cluster.
fn copy_headers(
    message: &rdkafka::message::BorrowedMessage<'_>,
    target_cluster_id: &str,
) -> Option<OwnedHeaders> {
    let mut headers = OwnedHeaders::new();
    if let Some(existing) = message.headers() {
        for header in existing.iter() {
            if header.key == ORIGIN_HEADER {
                if header.value == Some(target_cluster_id.as_bytes()) {
                    return None;
                }
                continue;
            }
            headers = headers.insert(header);
        }
    }
    Some(headers)
}

/// The consumer settings of every worker. It reads by manual assignment from its own
/// checkpoints; librdkafka wants a group for assign(), but it is never joined or
/// committed to.
pub fn consumer_config(source: &ClusterAccess, task_id: &str) -> rdkafka::ClientConfig {
    let mut config = source.client_config();
    config
        .set("group.id", format!("ksync-replicator-{task_id}"))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // A checkpoint below the log start (retention deleted records before they
        // were copied) resumes at the oldest record still there, never at the end.
        .set("auto.offset.reset", "earliest")
        // Small prefetch: local mode runs up to 20 workers per task in one process. A
        // full prefetch queue must not idle the worker for librdkafka's default second.
        .set("fetch.max.bytes", "1048576")
        .set("max.partition.fetch.bytes", "524288")
        .set("queued.max.messages.kbytes", "512")
        .set("fetch.queue.backoff.ms", "5")
        .set("enable.partition.eof", "false");
    config
}

/// The producer settings of every worker: idempotent, acknowledged by all in-sync
/// replicas, batched.
pub fn producer_config(target: &ClusterAccess) -> rdkafka::ClientConfig {
    let mut config = target.client_config();
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        .set("queue.buffering.max.kbytes", "8192")
        .set("message.timeout.ms", "120000")
        // Keys land where the Java client's murmur2 partitioner puts them (DESIGN §3).
        .set("partitioner", "murmur2_random")
        // The broker enforces each topic's `max.message.bytes`; the client must never be
        // the tighter limit, so it allows what a broker accepts in one request at
        // Kafka's default `socket.request.max.bytes` (100 MiB).
        .set("message.max.bytes", "104857600");
    config
}

/// The process's producer for a target cluster, made on first use. Workers share it:
/// one client batches every partition's records into fewer, larger requests, with one
/// bounded queue for the whole process. A producer that failed a delivery is replaced.
fn shared_producer(target: &ClusterAccess) -> Result<Arc<FutureProducer>, WorkerError> {
    let mut producers = PRODUCERS.lock().expect("producer cache poisoned");
    producers.retain(|(_, producer)| producer.client().fatal_error().is_none());
    if let Some((_, producer)) = producers.iter().find(|(access, _)| access == target) {
        return Ok(producer.clone());
    }
    let producer: Arc<FutureProducer> = Arc::new(
        producer_config(target)
            .create()
            .map_err(kafka("producer"))?,
    );
    producers.push((target.clone(), producer.clone()));
    Ok(producer)
}

static PRODUCERS: Mutex<Vec<(ClusterAccess, Arc<FutureProducer>)>> = Mutex::new(Vec::new());

/// Enqueues a record, waiting while the producer queue is full. The shared producer may
/// not know a partition added since it last read the topic's metadata: it reads it
/// again once, then retries.
async fn send(
    producer: &Arc<FutureProducer>,
    mut record: FutureRecord<'_, [u8], [u8]>,
) -> Result<DeliveryFuture, WorkerError> {
    let mut waited = 0;
    let mut refreshed = false;
    loop {
        match producer.send_result(record) {
            Ok(delivery) => return Ok(delivery),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                record = returned;
                tokio::time::sleep(Duration::from_millis(5)).await;
                waited += 1;
                if waited > 60_000 {
                    return Err(WorkerError::Kafka(
                        "the producer queue stayed full for 5 minutes".into(),
                    ));
                }
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::UnknownPartition), returned))
                if !refreshed =>
            {
                record = returned;
                refreshed = true;
                let (producer, topic) = (producer.clone(), record.topic.to_owned());
                tokio::task::spawn_blocking(move || {
                    producer
                        .client()
                        .fetch_metadata(Some(&topic), Duration::from_secs(30))
                        .map(drop)
                })
                .await
                .map_err(|e| WorkerError::Kafka(e.to_string()))?
                .map_err(kafka("metadata"))?;
            }
            Err((e, _)) => return Err(WorkerError::Kafka(format!("produce: {e}"))),
        }
    }
}

/// Assigns the consumer its partitions at their checkpoints (or the beginning), and
/// returns where to find each partition's route.
fn assign(
    consumer: &StreamConsumer,
    routes: &[Placed],
    checkpoints: &BTreeMap<PartitionRef, Checkpoint>,
) -> Result<RouteIndex, WorkerError> {
    let mut assignment = TopicPartitionList::new();
    let mut index = RouteIndex::default();
    for (route, placed) in routes.iter().enumerate() {
        let source = &placed.route.source;
        let offset = checkpoints
            .get(source)
            .map_or(Offset::Beginning, |c| Offset::Offset(c.next_offset));
        assignment
            .add_partition_offset(&source.topic, source.partition, offset)
            .map_err(kafka("assign"))?;
        index
            .0
            .entry(source.topic.clone())
            .or_default()
            .insert(source.partition, route);
    }
    consumer.assign(&assignment).map_err(kafka("assign"))?;
    Ok(index)
}

/// A consumed record's route, found by topic and partition without allocating.
#[derive(Default)]
struct RouteIndex(HashMap<String, HashMap<i32, usize>>);

impl RouteIndex {
    fn find(&self, topic: &str, partition: i32) -> Option<usize> {
        self.0.get(topic)?.get(&partition).copied()
    }
}

/// Every topic of a cluster and its partition count.
pub async fn topic_partitions(access: &ClusterAccess) -> Result<HashMap<String, i32>, WorkerError> {
    let access = access.clone();
    tokio::task::spawn_blocking(move || {
        let consumer: rdkafka::consumer::BaseConsumer =
            access.client_config().create().map_err(kafka("consumer"))?;
        let metadata = consumer
            .fetch_metadata(None, Duration::from_secs(30))
            .map_err(kafka("metadata"))?;
        Ok(metadata
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .map(|t| (t.name().to_owned(), t.partitions().len() as i32))
            .collect())
    })
    .await
    .map_err(|e| WorkerError::Kafka(e.to_string()))?
}

/// Records a worker failure on the task's event center.
pub async fn report_failure(services: &Services, task_id: &str, slot: usize, error: &WorkerError) {
    let message =
        format!("worker of slot {slot} stopped: {error}; it restarts from its checkpoint");
    if let Err(e) = services
        .store
        .add_event(task_id, Level::Error, "replication", &message)
        .await
    {
        tracing::warn!(task = task_id, error = %e, "could not record an event");
    }
}
