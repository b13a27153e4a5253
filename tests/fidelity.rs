//! Message fidelity end to end (DESIGN §3 "Message data"): `kafka-sync local` as a child
//! process copies between the two real clusters, and the target must hold exactly what
//! the source holds — null and empty keys and values, headers, timestamps, partitions,
//! records up to the topic's size limit, the Java client's key partitioning — in topics
//! the service created itself, never ones the broker auto-created.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use harness::copies::create_task_with;
use harness::local::{Local, binary};
use harness::records::{
    Record, base_timestamp, create_topic, create_topic_with, produce, produce_records, read_all,
    topic_configs,
};
use harness::unique_name;
use kafka_sync::kafka::ClusterAccess;
use kafka_sync::replicator::ORIGIN_HEADER;
use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::{Value, json};

const MIB: usize = 1024 * 1024;

/// Starts `kafka-sync local` in a home of its own and creates an instance task copying
/// metadata and messages of the source topics `regex` matches (so other tests' topics
/// are left alone), with `fields` added to the task, e.g. `{"same_partition": false}`;
/// `args` go to `kafka-sync local`.
async fn start_task(regex: &str, fields: Value, args: &[&str]) -> (Local, String) {
    let home = harness::scratch_dir().join(unique_name("fidelity"));
    let log = home.with_extension("log");
    let local = Local::start_with(&binary(), &home, &log, args).await;
    let id = create_task_with(&local, regex, fields).await;
    (local, id)
}

/// Waits until the task has copied `expected` records and has nothing left to copy.
async fn wait_copied(local: &Local, task_id: &str, expected: u64, limit: Duration) -> Value {
    local
        .wait_progress(task_id, limit, |p| {
            p["totals"]["lag"] == 0 && p["totals"]["messages"].as_u64() == Some(expected)
        })
        .await
}

/// A record to produce to `partition`; its offset is given by the broker.
fn record(
    partition: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[(&str, Option<&[u8]>)],
    timestamp: i64,
) -> Record {
    Record {
        partition,
        offset: 0,
        key: key.map(<[u8]>::to_vec),
        value: value.map(<[u8]>::to_vec),
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.map(<[u8]>::to_vec)))
            .collect(),
        timestamp: Some(timestamp),
    }
}

/// `expected`, partition by partition in the order produced, without offsets.
fn by_partition(expected: &[Record]) -> BTreeMap<i32, Vec<Record>> {
    let mut all: BTreeMap<i32, Vec<Record>> = BTreeMap::new();
    for r in expected {
        all.entry(r.partition).or_default().push(r.clone());
    }
    all
}

/// Asserts `read` holds exactly `expected` in every partition: same partition, same
/// order, equal key, value, headers and timestamp. A copy carries the origin header
/// once, after the record's own headers; only that header is ignored.
fn assert_exact(what: &str, expected: &[Record], read: &BTreeMap<i32, Vec<Record>>, copy: bool) {
    let expected = by_partition(expected);
    let nonempty: BTreeMap<i32, &Vec<Record>> = read
        .iter()
        .filter(|(_, r)| !r.is_empty())
        .map(|(p, r)| (*p, r))
        .collect();
    assert_eq!(
        nonempty.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "{what}: partitions holding records"
    );
    for (partition, wanted) in &expected {
        let got: Vec<Record> = read[partition]
            .iter()
            .map(|r| r.content_without(ORIGIN_HEADER))
            .collect();
        let wanted: Vec<Record> = wanted
            .iter()
            .map(|r| r.content_without(ORIGIN_HEADER))
            .collect();
        assert_eq!(got, wanted, "{what}: partition {partition}");
        if copy {
            for r in &read[partition] {
                let origins = r.headers.iter().filter(|(k, _)| k == ORIGIN_HEADER).count();
                assert_eq!(origins, 1, "{what}: origin headers at offset {}", r.offset);
                assert_eq!(r.headers.last().unwrap().0, ORIGIN_HEADER, "{what}");
            }
        }
    }
}

