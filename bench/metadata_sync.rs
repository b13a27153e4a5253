//! Benchmark (not a test): one metadata-sync run over 1,000 source topics on the real
//! clusters — the initializing run that creates them all on the target, then a
//! scheduled run that finds nothing to do. Target: under 10 s. The topics are deleted
//! afterwards. Run: `cargo bench -p kafka-sync-tests --bench metadata_sync`.

use std::time::Instant;

use harness::records::create_topics;
use harness::task::{TENANT, instance_task};
use harness::unique_name;
use kafka_sync::metadata_sync;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use serde_json::json;

const TOPICS: usize = 1000;

#[tokio::main]
async fn main() {
    let prefix = unique_name("bench-meta");
    let names: Vec<String> = (0..TOPICS).map(|i| format!("{prefix}-{i:04}")).collect();
    for chunk in names.chunks(100) {
        let retention = [("retention.ms", "86400000")];
        create_topics(&harness::source(), chunk, 2, &retention).await;
    }
    // The broker's metadata lags CreateTopics a little; start once it shows them all.
    while harness::records::topic_names(&harness::source(), &prefix).await < TOPICS {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (services, task) =
        instance_task(json!({"sync": "metadata", "topics": {"regex": format!("^{prefix}")}})).await;

    let started = Instant::now();
    let first = metadata_sync::run(&services, TENANT, &task).await.unwrap();
    let initializing = started.elapsed();
    let started = Instant::now();
    metadata_sync::run(&services, TENANT, &task).await.unwrap();
    let scheduled = started.elapsed();
    println!("metadata sync over {TOPICS} source topics (2 partitions each):");
    println!(
        "  initializing run, {} topics created: {:.2} s",
        first.topics_created,
        initializing.as_secs_f64()
    );
    println!(
        "  scheduled run, nothing to change:  {:.2} s",
        scheduled.as_secs_f64()
    );
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    let mut on_target = 0;
    while on_target < TOPICS && Instant::now() < deadline {
        on_target = harness::records::topic_names(&harness::target(), &prefix).await;
    }
    assert_eq!(on_target, TOPICS);

    let source: AdminClient<DefaultClientContext> =
        harness::source().client_config().create().unwrap();
    let target: AdminClient<DefaultClientContext> =
        harness::target().client_config().create().unwrap();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    for chunk in refs.chunks(100) {
        source
            .delete_topics(chunk, &AdminOptions::new())
            .await
            .unwrap();
        target
            .delete_topics(chunk, &AdminOptions::new())
            .await
            .unwrap();
    }
}
