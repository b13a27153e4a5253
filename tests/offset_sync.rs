//! Consumer-group offset sync on the two real clusters. Mappings come from real
//! replication: a replicator worker runs in-process for the test's task. The task has a
//! regex range over the test's own topic (so workers and metadata sync leave the shared
//! clusters' other topics alone), and the offset-sync run is driven with that topic
//! through `offset_sync::sync_groups` — the scheduled job passes every topic a
//! `metadata+messages+offsets` task copies.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use harness::copy_task::CopyTask;
use harness::groups::{LiveMember, committed, group_consumer, offsets_on};
use harness::records::{Record, create_topic, produce, read_all};
use harness::unique_name;
use kafka_sync::kafka::ClusterAccess;
use kafka_sync::kafka_admin::{GroupOffset, KafkaAdmin};
use kafka_sync::offset_sync::{EVENT_KIND, OffsetProgress};
use kafka_sync::store::Level;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Creates `topic` on the source with `records` records over `partitions`, and a task
/// copying exactly it (metadata sync creates the topic on the target).
async fn setup(prefix: &str, partitions: i32, records: u64) -> CopyTask {
    let topic = unique_name(prefix);
    create_topic(&harness::source(), &topic, partitions).await;
    produce(&harness::source(), &topic, partitions, 0, records, 20).await;
    CopyTask::new(&topic, partitions).await
}

async fn stored_progress(copy: &CopyTask) -> OffsetProgress {
    copy.services
        .store
        .progress(&copy.task.id, "offsets")
        .await
        .unwrap()
        .unwrap()
}

/// Consumes, as a member of `group` (from its committed offsets, else the beginning),
/// `quota[p]` more records of each partition p of `topic` (records past a partition's
/// quota are left unprocessed), then commits what it consumed and leaves. Returns the
/// group's committed offsets.
async fn consume_and_commit(
    access: &ClusterAccess,
    group: &str,
    topic: &str,
    quota: &[i64],
) -> BTreeMap<i32, i64> {
    let mut quota = quota.to_vec();
    let partitions = quota.len() as i32;
    let (access, group, topic) = (access.clone(), group.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let consumer = group_consumer(&access, &group, "earliest");
        let mut positions: BTreeMap<i32, i64> = committed(&consumer, &topic, partitions)
            .into_iter()
            .map(|(p, at)| (p, at.unwrap_or(0)))
            .collect();
        consumer.subscribe(&[&topic]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while quota.iter().any(|left| *left > 0) {
            assert!(
                Instant::now() < deadline,
                "could not consume {quota:?} more"
            );
            let Some(message) = consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            let message = message.unwrap();
            let p = message.partition();
            if quota[p as usize] > 0 && message.offset() == positions[&p] {
                quota[p as usize] -= 1;
                positions.insert(p, message.offset() + 1);
            }
        }
        let mut commit = TopicPartitionList::new();
        for (p, at) in &positions {
            commit
                .add_partition_offset(&topic, *p, Offset::Offset(*at))
                .unwrap();
        }
        consumer.commit(&commit, CommitMode::Sync).unwrap();
        consumer.unsubscribe();
        positions
    })
    .await
    .unwrap()
}