#[tokio::test]
async fn null_and_empty_keys_values_headers_and_timestamps_arrive_exactly() {
    let base = unique_name("fid-exact");
    let (plain, compacted) = (format!("{base}-plain"), format!("{base}-compact"));
    let source = harness::source();
    create_topic(&source, &plain, 2).await;
    // A null value on a compacted topic is a delete (tombstone). Segments roll only after
    // the default 7 days, so the cleaner deletes nothing during the test, on either side.
    create_topic_with(&source, &compacted, 2, &[("cleanup.policy", "compact")]).await;

    let t = base_timestamp();
    let binary: Vec<u8> = (0..=255).collect();
    // Order, a repeated name, a null value and an empty value: all must survive.
    let mixed: &[(&str, Option<&[u8]>)] = &[
        ("trace", Some(b"t-1")),
        ("dup", Some(b"first")),
        ("null", None),
        ("dup", Some(b"second")),
        ("empty", Some(b"")),
    ];
    // Timestamps are explicit CreateTimes and deliberately not in offset order.
    let plain_records = vec![
        record(0, None, Some(b"null key"), &[], t + 10),
        record(
            0,
            Some(b""),
            Some(b"empty key"),
            &[("h", Some(b"1"))],
            t + 5,
        ),
        record(0, Some(b"empty value"), Some(b""), mixed, t + 20),
        record(0, None, None, &[("only", None)], t),
        record(0, Some(b""), Some(b""), &[("", Some(b""))], t - 1_800_000),
        record(1, Some(b"null value"), None, mixed, t + 7),
        record(
            1,
            Some(&binary),
            Some(&binary),
            &[("bin", Some(&binary))],
            t + 3,
        ),
        record(1, Some(b"plain"), Some(b"no headers"), &[], t + 1),
    ];
    let compacted_records = vec![
        record(0, Some(b"a"), Some(b"1"), mixed, t + 1),
        record(0, Some(b"a"), None, &[], t + 2),
        record(
            0,
            Some(b"b"),
            Some(b""),
            &[("dup", None), ("dup", None)],
            t + 3,
        ),
        record(0, Some(b""), Some(b"empty key"), &[], t + 4),
        record(0, Some(b"b"), None, mixed, t + 5),
        record(1, Some(b"c"), None, &[("why", Some(b"deleted"))], t + 6),
    ];
    let written = produce_records(&source, &plain, &plain_records).await;
    assert_eq!(written.len(), plain_records.len());
    produce_records(&source, &compacted, &compacted_records).await;
    // The source holds what was meant, so the comparison below is of these exact cases
    // (a test producer turning empty into null would make source and target agree).
    assert_exact(
        "source plain",
        &plain_records,
        &read_all(&source, &plain).await,
        false,
    );
    assert_exact(
        "source compacted",
        &compacted_records,
        &read_all(&source, &compacted).await,
        false,
    );

    let (local, task_id) = start_task(&format!("^{base}-(plain|compact)$"), json!({}), &[]).await;
    let total = (plain_records.len() + compacted_records.len()) as u64;
    wait_copied(&local, &task_id, total, Duration::from_secs(120)).await;

    let target = harness::target();
    assert_exact(
        "target plain",
        &plain_records,
        &read_all(&target, &plain).await,
        true,
    );
    assert_exact(
        "target compacted",
        &compacted_records,
        &read_all(&target, &compacted).await,
        true,
    );
    // The null values on the target are deletes too.
    assert_eq!(
        topic_configs(&target, &compacted).await["cleanup.policy"],
        "compact"
    );
    local.kill();
}

/// Bytes that differ along the record, so a shifted or truncated copy cannot match.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i * 131 + i / 977) as u8 ^ seed).collect()
}

/// Copies `sizes`-byte records of a topic accepting 10 MiB, and asserts each arrives
/// byte-identical. Values are compared without printing them.
async fn assert_large_records_copied(prefix: &str, sizes: &[usize]) {
    let topic = unique_name(prefix);
    let source = harness::source();
    create_topic_with(&source, &topic, 1, &[("max.message.bytes", "10485760")]).await;
    let records: Vec<Record> = sizes
        .iter()
        .enumerate()
        .map(|(i, &size)| Record {
            partition: 0,
            offset: 0,
            key: Some(format!("{size}-bytes").into_bytes()),
            value: Some(pattern(size, i as u8)),
            headers: vec![("size".to_owned(), Some(size.to_string().into_bytes()))],
            timestamp: Some(base_timestamp() + i as i64),
        })
        .collect();
    produce_records(&source, &topic, &records).await;

    let (local, task_id) = start_task(&format!("^{topic}$"), json!({}), &[]).await;
    let progress = local
        .wait_progress(&task_id, Duration::from_secs(180), |p| {
            p["totals"]["lag"] == 0
                && p["totals"]["messages"].as_u64() == Some(records.len() as u64)
        })
        .await;
    let copies = read_all(&harness::target(), &topic)
        .await
        .remove(&0)
        .unwrap();
    assert_eq!(copies.len(), records.len(), "{progress}");
    for (original, copy) in records.iter().zip(&copies) {
        let (want, got) = (
            original.value.as_ref().unwrap(),
            copy.value.as_ref().unwrap(),
        );
        assert!(
            want == got,
            "{} bytes: the copy has {} bytes and differs",
            want.len(),
            got.len()
        );
        assert_eq!(copy.key, original.key);
        assert_eq!(copy.timestamp, original.timestamp);
        assert_eq!(copy.headers[0], original.headers[0]);
    }
    // Its target topic takes them too: initialization copied the limit.
    assert_eq!(
        topic_configs(&harness::target(), &topic).await["max.message.bytes"],
        "10485760"
    );
    local.kill();
}

