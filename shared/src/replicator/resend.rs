//! Finding the one record of a refused produce batch that the target refuses. A broker
//! refuses a whole produce batch when one record of it is too large for the topic, so a
//! size refusal does not yet say which record it is: each record of the batch is sent
//! again alone, in source order, and only one refused alone comes to its task's policy
//! (DESIGN §3 "What the copy reports instead of hiding").

use std::sync::Arc;

use rdkafka::message::Message;
use rdkafka::producer::FutureProducer;

use super::WorkerError;
use super::batch::{Outcome, Refusal, SentRecord, Tally};
use super::read::record_to;
use super::send::{Sent, error_code, refused_for_good, send};

/// Settles the held routes of `tally` ([`Tally::held`]): each record refused with its
/// batch is sent again alone and awaited before the next, so each goes in a produce
/// request of its own. Routes in `stalled` (already stopped at an earlier record) and a
/// route once it is blocked send nothing more: what follows a refused record must not
/// reach the target before it. Deliveries of held routes go into no offset-map run: the
/// records sent again land after later ones of their partition.
pub async fn resend_held(
    producer: &Arc<FutureProducer>,
    tally: &mut Tally,
    stalled: impl Fn(usize) -> bool,
) -> Result<(), WorkerError> {
    for (route, outcomes) in std::mem::take(&mut tally.held) {
        for outcome in outcomes {
            let outcome = match outcome {
                Outcome::Refused(refusal)
                    if refusal.may_be_anothers()
                        && !stalled(route)
                        && !tally.blocked.contains_key(&route) =>
                {
                    alone(producer, refusal).await?
                }
                Outcome::Delivered(sent, at) => Outcome::Delivered(unsampled(sent), at),
                outcome => outcome,
            };
            tally.apply(outcome);
        }
    }
    Ok(())
}

fn unsampled(sent: SentRecord) -> SentRecord {
    SentRecord {
        sample: false,
        ..sent
    }
}

/// Sends one refused record again, alone, and waits for the target's answer. A
/// transient failure is the worker's error, as for any delivery.
async fn alone(producer: &Arc<FutureProducer>, refusal: Refusal) -> Result<Outcome, WorkerError> {
    let message = refusal
        .record
        .as_ref()
        .expect("only a refusal that handed its record back is sent again");
    let sent = {
        let headers = message.headers().cloned().unwrap_or_default();
        let record = record_to(
            message.topic(),
            headers,
            &[],
            message.key(),
            message.payload(),
            refusal.sent.timestamp,
        )
        .partition(message.partition());
        send(producer, record).await?
    };
    let error = match sent {
        Sent::Queued(delivery) => match delivery.await.map_err(|_| WorkerError::ProducerGone)? {
            Ok(delivery) => {
                return Ok(Outcome::Delivered(unsampled(refusal.sent), delivery.offset));
            }
            Err((error, _)) if error_code(&error).is_some_and(refused_for_good) => error,
            Err((error, _)) => return Err(WorkerError::Delivery(error)),
        },
        Sent::Refused(error) => error,
    };
    Ok(Outcome::Refused(Refusal {
        error,
        alone: true,
        ..refusal
    }))
}