/// Reads `topic` on the target as a member of `group`, from the group's committed
/// offsets (a partition without one starts at the end: nothing is read there) up to the
/// end offsets of now, committing nothing. Returns the keys read, per partition.
async fn read_as_member(
    access: &ClusterAccess,
    group: &str,
    topic: &str,
    partitions: i32,
) -> BTreeMap<i32, Vec<Vec<u8>>> {
    let (access, group, topic) = (access.clone(), group.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        let consumer = group_consumer(&access, &group, "latest");
        let committed = committed(&consumer, &topic, partitions);
        let mut left: BTreeMap<i32, i64> = BTreeMap::new();
        for p in 0..partitions {
            let (_, end) = consumer.fetch_watermarks(&topic, p, TIMEOUT).unwrap();
            let start = committed[&p].unwrap_or(end);
            if start < end {
                left.insert(p, end);
            }
        }
        let mut read: BTreeMap<i32, Vec<Vec<u8>>> =
            (0..partitions).map(|p| (p, Vec::new())).collect();
        consumer.subscribe(&[&topic]).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !left.is_empty() {
            assert!(Instant::now() < deadline, "reading as {group} timed out");
            let Some(message) = consumer.poll(Duration::from_millis(200)) else {
                continue;
            };
            let message = message.unwrap();
            let p = message.partition();
            read.get_mut(&p)
                .unwrap()
                .push(message.key().unwrap().to_vec());
            if left.get(&p).is_some_and(|end| message.offset() + 1 >= *end) {
                left.remove(&p);
            }
        }
        consumer.unsubscribe();
        read
    })
    .await
    .unwrap()
}

/// Checks what a target consumer read against the group's source position: every
/// source record at or after it was read (none skipped), and at most the documented
/// bound of records before it (none: the map is exact) were read again. Returns the re-reads per partition.
fn check_resume(
    source: &BTreeMap<i32, Vec<Record>>,
    committed: &BTreeMap<i32, i64>,
    read: &BTreeMap<i32, Vec<Vec<u8>>>,
) -> BTreeMap<i32, usize> {
    // The offset map is exact: once the group's position is copied, nothing is re-read.
    let bound = 0;
    let mut rereads = BTreeMap::new();
    for (p, records) in source {
        let c = committed[p];
        let offset_of: HashMap<&[u8], i64> = records
            .iter()
            .map(|r| (r.key.as_deref().unwrap(), r.offset))
            .collect();
        let read_offsets: Vec<i64> = read[p]
            .iter()
            .map(|key| offset_of[key.as_slice()])
            .collect();
        let seen: BTreeSet<i64> = read_offsets.iter().copied().collect();
        let skipped: Vec<i64> = records
            .iter()
            .map(|r| r.offset)
            .filter(|o| *o >= c && !seen.contains(o))
            .collect();
        assert!(
            skipped.is_empty(),
            "partition {p} (group at {c}): {} unconsumed records skipped, first {:?}",
            skipped.len(),
            skipped.first()
        );
        let again = read_offsets.iter().filter(|o| **o < c).count();
        assert!(
            again <= bound,
            "partition {p} (group at {c}): {again} records re-read, bound {bound}"
        );
        rereads.insert(*p, again);
    }
    rereads
}

async fn members_on_target(group: &str) -> usize {
    KafkaAdmin::new(&harness::target())
        .unwrap()
        .describe_groups(&[group.to_owned()], TIMEOUT)
        .await
        .unwrap()[0]
        .members
}