#[tokio::test]
async fn records_of_2_and_8_mib_arrive_byte_identical() {
    assert_large_records_copied("fid-big", &[2 * MIB, 8 * MIB]).await;
}

/// DESIGN §3: every record the source topic accepts replicates, up to its
/// `max.message.bytes`: here 10 MiB less room for the batch and record framing.
#[tokio::test]
async fn a_record_just_under_the_topic_limit_arrives_byte_identical() {
    assert_large_records_copied("fid-limit", &[10 * MIB - 1024]).await;
}

/// Keys of every length from 0 to 40 bytes (murmur2 handles the last 1-3 bytes of a
/// key separately) and of arbitrary bytes, high ones included (signed in Java), plus
/// ordinary text keys.
fn partitioning_keys() -> Vec<Vec<u8>> {
    let mut state: u32 = 0x2545_f491;
    let mut next = move || {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (state >> 24) as u8
    };
    let mut keys: Vec<Vec<u8>> = (0..200)
        .map(|i| (0..i % 41).map(|_| next()).collect())
        .collect();
    keys.extend((0..100).map(|i| format!("user-{i}").into_bytes()));
    keys
}

/// A Java producer from Kafka's own client library: writes each key (one hex-encoded
/// key per line of stdin, an empty line being the empty key) as a record to the topic,
/// partitioned by the client's default partitioner.
const JAVA_PRODUCER: &str = r#"
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.HexFormat;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class KeyedProducer {
    public static void main(String[] args) throws Exception {
        Properties config = new Properties();
        config.put("bootstrap.servers", args[0]);
        config.put("key.serializer", ByteArraySerializer.class.getName());
        config.put("value.serializer", ByteArraySerializer.class.getName());
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(config)) {
            BufferedReader lines = new BufferedReader(new InputStreamReader(System.in));
            String line;
            while ((line = lines.readLine()) != null) {
                byte[] key = HexFormat.of().parseHex(line);
                producer.send(new ProducerRecord<>(args[1], key, key)).get();
            }
        }
    }
}
"#;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Produces `keys` to `topic` with the Java client (kafka-clients from the jars
/// `scripts/services.sh` fetched), run as a single-file source program.
async fn produce_with_java(access: &ClusterAccess, topic: &str, keys: &[Vec<u8>]) {
    let cache = std::env::var("KAFKA_SYNC_CACHE")
        .unwrap_or_else(|_| format!("{}/.cache/kafka-sync", std::env::var("HOME").unwrap()));
    let dir = harness::scratch_dir().join(unique_name("java"));
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("KeyedProducer.java");
    std::fs::write(&source, JAVA_PRODUCER).unwrap();
    let input: String = keys.iter().map(|k| hex(k) + "\n").collect();
    let (bootstrap, topic) = (access.bootstrap.clone(), topic.to_owned());
    let output = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = Command::new("java")
            .arg("-cp")
            .arg(format!("{cache}/lib/kafka/*"))
            .arg(&source)
            .args([&bootstrap, &topic])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "the Java producer failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Where each key's records are in `topic`, asserting a key never lands in two places.
fn partition_of_keys(read: &BTreeMap<i32, Vec<Record>>) -> BTreeMap<Vec<u8>, i32> {
    let mut placed = BTreeMap::new();
    for (partition, records) in read {
        for r in records {
            let key = r.key.clone().expect("every record here is keyed");
            let before = placed.insert(key.clone(), *partition);
            assert!(
                before.is_none_or(|p| p == *partition),
                "key {} is in partitions {before:?} and {partition}",
                hex(&key)
            );
        }
    }
    placed
}

#[tokio::test]
async fn without_same_partition_keys_land_where_the_java_client_puts_them() {
    let base = unique_name("fid-part");
    let (topic, java_topic) = (format!("{base}-copy"), format!("{base}-java"));
    let (source, target) = (harness::source(), harness::target());
    create_topic(&source, &topic, 3).await;
    // Five target partitions against three: only a key partitioner can fill them all.
    create_topic(&target, &topic, 5).await;
    create_topic(&target, &java_topic, 5).await;
    let keys = partitioning_keys();
    let records: Vec<Record> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| Record {
            partition: (i % 3) as i32,
            offset: 0,
            key: Some(key.clone()),
            value: Some(key.clone()),
            headers: Vec::new(),
            timestamp: Some(base_timestamp() + i as i64),
        })
        .collect();
    produce_records(&source, &topic, &records).await;
    produce_with_java(&target, &java_topic, &keys).await;

    let (local, task_id) =
        start_task(&format!("^{topic}$"), json!({"same_partition": false}), &[]).await;
    wait_copied(
        &local,
        &task_id,
        keys.len() as u64,
        Duration::from_secs(120),
    )
    .await;

    let java = read_all(&target, &java_topic).await;
    let copied = read_all(&target, &topic).await;
    assert_eq!(copied.values().map(Vec::len).sum::<usize>(), keys.len());
    let (java, copied) = (partition_of_keys(&java), partition_of_keys(&copied));
    assert_eq!(java.len(), copied.len(), "distinct keys");
    let differ: Vec<String> = java
        .iter()
        .filter(|(key, p)| copied.get(*key) != Some(p))
        .map(|(key, p)| format!("{} java {p} copy {:?}", hex(key), copied.get(key)))
        .collect();
    assert!(differ.is_empty(), "keys placed differently: {differ:?}");
    // Not vacuous: the keys spread over every target partition, past the source's three.
    let used: std::collections::BTreeSet<i32> = copied.values().copied().collect();
    assert_eq!(used.into_iter().collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
    local.kill();
}

/// The broker's `auto.create.topics.enable`.
async fn broker_auto_creates_topics(access: &ClusterAccess) -> bool {
    let broker = {
        let access = access.clone();
        tokio::task::spawn_blocking(move || {
            let consumer: BaseConsumer = access.client_config().create().unwrap();
            let metadata = consumer
                .fetch_metadata(None, Duration::from_secs(30))
                .unwrap();
            metadata.brokers()[0].id()
        })
        .await
        .unwrap()
    };
    let admin: AdminClient<DefaultClientContext> = access.client_config().create().unwrap();
    let described = admin
        .describe_configs(&[ResourceSpecifier::Broker(broker)], &AdminOptions::new())
        .await
        .unwrap();
    let config = described.into_iter().next().unwrap().unwrap();
    config
        .get("auto.create.topics.enable")
        .unwrap()
        .value
        .as_deref()
        == Some("true")
}

#[tokio::test]
async fn target_topics_are_created_by_initialization_never_auto_created_by_the_broker() {
    let target = harness::target();
    // Without it, a topic auto-created by a client's metadata request would get the
    // broker's defaults and nothing here could tell.
    assert!(
        broker_auto_creates_topics(&target).await,
        "the target broker must keep Kafka's default auto.create.topics.enable=true (scripts/services.sh)"
    );
    let base = unique_name("fid-auto");
    let (early, late) = (format!("{base}-early"), format!("{base}-late"));
    let source = harness::source();
    let configs = [("retention.ms", "259200000")];
    create_topic_with(&source, &early, 3, &configs).await;
    produce(&source, &early, 3, 0, 300, 10).await;
    // Metadata sync every 30 s: a topic appearing later is initialized at a later run,
    // and until then the workers know its partitions while the target has no topic for
    // them — the window in which any client's metadata request for it would have the
    // broker auto-create it with one partition.
    let (local, task_id) = start_task(
        &format!("^{base}-(early|late)$"),
        json!({}),
        &["--metadata-interval", "30"],
    )
    .await;
    wait_copied(&local, &task_id, 300, Duration::from_secs(120)).await;
    // Its records are there before the service notices the topic.
    create_topic_with(&source, &late, 3, &configs).await;
    produce(&source, &late, 3, 0, 300, 10).await;
    wait_copied(&local, &task_id, 600, Duration::from_secs(180)).await;

    for topic in [&early, &late] {
        let partitions = target
            .topic_partition_count(topic, Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(partitions, Some(3), "{topic}: broker defaults give 1");
        assert_eq!(
            topic_configs(&target, topic).await["retention.ms"],
            "259200000",
            "{topic}"
        );
        let copies = read_all(&target, topic).await;
        assert!(copies.values().all(|r| r.len() == 100), "{topic}");
    }
    local.kill();
}
