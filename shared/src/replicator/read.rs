//! Reading one batch from the source and handing its records to the target.

use std::collections::HashSet;
use std::sync::Arc;

use rdkafka::consumer::StreamConsumer;
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use tokio_util::sync::CancellationToken;

use super::batch::{self, Batch, Counts, InFlight, OnRefusal, Outcome, Refusal};
use super::handling::Handling;
use super::send::{ORIGIN_HEADER, Sent, copy_headers, send};
use super::worker::{Context, Copying, KeyValue, Placed, Read, ReadState};
use super::{Worker, WorkerError, kafka};
use crate::error_policy::{Decision, Origin, decide};
use crate::processing::{Output, ProcessingError};
use crate::store::{Level, now_ms};

impl Worker<'_> {
    /// Reads one batch and sends it: until it is full, its window has passed, or `stop`.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn read_batch(
        &self,
        context: &Context,
        consumer: &StreamConsumer,
        producer: &Arc<FutureProducer>,
        handling: &Handling,
        copying: &mut Copying,
        batch: &mut Batch,
        stop: &CancellationToken,
        reported_kinds: &mut HashSet<&'static str>,
    ) -> Result<Read, WorkerError> {
        let window = tokio::time::sleep(self.settings.batch_window);
        tokio::pin!(window);
        let mut read = Read::default();
        let origin = context.source_tag.as_slice();
        while !batch.is_full() {
            let message = tokio::select! {
                biased;
                _ = stop.cancelled() => break,
                _ = &mut window => break,
                received = consumer.recv() => match received {
                    Ok(message) => message,
                    Err(KafkaError::MessageConsumption(RDKafkaErrorCode::AutoOffsetReset)) => {
                        read.out_of_range = true;
                        break;
                    }
                    Err(e) => return Err(kafka("consume")(e)),
                },
            };
            let Some(route) = copying.find(message.topic(), message.partition()) else {
                continue;
            };
            match copying.states[route] {
                ReadState::Skip | ReadState::Probe(true) => continue,
                ReadState::Probe(false) => copying.states[route] = ReadState::Probe(true),
                ReadState::Copy => {}
            }
            batch.records += 1;
            let Some(headers) = copy_headers(message.headers(), Some(&context.target_tag)) else {
                // Its origin is the target itself: copying it back would echo.
                batch.tally.done(route, message.offset());
                continue;
            };
            if let Handling::Process { compiled, on_error } = handling {
                match compiled.run(message.key(), message.payload(), now_ms()) {
                    Ok(outputs) => {
                        self.send_outputs(
                            producer, handling, copying, batch, &message, route, headers, &outputs,
                            origin,
                        )
                        .await?;
                        continue;
                    }
                    Err(error) => {
                        let placed = &copying.reading[route];
                        let decision = self
                            .dispose(placed, &message, &error, on_error, reported_kinds)
                            .await;
                        match decision {
                            Decision::Stop { reason } => {
                                read.failure = Some(reason);
                                break;
                            }
                            decision => {
                                self.dead_letter_or_discard(
                                    producer, handling, batch, &message, route, headers, decision,
                                )
                                .await?;
                                continue;
                            }
                        }
                    }
                }
            }
            let placed = &copying.reading[route];
            // The record itself, borrowed: copying costs no allocation of ours per record.
            let copy: [KeyValue; 1] = [(message.key(), message.payload())];
            self.send_copy(
                producer, handling, batch, &message, route, placed, headers, &copy, origin,
            )
            .await?;
        }
        Ok(read)
    }

    /// Sends the outputs processing made of one record.
    #[allow(clippy::too_many_arguments)]
    async fn send_outputs(
        &self,
        producer: &Arc<FutureProducer>,
        handling: &Handling,
        copying: &Copying,
        batch: &mut Batch,
        message: &BorrowedMessage<'_>,
        route: usize,
        headers: OwnedHeaders,
        outputs: &[Output],
        origin: &[u8],
    ) -> Result<(), WorkerError> {
        let records: Vec<KeyValue> = outputs
            .iter()
            .map(|o| (o.key.as_deref(), Some(o.value.as_slice())))
            .collect();
        let placed = &copying.reading[route];
        self.send_copy(
            producer, handling, batch, message, route, placed, headers, &records, origin,
        )
        .await
    }

    /// Sends one source record's target records: its copy, or its processing outputs.
    /// Key, value, headers and timestamp go as they are; a null stays null.
    #[allow(clippy::too_many_arguments)]
    async fn send_copy(
        &self,
        producer: &Arc<FutureProducer>,
        handling: &Handling,
        batch: &mut Batch,
        message: &BorrowedMessage<'_>,
        route: usize,
        placed: &Placed,
        headers: OwnedHeaders,
        records: &[KeyValue<'_>],
        origin: &[u8],
    ) -> Result<(), WorkerError> {
        let offset = message.offset();
        if records.is_empty() {
            batch.tally.done(route, offset);
            return Ok(());
        }
        let sample = handling.samples_offsets();
        let timestamp = message.timestamp().to_millis();
        let last = records.len() - 1;
        let mut headers = Some(headers);
        for (index, (key, value)) in records.iter().enumerate() {
            // The last output takes the headers; earlier ones copy them.
            let headers = if index == last {
                headers.take()
            } else {
                headers.clone()
            }
            .expect("headers are kept until the last output")
            .insert(Header {
                key: ORIGIN_HEADER,
                value: Some(origin),
            });
            let mut record = FutureRecord::to(&placed.route.target_topic).headers(headers);
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
            // A record with several outputs counts once, when its first lands.
            let counts = if index == 0 {
                Counts::Copied
            } else {
                Counts::Nothing
            };
            batch.bytes += size;
            let sent = batch::SentRecord {
                route,
                offset,
                bytes: size,
                counts,
                sample,
                timestamp,
            };
            match send(producer, record).await? {
                Sent::Queued(delivery) => {
                    batch.sent(InFlight { sent, delivery }, handling.on_refusal())?
                }
                Sent::Refused(error) => batch.tally.take(Outcome::Refused(Refusal {
                    sent,
                    error,
                    record: Some(message.detach()),
                    alone: true,
                    policy: handling.on_refusal(),
                })),
            }
        }
        Ok(())
    }

    /// The error policy's decision for a message processing failed on, with the first
    /// discard of each kind made an event.
    async fn dispose(
        &self,
        placed: &Placed,
        message: &BorrowedMessage<'_>,
        error: &ProcessingError,
        on_error: &crate::task::OnError,
        reported_kinds: &mut HashSet<&'static str>,
    ) -> Decision {
        let source = &placed.route.source;
        let at = Origin {
            topic: &source.topic,
            partition: source.partition,
            offset: message.offset(),
            timestamp: message.timestamp().to_millis(),
        };
        let decision = decide(on_error, error, &at);
        if decision == Decision::Discard && reported_kinds.insert(error.kind) {
            let text = format!(
                "discarding messages that cannot be processed ({}); the first, at {}/{} offset {}: {}",
                error.kind,
                source.topic,
                source.partition,
                message.offset(),
                error.reason
            );
            let _ = self
                .services
                .store
                .add_event(&self.task_id, Level::Warn, "processing", &text)
                .await;
        }
        decision
    }

    /// Carries out a discard or dead-letter decision for one message.
    #[allow(clippy::too_many_arguments)]
    async fn dead_letter_or_discard(
        &self,
        producer: &Arc<FutureProducer>,
        handling: &Handling,
        batch: &mut Batch,
        message: &BorrowedMessage<'_>,
        route: usize,
        headers: OwnedHeaders,
        decision: Decision,
    ) -> Result<(), WorkerError> {
        let offset = message.offset();
        let Decision::DeadLetter {
            topic,
            headers: extra,
        } = decision
        else {
            if let Some(growth) = batch.tally.done(route, offset) {
                growth.discarded += 1;
            }
            return Ok(());
        };
        let record = record_to(
            &topic,
            headers,
            &extra,
            message.key(),
            message.payload(),
            message.timestamp().to_millis(),
        );
        let sent = batch::SentRecord {
            route,
            offset,
            bytes: 0,
            counts: Counts::DeadLettered,
            sample: false,
            timestamp: message.timestamp().to_millis(),
        };
        match send(producer, record).await? {
            Sent::Queued(delivery) => {
                batch.sent(InFlight { sent, delivery }, handling.on_refusal())
            }
            // The dead-letter topic itself refuses it: the partition stalls there.
            Sent::Refused(error) => {
                batch.tally.take(Outcome::Refused(Refusal {
                    sent,
                    error,
                    record: None,
                    alone: true,
                    policy: OnRefusal::Stall,
                }));
                Ok(())
            }
        }
    }
}

/// A record to `topic` with the original key, value and timestamp, its headers and
/// `extra` after them: a dead-letter record (the error policy's headers as `extra`), or
/// a refused record sent again (none).
pub(super) fn record_to<'a>(
    topic: &'a str,
    mut headers: OwnedHeaders,
    extra: &'a [(&'static str, String)],
    key: Option<&'a [u8]>,
    payload: Option<&'a [u8]>,
    timestamp: Option<i64>,
) -> FutureRecord<'a, [u8], [u8]> {
    for (name, value) in extra {
        headers = headers.insert(Header {
            key: name,
            value: Some(value.as_bytes()),
        });
    }
    let mut record = FutureRecord::to(topic).headers(headers);
    if let Some(key) = key {
        record = record.key(key);
    }
    if let Some(payload) = payload {
        record = record.payload(payload);
    }
    if let Some(ts) = timestamp {
        record = record.timestamp(ts);
    }
    record
}