#[tokio::test]
async fn a_group_resumes_on_the_target_without_skipping_and_follows_the_source() {
    let setup = setup("osync-resume", 2, 10_000).await;
    let group = unique_name("osync-g");
    // Positions inside the copied runs: the consumer resumes exactly there.
    let at_5000 =
        consume_and_commit(&harness::source(), &group, &setup.topic, &[2_345, 2_655]).await;
    assert_eq!(at_5000, BTreeMap::from([(0, 2_345), (1, 2_655)]));

    // Nothing copied yet, so no run: nothing is guessed.
    let progress = setup.sync().await;
    assert_eq!(progress.partitions_committed, 0);
    assert!(offsets_on(&harness::target(), &group).await.is_empty());

    setup.replicate_to_end().await;
    let progress = setup.sync().await;
    assert_eq!(progress.groups, 1, "{progress:?}");
    assert_eq!(progress.partitions_committed, 2, "{progress:?}");
    assert!(progress.skipped_active.is_empty());
    assert!(progress.last_sync_at.is_some());
    assert_eq!(stored_progress(&setup).await, progress);
    let first = offsets_on(&harness::target(), &group).await;
    assert_eq!(first.len(), 2);

    let source = read_all(&harness::source(), &setup.topic).await;
    let read = read_as_member(&harness::target(), &group, &setup.topic, 2).await;
    let rereads = check_resume(&source, &at_5000, &read);
    let total: usize = read.values().map(Vec::len).sum();
    println!(
        "group at {at_5000:?} of 5000+5000: the target consumer read {total} records, re-reading {rereads:?}"
    );
    assert!(total >= 5_000);

    // g moves on at the source: the target follows on the next run.
    let at_8000 =
        consume_and_commit(&harness::source(), &group, &setup.topic, &[1_500, 1_500]).await;
    assert_eq!(at_8000, BTreeMap::from([(0, 3_845), (1, 4_155)]));
    let progress = setup.sync().await;
    assert!(progress.partitions_committed >= 1, "{progress:?}");
    let second = offsets_on(&harness::target(), &group).await;
    for (p, offset) in &second {
        assert!(*offset >= first[p], "partition {p} moved back");
    }
    assert!(second.values().sum::<i64>() > first.values().sum::<i64>());
    let read = read_as_member(&harness::target(), &group, &setup.topic, 2).await;
    let rereads = check_resume(&source, &at_8000, &read);
    println!("group at {at_8000:?}: re-reading {rereads:?}");

    // Nothing new at the source: nothing moves.
    let progress = setup.sync().await;
    assert_eq!(progress.partitions_committed, 0);
    assert_eq!(offsets_on(&harness::target(), &group).await, second);
}

async fn wait_for_members(group: &str, live: bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while (members_on_target(group).await > 0) != live {
        assert!(
            Instant::now() < deadline,
            "group {group} never became live={live}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_group_with_a_live_member_on_the_target_is_left_alone() {
    let setup = setup("osync-active", 1, 2_000).await;
    setup.replicate_to_end().await;
    let group = unique_name("osync-g");
    consume_and_commit(&harness::source(), &group, &setup.topic, &[1_000]).await;

    let member = LiveMember::join(&harness::target(), &group, &setup.topic);
    wait_for_members(&group, true).await;
    let progress = setup.sync().await;
    assert_eq!(progress.skipped_active, vec![group.clone()]);
    assert_eq!((progress.groups, progress.partitions_committed), (0, 0));
    assert!(
        offsets_on(&harness::target(), &group).await.is_empty(),
        "nothing committed"
    );
    let events = setup
        .services
        .store
        .events(&setup.task.id, 20)
        .await
        .unwrap();
    let left_alone: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EVENT_KIND && e.message.contains(&group))
        .collect();
    assert_eq!(left_alone.len(), 1, "one event per run: {events:?}");
    assert_eq!(left_alone[0].level, Level::Warn);
    assert!(
        left_alone[0].message.contains("active member"),
        "{left_alone:?}"
    );

    // Once the member has left, the next run syncs it.
    drop(member);
    wait_for_members(&group, false).await;
    let progress = setup.sync().await;
    assert!(progress.skipped_active.is_empty());
    assert_eq!((progress.groups, progress.partitions_committed), (1, 1));
    let committed = offsets_on(&harness::target(), &group).await;
    assert!(committed[&0] <= 1_000 && committed[&0] > 0, "{committed:?}");
}

#[tokio::test]
async fn a_group_already_ahead_on_the_target_is_not_moved_back() {
    let setup = setup("osync-ahead", 1, 2_000).await;
    setup.replicate_to_end().await;
    let group = unique_name("osync-g");
    consume_and_commit(&harness::source(), &group, &setup.topic, &[1_000]).await;
    let ahead = GroupOffset {
        topic: setup.topic.clone(),
        partition: 0,
        offset: 1_800,
    };
    KafkaAdmin::new(&harness::target())
        .unwrap()
        .commit_group_offsets(&group, &[ahead], TIMEOUT)
        .await
        .unwrap();

    let progress = setup.sync().await;
    assert_eq!((progress.groups, progress.partitions_committed), (1, 0));
    assert_eq!(
        offsets_on(&harness::target(), &group).await,
        BTreeMap::from([(0, 1_800)])
    );
}
