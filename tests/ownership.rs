//! Ownership of partitions by worker slots (DESIGN §3 "Ownership"): adding partitions
//! moves no existing partition to another slot while the slot count is unchanged, so
//! records already copied are not copied again.

use std::time::Duration;

use harness::brokers::wait_partitions;
use harness::copies::{assert_all_copied, create_instance_task, recheck_quiet, wait_settled};
use harness::local::{Local, binary};
use harness::records::{add_partitions, create_topic, produce, read_all};
use harness::unique_name;

#[tokio::test]
async fn partitions_added_move_nothing() {
    let base = unique_name("own");
    // Topic "a" sorts before topic "b": partitions added to "a" come before all of
    // "b" in any ordering of the task's partitions, the case a spread by position in
    // that order gets wrong.
    let (first, second) = (format!("{base}-a"), format!("{base}-b"));
    create_topic(&harness::source(), &first, 12).await;
    create_topic(&harness::source(), &second, 12).await;
    produce(&harness::source(), &first, 12, 0, 1_200, 100).await;
    produce(&harness::source(), &second, 12, 0, 36_000, 100).await;
    let home = harness::scratch_dir().join(unique_name("own"));
    let log = home.with_extension("log");
    println!("kafka-sync local logs to {}", log.display());
    // Metadata sync every 2 s adds the target's partitions soon after the source's.
    let local = Local::start_with(&binary(), &home, &log, &["--metadata-interval", "2"]).await;
    let task_id = create_instance_task(&local, &format!("^{base}-(a|b)$"), "earliest").await;
    // 24 partitions over 20 slots.
    wait_settled(
        &local,
        &task_id,
        24,
        Duration::ZERO,
        Duration::from_secs(120),
    )
    .await;
    let copied_before: usize = read_all(&harness::target(), &second)
        .await
        .values()
        .map(Vec::len)
        .sum();
    assert_eq!(
        copied_before, 36_000,
        "the second topic copied exactly once"
    );

    // 28 partitions: still 20 slots.
    add_partitions(&harness::source(), &first, 16).await;
    wait_partitions(&harness::source(), &first, 16).await;
    produce(&harness::source(), &first, 16, 1_200, 1_600, 100).await;
    produce(&harness::source(), &second, 12, 36_000, 120, 100).await;
    // Quiet past every worker's re-read: by then each has acted on the new partitions,
    // and a partition it was handed would have been copied again.
    wait_settled(
        &local,
        &task_id,
        28,
        recheck_quiet(),
        Duration::from_secs(150),
    )
    .await;

    let source = read_all(&harness::source(), &second).await;
    let target = read_all(&harness::target(), &second).await;
    let duplicates = assert_all_copied(&source, &target);
    let total: usize = duplicates.values().sum();
    println!(
        "{second}: copied again after partitions were added to {first}: {total} ({duplicates:?})"
    );
    // The allowance is one batch per moved partition; with the slot count unchanged the
    // contract moves none, so it is zero.
    assert_eq!(
        total, 0,
        "partitions of {second} were copied again after partitions were added to {first}"
    );
    let first_duplicates: usize = assert_all_copied(
        &read_all(&harness::source(), &first).await,
        &read_all(&harness::target(), &first).await,
    )
    .values()
    .sum();
    assert_eq!(first_duplicates, 0, "{first} copied again");
    local.kill();
}
